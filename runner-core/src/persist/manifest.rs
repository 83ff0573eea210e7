//! The per-actor manifest.

use serde::{Deserialize, Serialize};

/// What the object store holds for one actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version of this document.
    pub format: u32,
    /// The generation that last claimed (or wrote) the actor.
    pub generation: u32,
    /// Increases with every manifest write; keeps each write's content (and ETag) unique.
    pub seq: u64,
    /// The current database snapshot, if one was ever uploaded.
    pub snapshot: Option<SnapshotRef>,
}

/// A database snapshot object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRef {
    /// Object key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
}

impl Manifest {
    /// The manifest of an actor nobody has claimed yet.
    pub fn empty() -> Self {
        Self {
            format: 1,
            generation: 0,
            seq: 0,
            snapshot: None,
        }
    }
}

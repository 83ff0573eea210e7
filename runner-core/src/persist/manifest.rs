//! The per-actor manifest: the only object ever overwritten, and only by compare-and-swap.

use serde::{Deserialize, Serialize};

use crate::object_store::content_etag;

use super::error::PersistError;
use super::layout::{self, ActorPrefix};

/// Current manifest format. Format 1 (a checkpointed snapshot only) reads as format 2 with an
/// empty chain and no files; format 3 adds snapshots stored in parts ([`ObjectRef::parts`]).
pub(crate) const FORMAT: u32 = 3;

/// What the object store holds for one actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version of this document.
    pub format: u32,
    /// The generation that last claimed (or wrote) the actor.
    pub generation: u32,
    /// Increases with every manifest write; keeps each write's content (and ETag) unique.
    pub seq: u64,
    /// The database file the WAL chain applies to; `None` until the actor first ships.
    pub snapshot: Option<ObjectRef>,
    /// The WAL written since the snapshot, as an ordered chain of segments.
    #[serde(default)]
    pub wal: WalChain,
    /// The index of the actor's mounted files, if it ever had any.
    #[serde(default)]
    pub files: Option<ObjectRef>,
    /// Random per claim: names the one shipper that may write this manifest, so a write of
    /// its own that landed while its reply was lost is recognised as its own (empty in
    /// manifests written before claims were named).
    #[serde(default)]
    pub claim: String,
}

/// An immutable object and how to check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Object key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    /// Stored as this many parts, `{key}.part{i}`, each [`SNAPSHOT_PART`] bytes but the last,
    /// so neither the upload nor the download holds the whole object; `None`: one object at
    /// `key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<u32>,
}

/// The size of one part of a snapshot stored in parts. (Small in unit tests, so their
/// databases take several.)
pub(crate) const SNAPSHOT_PART: u64 = if cfg!(test) { 64 << 10 } else { 16 << 20 };

impl ObjectRef {
    /// One object at `key`.
    pub fn whole(key: String, size: u64, sha256: String) -> Self {
        Self {
            key,
            size,
            sha256,
            parts: None,
        }
    }

    /// The key of part `index`.
    pub fn part_key(&self, index: u32) -> String {
        layout::part_key(&self.key, index)
    }

    /// Every key the object is stored under.
    pub fn keys(&self) -> Vec<String> {
        match self.parts {
            None => vec![self.key.clone()],
            Some(parts) => (0..parts).map(|i| self.part_key(i)).collect(),
        }
    }
}

/// WAL segments since the snapshot. Segment `i` holds WAL bytes that continue segment `i - 1`
/// (segment 0 starts with the WAL header), so their concatenation is the WAL file.
///
/// The chain is described, not listed, so the manifest stays a few hundred bytes however many
/// segments there are: keys derive from the chain id, the index and the generation that wrote
/// the segment (`writers`), and one rolling hash covers them all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WalChain {
    /// Names the chain; a new chain starts with every new snapshot.
    pub id: String,
    /// Number of segments.
    pub segments: u32,
    /// Total WAL bytes (the WAL file length after replay).
    pub len: u64,
    /// `sha256(previous hash ‖ sha256(segment))` over the segments in order, hex; empty when
    /// there are none.
    pub sha256: String,
    /// Which generation wrote which segments: each entry covers indices from `first` to the
    /// next entry's `first`. Generations never share a key, so a stale writer cannot
    /// overwrite a segment the current one wrote.
    pub writers: Vec<ChainWriter>,
}

/// The first segment index written by one generation under one upload tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainWriter {
    /// First segment index.
    pub first: u32,
    /// The generation.
    pub generation: u32,
    /// Part of every key this writer uploads. A shipper draws a new tag after a failed round,
    /// so a retry never rewrites a key that a manifest whose write was lost in flight (but
    /// landed) may name. Absent in chains written before tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

impl WalChain {
    /// The object key of segment `index` of the actor at `prefix`.
    pub fn segment_key(&self, prefix: &ActorPrefix, index: u32) -> Option<String> {
        let writer = self.writers.iter().rev().find(|w| w.first <= index)?;
        Some(prefix.segment(&self.id, index, writer.generation, writer.tag.as_deref()))
    }

    /// Appends a segment written by `generation` under upload `tag`; returns its key.
    pub fn push(
        &mut self,
        prefix: &ActorPrefix,
        generation: u32,
        tag: &str,
        bytes: &[u8],
    ) -> String {
        let last = self.writers.last();
        if last.map(|w| (w.generation, w.tag.as_deref())) != Some((generation, Some(tag))) {
            self.writers.push(ChainWriter {
                first: self.segments,
                generation,
                tag: Some(tag.to_owned()),
            });
        }
        let key = prefix.segment(&self.id, self.segments, generation, Some(tag));
        self.sha256 = chain_hash(&self.sha256, bytes);
        self.segments += 1;
        self.len += bytes.len() as u64;
        key
    }
}

/// The rolling hash after appending `segment`.
pub(crate) fn chain_hash(previous: &str, segment: &[u8]) -> String {
    content_etag(format!("{previous}{}", content_etag(segment)).as_bytes())
}

/// A new random upload tag (or claim id): 16 hex digits.
pub(crate) fn random_tag() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap_or_else(|_| {
        // No entropy source: the clock still makes a collision with a lost write unlikely.
        let nanos = crate::rt::SystemTime::now()
            .duration_since(crate::rt::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = (nanos as u64).to_le_bytes();
    });
    hex::encode(bytes)
}

impl Manifest {
    /// The manifest's JSON, as stored under `key`.
    pub(crate) fn encode(&self, key: &str) -> Result<bytes::Bytes, PersistError> {
        serde_json::to_vec(self)
            .map(bytes::Bytes::from)
            .map_err(|err| PersistError::Corrupt {
                key: key.to_owned(),
                reason: err.to_string(),
            })
    }

    /// The manifest of an actor nobody has claimed yet.
    pub fn empty() -> Self {
        Self {
            format: FORMAT,
            generation: 0,
            seq: 0,
            snapshot: None,
            wal: WalChain::default(),
            files: None,
            claim: String::new(),
        }
    }

    /// Identifies the persisted content (not who holds it): equal ids mean equal data.
    pub fn content_id(&self) -> String {
        let snapshot = self.snapshot.as_ref().map_or("", |s| s.sha256.as_str());
        let files = self.files.as_ref().map_or("", |f| f.sha256.as_str());
        content_etag(
            format!(
                "{snapshot}|{}|{}|{}|{files}",
                self.wal.id, self.wal.len, self.wal.sha256
            )
            .as_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_keys_follow_the_generation_that_wrote_them() {
        let p = &ActorPrefix::from_base("p");
        let mut chain = WalChain {
            id: "c1".into(),
            ..WalChain::default()
        };
        assert_eq!(
            chain.push(p, 1, "t1", b"a"),
            "p/wal/c1/00000000-g0000000001-t1"
        );
        chain.push(p, 1, "t1", b"b");
        chain.push(p, 1, "t2", b"c");
        chain.push(p, 3, "t3", b"d");
        assert_eq!(chain.segments, 4);
        assert_eq!(chain.len, 4);
        assert_eq!(chain.writers.len(), 3);
        assert_eq!(
            chain.segment_key(p, 1).unwrap(),
            "p/wal/c1/00000001-g0000000001-t1"
        );
        assert_eq!(
            chain.segment_key(p, 2).unwrap(),
            "p/wal/c1/00000002-g0000000001-t2"
        );
        assert_eq!(
            chain.segment_key(p, 3).unwrap(),
            "p/wal/c1/00000003-g0000000003-t3"
        );
        let mut other = chain.clone();
        other.push(p, 3, "t3", b"e");
        assert_ne!(chain.sha256, other.sha256);
    }

    #[test]
    fn chains_written_before_tags_keep_their_keys() {
        let json = r#"{"id":"c1","segments":2,"len":2,"sha256":"x",
            "writers":[{"first":0,"generation":4}]}"#;
        let chain: WalChain = serde_json::from_str(json).unwrap();
        let p = &ActorPrefix::from_base("p");
        assert_eq!(
            chain.segment_key(p, 1).unwrap(),
            "p/wal/c1/00000001-g0000000004"
        );
    }
}

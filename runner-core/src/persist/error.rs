//! Why restoring or persisting an actor failed.

use std::path::Path;
use std::sync::Arc;

use crate::object_store::ObjectStoreError;
use crate::rt::BlockingError;

use super::wal::WalError;

/// Why restoring or persisting an actor failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistError {
    /// A newer generation owns the actor; this one must not write.
    #[error("actor `{actor_id}` is fenced: generation {ours} lost it to generation {theirs}")]
    Fenced {
        /// The actor.
        actor_id: String,
        /// This instance's generation.
        ours: u32,
        /// The generation that holds the manifest (0 if unknown).
        theirs: u32,
    },
    /// The object store failed.
    #[error("object store: {0}")]
    Store(#[from] ObjectStoreError),
    /// A stored object does not match what the manifest says.
    #[error("`{key}` is corrupt: {reason}")]
    Corrupt {
        /// The object.
        key: String,
        /// What did not match.
        reason: String,
    },
    /// Local filesystem failure.
    #[error("{action} `{path}`: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// SQLite refused what shipping needs of the local database.
    #[error("local database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A checkpoint before a new snapshot did not empty the WAL.
    #[error("local database: checkpoint left {wal_len} WAL bytes (busy = {busy})")]
    Checkpoint {
        /// WAL bytes left.
        wal_len: u64,
        /// SQLite's busy flag.
        busy: i64,
    },
    /// The local WAL is not the log the chain continues.
    #[error("local database: {0}")]
    Wal(#[from] WalError),
    /// The stored manifest kept changing under this writer's own lost writes.
    #[error("shipping actor data failed: the manifest kept moving for {rounds} rounds")]
    ManifestKeptMoving {
        /// Upload rounds tried.
        rounds: u32,
    },
    /// Blocking work (a scan of the files) could not run.
    #[error("shipping actor data failed: {0}")]
    Blocking(#[from] BlockingError),
    /// The ship a flush waited for failed (shared by every flush it answered).
    #[error("shipping actor data failed: {0}")]
    Shipped(#[source] Arc<PersistError>),
    /// The shipper task ended (the runtime is shutting down).
    #[error("the actor's shipper has stopped")]
    ShipperGone,
    /// The actor's files add up to more than the quota; its writes are not durable until it
    /// removes some.
    #[error(
        "the actor's files are over their quota of {quota} bytes (RUNNER_ACTOR_MAX_FILES_MB); remove files to persist again"
    )]
    FilesQuota {
        /// The quota in bytes.
        quota: u64,
    },
}

/// Maps an I/O error on `path` during `action`.
pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PersistError {
    let path = path.display().to_string();
    move |source| PersistError::Io {
        action,
        path,
        source,
    }
}

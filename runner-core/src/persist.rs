//! Actor data in object storage between invocations, fenced by generation.
//!
//! Layout under `{prefix}/{namespace}/{actor_id}/`:
//! - `manifest.json`: the snapshot, the WAL chain after it, the files index, and the
//!   generation that last claimed the actor. Only ever advanced by compare-and-swap.
//! - `snapshots/{generation}-{seq}.db`: a SQLite database file, the base of one WAL chain.
//! - `wal/{chain}/{index}-g{generation}`: WAL bytes, in commit order; concatenated they are
//!   the WAL file that goes with the snapshot.
//! - `files/blobs/{sha256}` and `files/index-{sha256}.json`: the mounted files.
//!
//! On start a generation **claims** the actor: it reads the manifest, refuses to run if a newer
//! generation holds it, restores the local copy, and writes a manifest naming itself with
//! `If-Match`. Every later write is `If-Match` on the manifest it last wrote, so once a newer
//! generation has claimed the actor, an older one (a zombie from an earlier lifespan) fails
//! with [`PersistError::Fenced`] instead of overwriting; the objects it wrote before the
//! manifest write are never referenced. While the actor runs, its [`Replica`] ships WAL
//! segments ([`DurabilityMode`]); when the chain outgrows the snapshot it is folded into a
//! new snapshot and the superseded objects are deleted.

mod budget;
mod files;
mod manifest;
mod replica;
mod restore;
mod retry;
mod wal;

use std::path::Path;
use std::sync::Arc;

use crate::object_store::{ObjectStore, ObjectStoreError, PutMode};
use crate::storage::ActorKey;

pub use budget::RequestBudget;
pub use manifest::{ChainWriter, Manifest, ObjectRef, WalChain};
pub use replica::{DurabilityMode, Replica, ReplicaStatus};

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
    /// The local database is not in the state shipping relies on.
    #[error("local database: {0}")]
    Sqlite(String),
    /// Shipping failed (the message of the underlying error).
    #[error("shipping actor data failed: {0}")]
    Ship(String),
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

/// Claims of one start that may lose to an older generation's write before giving up.
const CLAIM_ATTEMPTS: u32 = 4;

/// How actors are persisted.
#[derive(Debug, Clone, Copy)]
pub struct PersistOptions {
    /// When writes reach the store while an actor runs.
    pub mode: DurabilityMode,
    /// The WAL chain is folded into a new snapshot once it holds this many bytes and more
    /// than the snapshot's size (so compaction uploads at most about one byte per WAL byte).
    pub compact_min_wal_bytes: u64,
    /// The object-store requests one claim of an actor may make, where the platform caps an
    /// invocation's outbound requests; `None`: no cap.
    pub request_budget: Option<RequestBudget>,
    /// The most the actor's files may add up to (`RUNNER_ACTOR_MAX_FILES_MB`); one file is at
    /// most 64 MiB.
    pub max_files_bytes: u64,
}

impl Default for PersistOptions {
    fn default() -> Self {
        Self {
            mode: DurabilityMode::Strict,
            compact_min_wal_bytes: 4 << 20,
            request_budget: None,
            max_files_bytes: 1 << 30,
        }
    }
}

/// Moves actor data between the local data directory and an object store.
pub struct Persistence {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    options: PersistOptions,
}

impl std::fmt::Debug for Persistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persistence")
            .field("prefix", &self.prefix)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Persistence {
    /// Persists under `prefix` (no leading or trailing slash; may be empty) in `store`.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: impl Into<String>) -> Self {
        Self {
            store,
            prefix: prefix.into().trim_matches('/').to_owned(),
            options: PersistOptions::default(),
        }
    }

    /// Uses `options` instead of the defaults.
    pub fn with_options(mut self, options: PersistOptions) -> Self {
        self.options = options;
        self
    }

    /// The options in use.
    pub fn options(&self) -> PersistOptions {
        self.options
    }

    fn base(&self, key: &ActorKey) -> String {
        let actor = format!("{}/{}", key.namespace, key.actor_id);
        if self.prefix.is_empty() {
            actor
        } else {
            format!("{}/{actor}", self.prefix)
        }
    }

    fn manifest_key(&self, key: &ActorKey) -> String {
        format!("{}/manifest.json", self.base(key))
    }

    /// Makes `dir` hold the actor's latest persisted data, claims the actor for `generation`,
    /// and starts shipping. `dir` is the actor's directory ([`crate::storage::ActorStore`]).
    pub async fn restore(
        &self,
        key: &ActorKey,
        generation: u32,
        dir: &Path,
    ) -> Result<Replica, PersistError> {
        let base = self.base(key);
        // Everything this claim sends, restore included, counts against its budget.
        let (store, used) = match self.options.request_budget {
            Some(budget) => {
                let budgeted = budget::Budgeted::new(self.store.clone(), budget);
                let used = budgeted.used();
                (
                    Arc::new(budgeted) as Arc<dyn ObjectStore>,
                    Some((budget, used)),
                )
            }
            None => (self.store.clone(), None),
        };
        let manifest_key = self.manifest_key(key);
        let paths = restore::LocalPaths::new(dir);
        let mut attempt = 1;
        // Claim first, then download: from the claim on, an older generation's writes fail, so
        // the restore cannot lose a race to one that keeps writing.
        let (claimed, etag) = loop {
            let (manifest, etag) = read_manifest(&store, &manifest_key).await?;
            if manifest.generation > generation {
                return Err(fenced(key, generation, manifest.generation));
            }
            let claimed = Manifest {
                generation,
                seq: manifest.seq + 1,
                claim: manifest::random_tag(),
                ..manifest
            };
            let body = claimed.encode(&manifest_key)?;
            let mode = etag.map_or(PutMode::IfAbsent, PutMode::IfMatch);
            match store.put(&manifest_key, body, mode).await {
                Ok(etag) => break (claimed, etag),
                Err(ObjectStoreError::PreconditionFailed { .. }) => {
                    let theirs = read_manifest(&store, &manifest_key)
                        .await
                        .map_or(0, |(m, _)| m.generation);
                    // An older generation (a zombie finishing a write) moved the manifest
                    // between our read and our claim: its write stands, ours goes on top.
                    if theirs > generation || attempt == CLAIM_ATTEMPTS {
                        return Err(fenced(key, generation, theirs));
                    }
                    tracing::info!(
                        actor_id = %key.actor_id,
                        generation,
                        theirs,
                        "an older generation wrote during the claim; claiming again"
                    );
                    attempt += 1;
                }
                Err(err) => return Err(err.into()),
            }
        };
        tracing::debug!(actor_id = %key.actor_id, generation, "actor claimed");
        let files = restore::materialize(&store, &base, &claimed, &paths).await?;
        replica::spawn(replica::ShipperInit {
            store,
            budget: used,
            actor_id: key.actor_id.clone(),
            base,
            generation,
            manifest: claimed,
            etag,
            files,
            dir: dir.to_owned(),
            mode: self.options.mode,
            compact_min_wal_bytes: self.options.compact_min_wal_bytes,
            max_files_bytes: self.options.max_files_bytes,
        })
    }

    /// Downloads the actor's latest persisted data into `dir` without claiming it (for
    /// inspection and tests): `dir/actor.db` with its WAL, and `dir/files/`.
    pub async fn export(&self, key: &ActorKey, dir: &Path) -> Result<Manifest, PersistError> {
        let (manifest, _) = self.read_manifest(key).await?;
        let paths = restore::LocalPaths::new(dir);
        restore::materialize(&self.store, &self.base(key), &manifest, &paths).await?;
        Ok(manifest)
    }

    /// Deletes every object of the actor (on destroy).
    pub async fn destroy(&self, key: &ActorKey) -> Result<(), PersistError> {
        let prefix = format!("{}/", self.base(key));
        for object in self.store.list(&prefix).await? {
            self.store.delete(&object.key).await?;
        }
        Ok(())
    }

    /// The manifest and its ETag, or an empty manifest if the actor was never persisted.
    pub async fn read_manifest(
        &self,
        key: &ActorKey,
    ) -> Result<(Manifest, Option<String>), PersistError> {
        read_manifest(&self.store, &self.manifest_key(key)).await
    }
}

/// The manifest at `manifest_key` and its ETag, or an empty manifest if there is none.
async fn read_manifest(
    store: &Arc<dyn ObjectStore>,
    manifest_key: &str,
) -> Result<(Manifest, Option<String>), PersistError> {
    match retry::retry("get manifest", || store.get(manifest_key)).await? {
        None => Ok((Manifest::empty(), None)),
        Some(object) => {
            let manifest: Manifest =
                serde_json::from_slice(&object.bytes).map_err(|err| PersistError::Corrupt {
                    key: manifest_key.to_owned(),
                    reason: err.to_string(),
                })?;
            if manifest.format > manifest::FORMAT {
                return Err(PersistError::Corrupt {
                    key: manifest_key.to_owned(),
                    reason: format!(
                        "manifest format {} is newer than the supported {}",
                        manifest.format,
                        manifest::FORMAT
                    ),
                });
            }
            Ok((manifest, Some(object.etag)))
        }
    }
}

fn fenced(key: &ActorKey, ours: u32, theirs: u32) -> PersistError {
    PersistError::Fenced {
        actor_id: key.actor_id.clone(),
        ours,
        theirs,
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PersistError {
    let path = path.display().to_string();
    move |source| PersistError::Io {
        action,
        path,
        source,
    }
}

/// Deletes a superseded object; a failure only leaves garbage behind, never a wrong state.
async fn delete_quietly(store: &Arc<dyn ObjectStore>, key: &str) {
    if let Err(err) = store.delete(key).await {
        tracing::warn!(%key, error = %err, "could not delete a superseded object");
    }
}

#[cfg(any(test, feature = "testing"))]
pub mod scenarios;
#[cfg(test)]
mod tests;

//! Actor data in object storage between invocations, fenced by generation.
//!
//! The layout of an actor's objects is spelled in one place, [`ActorPrefix`] (`layout.rs`).
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
mod cell;
mod error;
mod files;
mod layout;
mod local;
mod manifest;
mod objects;
mod replica;
mod restore;
mod retry;
mod wal;

use std::path::Path;
use std::sync::Arc;

use crate::object_store::ObjectStore;
use crate::storage::ActorKey;

use budget::BudgetMeter;
use cell::ManifestCell;

pub use budget::RequestBudget;
pub use error::PersistError;
pub use layout::ActorPrefix;
pub use manifest::{ChainWriter, Manifest, ObjectRef, WalChain};
pub use replica::{DurabilityMode, Replica, ReplicaStatus};
pub use wal::WalError;

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
#[derive(Clone)]
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

    /// Where `key`'s objects live.
    pub fn prefix_of(&self, key: &ActorKey) -> ActorPrefix {
        ActorPrefix::new(&self.prefix, key)
    }

    /// Makes `dir` hold the actor's latest persisted data, claims the actor for `generation`,
    /// and starts shipping. `dir` is the actor's directory ([`crate::storage::ActorStore`]).
    pub async fn restore(
        &self,
        key: &ActorKey,
        generation: u32,
        dir: &Path,
    ) -> Result<Replica, PersistError> {
        let prefix = self.prefix_of(key);
        // Everything this claim sends, restore included, counts against its budget.
        let (store, meter) = match self.options.request_budget {
            Some(budget) => {
                let budgeted = budget::Budgeted::new(self.store.clone(), budget);
                let meter = budgeted.meter();
                (Arc::new(budgeted) as Arc<dyn ObjectStore>, meter)
            }
            None => (self.store.clone(), BudgetMeter::unlimited()),
        };
        // Claim first, then download: from the claim on, an older generation's writes fail, so
        // the restore cannot lose a race to one that keeps writing.
        let mut cell = ManifestCell::new(store.clone(), &prefix, &key.actor_id);
        let claimed = cell.claim(generation).await?;
        tracing::debug!(actor_id = %key.actor_id, generation, "actor claimed");
        let paths = local::LocalPaths::new(dir);
        let files = restore::materialize(&store, &prefix, &claimed, &paths).await?;
        replica::spawn(replica::ShipperInit {
            store,
            meter,
            actor_id: key.actor_id.clone(),
            prefix,
            cell,
            generation,
            manifest: claimed,
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
        let paths = local::LocalPaths::new(dir);
        restore::materialize(&self.store, &self.prefix_of(key), &manifest, &paths).await?;
        Ok(manifest)
    }

    /// Deletes every object of the actor (on destroy).
    pub async fn destroy(&self, key: &ActorKey) -> Result<(), PersistError> {
        for object in self.store.list(&self.prefix_of(key).everything()).await? {
            self.store.delete(&object.key).await?;
        }
        Ok(())
    }

    /// The manifest and its ETag, or an empty manifest if the actor was never persisted.
    pub async fn read_manifest(
        &self,
        key: &ActorKey,
    ) -> Result<(Manifest, Option<String>), PersistError> {
        ManifestCell::new(self.store.clone(), &self.prefix_of(key), &key.actor_id)
            .read()
            .await
    }
}

#[cfg(any(test, feature = "testing"))]
pub mod scenarios;
#[cfg(test)]
mod tests;

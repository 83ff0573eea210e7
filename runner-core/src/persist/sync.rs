//! Restore on start, flush on stop, destroy: the generation-fenced protocol.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::object_store::{ObjectStore, ObjectStoreError, PutMode, content_etag};
use crate::storage::ActorKey;

use super::manifest::{Manifest, SnapshotRef};

const DB_FILE: &str = "actor.db";
/// Records which snapshot the local database was restored from or flushed as.
const LOCAL_MARKER: &str = ".snapshot-sha256";

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
    /// Flush without a prior restore by the same generation.
    #[error("actor `{0}` was not restored by this runner before being flushed")]
    NotClaimed(String),
}

struct Claim {
    generation: u32,
    manifest: Manifest,
    etag: String,
}

/// Moves actor databases between the local data directory and an object store.
pub struct Persistence {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    claims: Mutex<HashMap<ActorKey, Claim>>,
}

impl std::fmt::Debug for Persistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persistence")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Persistence {
    /// Persists under `prefix` (no leading or trailing slash; may be empty) in `store`.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: impl Into<String>) -> Self {
        Self {
            store,
            prefix: prefix.into().trim_matches('/').to_owned(),
            claims: Mutex::new(HashMap::new()),
        }
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

    /// Claims the actor for `generation` and makes `dir/actor.db` the latest persisted database
    /// (downloading it unless the local copy already is that snapshot).
    pub async fn restore(
        &self,
        key: &ActorKey,
        generation: u32,
        dir: &Path,
    ) -> Result<(), PersistError> {
        let (manifest, etag) = self.read_manifest(key).await?;
        if manifest.generation > generation {
            return Err(fenced(key, generation, manifest.generation));
        }
        if let Some(snapshot) = &manifest.snapshot {
            self.ensure_local(dir, snapshot).await?;
        }
        let claimed = Manifest {
            generation,
            seq: manifest.seq + 1,
            ..manifest
        };
        let mode = etag.map_or(PutMode::IfAbsent, PutMode::IfMatch);
        let etag = self.write_manifest(key, &claimed, mode, generation).await?;
        self.lock().insert(
            key.clone(),
            Claim {
                generation,
                manifest: claimed,
                etag,
            },
        );
        tracing::debug!(actor_id = %key.actor_id, generation, "actor claimed");
        Ok(())
    }

    /// Uploads `dir/actor.db` (closed and checkpointed) as a new snapshot and advances the
    /// manifest, unless a newer generation has claimed the actor meanwhile.
    pub async fn flush(
        &self,
        key: &ActorKey,
        generation: u32,
        dir: &Path,
    ) -> Result<(), PersistError> {
        let (previous, etag) = {
            let claims = self.lock();
            let claim = claims
                .get(key)
                .filter(|c| c.generation == generation)
                .ok_or_else(|| PersistError::NotClaimed(key.actor_id.clone()))?;
            (claim.manifest.clone(), claim.etag.clone())
        };
        let path = dir.join(DB_FILE);
        let bytes = Bytes::from(std::fs::read(&path).map_err(io("read database", &path))?);
        let sha256 = content_etag(&bytes);
        let seq = previous.seq + 1;
        let snapshot = SnapshotRef {
            key: format!("{}/snapshots/{generation:010}-{seq:012}.db", self.base(key)),
            size: bytes.len() as u64,
            sha256: sha256.clone(),
        };
        if previous
            .snapshot
            .as_ref()
            .is_some_and(|s| s.sha256 == sha256)
        {
            tracing::debug!(actor_id = %key.actor_id, "database unchanged since the last snapshot");
            return Ok(());
        }
        self.store
            .put(&snapshot.key, bytes, PutMode::IfAbsent)
            .await?;
        let next = Manifest {
            generation,
            seq,
            snapshot: Some(snapshot),
            ..previous.clone()
        };
        let new_etag = self
            .write_manifest(key, &next, PutMode::IfMatch(etag), generation)
            .await?;
        write_marker(dir, &sha256)?;
        if let Some(old) = previous.snapshot {
            // Superseded; a failure only leaves garbage behind, never a wrong state.
            if let Err(err) = self.store.delete(&old.key).await {
                tracing::warn!(key = %old.key, error = %err, "could not delete superseded snapshot");
            }
        }
        self.lock().insert(
            key.clone(),
            Claim {
                generation,
                manifest: next,
                etag: new_etag,
            },
        );
        tracing::debug!(actor_id = %key.actor_id, generation, seq, "actor flushed");
        Ok(())
    }

    /// Forgets this runner's claim after the actor stopped.
    pub fn release(&self, key: &ActorKey, generation: u32) {
        let mut claims = self.lock();
        if claims.get(key).is_some_and(|c| c.generation == generation) {
            claims.remove(key);
        }
    }

    /// Deletes every object of the actor (on destroy).
    pub async fn destroy(&self, key: &ActorKey) -> Result<(), PersistError> {
        let prefix = format!("{}/", self.base(key));
        for object in self.store.list(&prefix).await? {
            self.store.delete(&object.key).await?;
        }
        self.lock().remove(key);
        Ok(())
    }

    /// The manifest and its ETag, or an empty manifest if the actor was never persisted.
    pub async fn read_manifest(
        &self,
        key: &ActorKey,
    ) -> Result<(Manifest, Option<String>), PersistError> {
        let manifest_key = self.manifest_key(key);
        match self.store.get(&manifest_key).await? {
            None => Ok((Manifest::empty(), None)),
            Some(object) => {
                let manifest =
                    serde_json::from_slice(&object.bytes).map_err(|err| PersistError::Corrupt {
                        key: manifest_key,
                        reason: err.to_string(),
                    })?;
                Ok((manifest, Some(object.etag)))
            }
        }
    }

    async fn write_manifest(
        &self,
        key: &ActorKey,
        manifest: &Manifest,
        mode: PutMode,
        generation: u32,
    ) -> Result<String, PersistError> {
        let body = serde_json::to_vec(manifest).map_err(|err| PersistError::Corrupt {
            key: self.manifest_key(key),
            reason: err.to_string(),
        })?;
        match self
            .store
            .put(&self.manifest_key(key), Bytes::from(body), mode)
            .await
        {
            Ok(etag) => Ok(etag),
            Err(ObjectStoreError::PreconditionFailed { .. }) => {
                let theirs = self
                    .read_manifest(key)
                    .await
                    .map(|(m, _)| m.generation)
                    .unwrap_or(0);
                Err(fenced(key, generation, theirs))
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn ensure_local(&self, dir: &Path, snapshot: &SnapshotRef) -> Result<(), PersistError> {
        let db = dir.join(DB_FILE);
        let marker = std::fs::read_to_string(dir.join(LOCAL_MARKER)).unwrap_or_default();
        if marker.trim() == snapshot.sha256 && db.exists() {
            // Warm instance, same actor again: the local copy is this snapshot (or newer, if the
            // last run here ended without a flush).
            return Ok(());
        }
        let object = self
            .store
            .get(&snapshot.key)
            .await?
            .ok_or_else(|| PersistError::Corrupt {
                key: snapshot.key.clone(),
                reason: "the manifest names a snapshot that does not exist".into(),
            })?;
        let sha256 = content_etag(&object.bytes);
        if sha256 != snapshot.sha256 || object.bytes.len() as u64 != snapshot.size {
            return Err(PersistError::Corrupt {
                key: snapshot.key.clone(),
                reason: format!(
                    "expected {} bytes with sha256 {}, got {} bytes with {sha256}",
                    snapshot.size,
                    snapshot.sha256,
                    object.bytes.len()
                ),
            });
        }
        std::fs::create_dir_all(dir).map_err(io("create actor directory", dir))?;
        let tmp = dir.join(format!("{DB_FILE}.restoring"));
        std::fs::write(&tmp, &object.bytes).map_err(io("write restored database", &tmp))?;
        for stale in [format!("{DB_FILE}-wal"), format!("{DB_FILE}-shm")] {
            let _ = std::fs::remove_file(dir.join(stale));
        }
        std::fs::rename(&tmp, &db).map_err(io("install restored database", &db))?;
        write_marker(dir, &snapshot.sha256)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ActorKey, Claim>> {
        self.claims
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn fenced(key: &ActorKey, ours: u32, theirs: u32) -> PersistError {
    PersistError::Fenced {
        actor_id: key.actor_id.clone(),
        ours,
        theirs,
    }
}

fn write_marker(dir: &Path, sha256: &str) -> Result<(), PersistError> {
    let path = dir.join(LOCAL_MARKER);
    std::fs::write(&path, sha256).map_err(io("write snapshot marker", &path))
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PersistError {
    let path = path.display().to_string();
    move |source| PersistError::Io {
        action,
        path,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object_store::MemoryStore;

    fn key() -> ActorKey {
        ActorKey {
            namespace: "ns".into(),
            actor_id: "a1".into(),
        }
    }

    fn write_db(dir: &Path, content: &[u8]) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(DB_FILE), content).unwrap();
    }

    #[tokio::test]
    async fn a_new_instance_restores_what_the_last_one_flushed() {
        let store: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = Persistence::new(store.clone(), "actors");
        first.restore(&key(), 1, a.path()).await.unwrap();
        write_db(a.path(), b"state after generation 1");
        first.flush(&key(), 1, a.path()).await.unwrap();

        let second = Persistence::new(store, "actors");
        second.restore(&key(), 2, b.path()).await.unwrap();
        assert_eq!(
            std::fs::read(b.path().join(DB_FILE)).unwrap(),
            b"state after generation 1"
        );
    }

    #[tokio::test]
    async fn a_zombie_generation_cannot_overwrite_a_newer_one() {
        let store: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
        let (old_dir, new_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let old = Persistence::new(store.clone(), "");
        old.restore(&key(), 1, old_dir.path()).await.unwrap();

        // Generation 2 starts elsewhere while generation 1 still runs.
        let new = Persistence::new(store.clone(), "");
        new.restore(&key(), 2, new_dir.path()).await.unwrap();
        write_db(new_dir.path(), b"generation 2");
        new.flush(&key(), 2, new_dir.path()).await.unwrap();

        write_db(old_dir.path(), b"zombie write");
        let err = old.flush(&key(), 1, old_dir.path()).await.unwrap_err();
        assert!(
            matches!(
                err,
                PersistError::Fenced {
                    ours: 1,
                    theirs: 2,
                    ..
                }
            ),
            "{err}"
        );
        let (manifest, _) = new.read_manifest(&key()).await.unwrap();
        assert_eq!(manifest.generation, 2);
        let current = store
            .get(&manifest.snapshot.unwrap().key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&current.bytes[..], b"generation 2");

        // And an old generation cannot even start once a newer one has claimed the actor.
        let late = Persistence::new(store, "");
        let err = late.restore(&key(), 1, old_dir.path()).await.unwrap_err();
        assert!(
            matches!(
                err,
                PersistError::Fenced {
                    ours: 1,
                    theirs: 2,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_corrupt_snapshot_is_refused() {
        let store: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
        let dir = tempfile::tempdir().unwrap();
        let p = Persistence::new(store.clone(), "");
        p.restore(&key(), 1, dir.path()).await.unwrap();
        write_db(dir.path(), b"good");
        p.flush(&key(), 1, dir.path()).await.unwrap();
        let (manifest, _) = p.read_manifest(&key()).await.unwrap();
        let snapshot = manifest.snapshot.unwrap();
        store
            .put(
                &snapshot.key,
                Bytes::from_static(b"evil"),
                PutMode::Overwrite,
            )
            .await
            .unwrap();

        let fresh = tempfile::tempdir().unwrap();
        let err = Persistence::new(store, "")
            .restore(&key(), 2, fresh.path())
            .await
            .unwrap_err();
        assert!(matches!(err, PersistError::Corrupt { .. }), "{err}");
    }

    #[tokio::test]
    async fn unchanged_data_costs_no_upload_and_destroy_removes_everything() {
        let store: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
        let dir = tempfile::tempdir().unwrap();
        let p = Persistence::new(store.clone(), "x");
        p.restore(&key(), 1, dir.path()).await.unwrap();
        write_db(dir.path(), b"v1");
        p.flush(&key(), 1, dir.path()).await.unwrap();
        let objects = store.list("x/").await.unwrap();
        p.flush(&key(), 1, dir.path()).await.unwrap();
        assert_eq!(
            store.list("x/").await.unwrap(),
            objects,
            "no new objects for unchanged data"
        );
        p.destroy(&key()).await.unwrap();
        assert!(store.list("x/").await.unwrap().is_empty());
    }
}

//! Restore: manifest → snapshot and segments (fetched in parallel) → a verified local database
//! and files directory.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};

use crate::disk;
use crate::object_store::{ObjectStore, content_etag};

use super::files::{self, FileIndex};
use super::manifest::{Manifest, ObjectRef, chain_hash};
use super::retry::retry;
use super::{PersistError, io};

/// Parallel segment downloads.
const PARALLEL: usize = 8;

/// Local files of one actor directory.
pub(crate) struct LocalPaths {
    pub(crate) db: std::path::PathBuf,
    pub(crate) wal: std::path::PathBuf,
    pub(crate) shm: std::path::PathBuf,
    pub(crate) files: std::path::PathBuf,
    /// Present only while the local copy equals a persisted state: written after a clean stop,
    /// removed before the actor runs again.
    pub(crate) marker: std::path::PathBuf,
}

impl LocalPaths {
    pub(crate) fn new(dir: &Path) -> Self {
        let db = dir.join(crate::storage::DB_FILE);
        let with = |suffix: &str| {
            let mut name = db.clone().into_os_string();
            name.push(suffix);
            std::path::PathBuf::from(name)
        };
        Self {
            wal: with("-wal"),
            shm: with("-shm"),
            marker: dir.join(".persisted"),
            files: dir.join(crate::storage::FILES_DIR),
            db,
        }
    }

    /// The local copy is exactly `manifest`'s content (a warm instance, same actor again).
    fn holds(&self, manifest: &Manifest) -> bool {
        let marker = disk::read(&self.marker).unwrap_or_default();
        let wal_len = disk::len(&self.wal).unwrap_or(0);
        String::from_utf8_lossy(&marker).trim() == manifest.content_id()
            && disk::is_file(&self.db)
            && wal_len == manifest.wal.len
    }

    pub(crate) fn forget_marker(&self) -> Result<(), PersistError> {
        remove_if_present(&self.marker)
    }
}

/// Makes the local directory hold what `manifest` describes; returns the files index.
pub(crate) async fn materialize(
    store: &Arc<dyn ObjectStore>,
    base: &str,
    manifest: &Manifest,
    paths: &LocalPaths,
) -> Result<FileIndex, PersistError> {
    let warm = paths.holds(manifest);
    paths.forget_marker()?;
    let index = match &manifest.files {
        Some(index) => files::read_index(store, index).await?,
        None => FileIndex::new(),
    };
    if warm {
        tracing::debug!("local copy is current; nothing to download");
        return Ok(index);
    }
    let (db, wal) = download_database(store, base, manifest).await?;
    if let Some(parent) = paths.db.parent() {
        disk::create_dir_all(parent).map_err(io("create actor directory", parent))?;
    }
    // A stale shared-memory index would make SQLite misread the new WAL.
    remove_if_present(&paths.shm)?;
    match db {
        Some(db) => write_atomically(&paths.db, &db)?,
        None => remove_if_present(&paths.db)?,
    }
    if wal.is_empty() {
        remove_if_present(&paths.wal)?;
    } else {
        write_atomically(&paths.wal, &wal)?;
    }
    let mount = disk::Mount::open(&paths.files).map_err(io("open files", &paths.files))?;
    files::download(store, base, &mount, &index).await?;
    Ok(index)
}

/// The snapshot and the concatenated WAL segments, verified against the manifest.
async fn download_database(
    store: &Arc<dyn ObjectStore>,
    base: &str,
    manifest: &Manifest,
) -> Result<(Option<Bytes>, Vec<u8>), PersistError> {
    let chain = &manifest.wal;
    let keys = (0..chain.segments)
        .map(|i| {
            chain
                .segment_key(base, i)
                .ok_or_else(|| PersistError::Corrupt {
                    key: format!("{base}/manifest.json"),
                    reason: format!("no writer recorded for WAL segment {i}"),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let snapshot = async {
        match &manifest.snapshot {
            Some(snapshot) => fetch_verified(store, snapshot).await.map(Some),
            None => Ok(None),
        }
    };
    let fetches: Vec<_> = keys
        .into_iter()
        .map(|key| async move { fetch(store, &key).await })
        .collect();
    let segments = stream::iter(fetches)
        .buffered(PARALLEL)
        .try_collect::<Vec<_>>();
    let (snapshot, segments) = futures_util::future::try_join(snapshot, segments).await?;
    let mut hash = String::new();
    // Sized from what arrived, never from what the manifest declares.
    let mut wal = Vec::with_capacity(segments.iter().map(Bytes::len).sum());
    for segment in &segments {
        hash = chain_hash(&hash, segment);
        wal.extend_from_slice(segment);
    }
    if hash != chain.sha256 || wal.len() as u64 != chain.len {
        return Err(PersistError::Corrupt {
            key: format!("{base}/wal/{}/", chain.id),
            reason: format!(
                "segments add up to {} bytes with hash {hash}, the manifest says {} bytes with {}",
                wal.len(),
                chain.len,
                chain.sha256
            ),
        });
    }
    if snapshot.is_none() && !wal.is_empty() {
        return Err(PersistError::Corrupt {
            key: format!("{base}/manifest.json"),
            reason: "WAL segments without a snapshot".into(),
        });
    }
    Ok((snapshot, wal))
}

async fn fetch(store: &Arc<dyn ObjectStore>, key: &str) -> Result<Bytes, PersistError> {
    retry("get", || store.get(key))
        .await?
        .map(|object| object.bytes)
        .ok_or_else(|| PersistError::Corrupt {
            key: key.to_owned(),
            reason: "the manifest names an object that does not exist".into(),
        })
}

/// Downloads an object and checks its size and hash.
pub(crate) async fn fetch_verified(
    store: &Arc<dyn ObjectStore>,
    object: &ObjectRef,
) -> Result<Bytes, PersistError> {
    let bytes = fetch(store, &object.key).await?;
    let sha256 = content_etag(&bytes);
    if sha256 != object.sha256 || bytes.len() as u64 != object.size {
        return Err(PersistError::Corrupt {
            key: object.key.clone(),
            reason: format!(
                "expected {} bytes with sha256 {}, got {} bytes with {sha256}",
                object.size,
                object.sha256,
                bytes.len()
            ),
        });
    }
    Ok(bytes)
}

/// Writes `path` so it is never half-written. No fsync: the local copy is a cache, trusted
/// again only after a clean stop writes its marker, so a power loss here means a fresh
/// download, not a torn database.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PersistError> {
    disk::write_atomically(path, bytes).map_err(io("write", path))
}

fn remove_if_present(path: &Path) -> Result<(), PersistError> {
    disk::remove_if_present(path).map_err(io("remove", path))
}

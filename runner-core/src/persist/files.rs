//! The actor's mounted files in the object store: content-addressed blobs plus an index.
//!
//! A sync hashes the files directory, uploads only blobs the store does not have yet, then
//! writes the index (itself content-addressed) that the manifest names. A restore downloads
//! the blobs whose local copy differs and removes local files the index does not list.
//! Symbolic links and other special files are never followed or persisted.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};

use crate::disk;
use crate::object_store::{ObjectStore, PutMode, content_etag, validate_key};

use super::manifest::ObjectRef;
use super::retry::retry;
use super::{PersistError, io};

/// Parallel object transfers per actor.
const PARALLEL: usize = 8;

/// Relative path (`/`-separated) → content.
pub(crate) type FileIndex = BTreeMap<String, FileEntry>;

/// One file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileEntry {
    pub(crate) sha256: String,
    pub(crate) size: u64,
}

pub(crate) fn blob_key(base: &str, sha256: &str) -> String {
    format!("{base}/files/blobs/{sha256}")
}

/// Hashes every regular file under `dir`.
pub(crate) fn scan(dir: &Path) -> Result<FileIndex, PersistError> {
    let mut index = FileIndex::new();
    for relative in disk::list_files(dir).map_err(io("list files", dir))? {
        let path = dir.join(&relative);
        let bytes = disk::read(&path).map_err(io("read", &path))?;
        let name = relative.to_string_lossy().replace('\\', "/");
        index.insert(
            name,
            FileEntry {
                sha256: content_etag(&bytes),
                size: bytes.len() as u64,
            },
        );
    }
    Ok(index)
}

/// Uploads the blobs of `index` that `previous` does not have, then the index itself. A file
/// that changed since the scan is uploaded as it is now, and `index` records that content, so a
/// blob's key always is the hash of its bytes.
pub(crate) async fn upload(
    store: &Arc<dyn ObjectStore>,
    base: &str,
    dir: &Path,
    index: &mut FileIndex,
    previous: &FileIndex,
) -> Result<ObjectRef, PersistError> {
    let known: HashSet<&str> = previous.values().map(|e| e.sha256.as_str()).collect();
    let mut queued = HashSet::new();
    let uploads: Vec<_> = index
        .iter()
        .filter(|(_, e)| !known.contains(e.sha256.as_str()) && queued.insert(e.sha256.clone()))
        .map(|(name, _)| async move {
            let path = dir.join(name);
            let bytes = Bytes::from(disk::read(&path).map_err(io("read", &path))?);
            let entry = FileEntry {
                sha256: content_etag(&bytes),
                size: bytes.len() as u64,
            };
            let key = blob_key(base, &entry.sha256);
            retry("put file blob", || {
                store.put(&key, bytes.clone(), PutMode::Overwrite)
            })
            .await?;
            Ok::<_, PersistError>((name.clone(), entry))
        })
        .collect();
    for (name, entry) in run_parallel(uploads).await? {
        index.insert(name, entry);
    }
    let body = Bytes::from(
        serde_json::to_vec(index).map_err(|err| PersistError::Corrupt {
            key: "files index".into(),
            reason: err.to_string(),
        })?,
    );
    let sha256 = content_etag(&body);
    let key = format!("{base}/files/index-{sha256}.json");
    let size = body.len() as u64;
    retry("put files index", || {
        store.put(&key, body.clone(), PutMode::Overwrite)
    })
    .await?;
    Ok(ObjectRef { key, size, sha256 })
}

/// Reads and verifies an index.
pub(crate) async fn read_index(
    store: &Arc<dyn ObjectStore>,
    index: &ObjectRef,
) -> Result<FileIndex, PersistError> {
    let bytes = super::restore::fetch_verified(store, index).await?;
    serde_json::from_slice(&bytes).map_err(|err| PersistError::Corrupt {
        key: index.key.clone(),
        reason: err.to_string(),
    })
}

/// Makes `dir` hold exactly the files of `index`.
pub(crate) async fn download(
    store: &Arc<dyn ObjectStore>,
    base: &str,
    dir: &Path,
    index: &FileIndex,
) -> Result<(), PersistError> {
    for name in index.keys() {
        validate_key(name).map_err(|_| PersistError::Corrupt {
            key: "files index".into(),
            reason: format!("path `{name}` would leave the files directory"),
        })?;
    }
    let local = scan(dir)?;
    for name in local.keys().filter(|name| !index.contains_key(*name)) {
        let path = dir.join(name);
        disk::remove_file(&path).map_err(io("remove stale file", &path))?;
    }
    let downloads: Vec<_> = index
        .iter()
        .filter(|(name, entry)| local.get(*name) != Some(entry))
        .map(|(name, entry)| async move {
            let blob = ObjectRef {
                key: blob_key(base, &entry.sha256),
                size: entry.size,
                sha256: entry.sha256.clone(),
            };
            let bytes = super::restore::fetch_verified(store, &blob).await?;
            let path = dir.join(name);
            if let Some(parent) = path.parent() {
                disk::create_dir_all(parent).map_err(io("create directory", parent))?;
            }
            super::restore::write_atomically(&path, &bytes)
        })
        .collect();
    run_parallel(downloads).await?;
    Ok(())
}

/// Runs transfers with at most [`PARALLEL`] in flight; the first error wins.
async fn run_parallel<F, T>(transfers: Vec<F>) -> Result<Vec<T>, PersistError>
where
    F: std::future::Future<Output = Result<T, PersistError>>,
{
    stream::iter(transfers)
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await
}

/// Deletes blobs `previous` used that `current` does not.
pub(crate) async fn delete_unused(
    store: &Arc<dyn ObjectStore>,
    base: &str,
    previous: &FileIndex,
    current: &FileIndex,
) {
    let used: HashSet<&str> = current.values().map(|e| e.sha256.as_str()).collect();
    let unused: std::collections::BTreeSet<&str> = previous
        .values()
        .map(|e| e.sha256.as_str())
        .filter(|sha| !used.contains(sha))
        .collect();
    for sha in unused {
        super::delete_quietly(store, &blob_key(base, sha)).await;
    }
}

//! The actor's mounted files in the object store: content-addressed blobs plus an index.
//!
//! A sync hashes the files directory, uploads only blobs the store does not have yet, then
//! writes the index (itself content-addressed) that the manifest names. A restore downloads
//! the blobs whose local copy differs and removes local files the index does not list.
//! Symbolic links and other special files are never followed or persisted: every read and
//! write goes through the confined [`Mount`], and a restore removes links first.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};

use crate::disk::{self, Mount};
use crate::object_store::{ObjectStore, PutMode, content_etag};

use super::error::{PersistError, io};
use super::layout::ActorPrefix;
use super::manifest::ObjectRef;
use super::objects::{delete_quietly, fetch_verified};
use super::retry::retry;

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

/// The largest file the runner persists: each is read whole (into memory) to hash and upload.
pub(crate) const MAX_FILE_BYTES: u64 = 64 << 20;

/// Hashes every regular file of the mount. A file over [`MAX_FILE_BYTES`], or a mount over
/// `quota` bytes in all, fails the scan with the reason: the actor's writes are then not
/// durable until it removes files.
pub(crate) fn scan(mount: &Mount, quota: u64) -> Result<FileIndex, PersistError> {
    let mut index = FileIndex::new();
    let mut total = 0u64;
    for name in mount.list_files().map_err(io("list files", mount.root()))? {
        let bytes = match mount.read_at_most(&name, MAX_FILE_BYTES) {
            Ok(bytes) => bytes,
            // Replaced or removed since the listing (the actor's code runs meanwhile).
            Err(err) if vanished(&err) => continue,
            Err(err) => return Err(io("read", &mount.root().join(&name))(err)),
        };
        total = total.saturating_add(bytes.len() as u64);
        if total > quota {
            return Err(PersistError::FilesQuota { quota });
        }
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

/// The local files a restore may keep, hashed; files too large to persist are listed apart
/// (the restore removes them: they cannot be what the store holds).
fn scan_local(mount: &Mount) -> Result<(FileIndex, Vec<String>), PersistError> {
    let mut index = FileIndex::new();
    let mut oversized = Vec::new();
    for name in mount.list_files().map_err(io("list files", mount.root()))? {
        match mount.read_at_most(&name, MAX_FILE_BYTES) {
            Ok(bytes) => {
                let entry = FileEntry {
                    sha256: content_etag(&bytes),
                    size: bytes.len() as u64,
                };
                index.insert(name, entry);
            }
            Err(err) if err.kind() == std::io::ErrorKind::FileTooLarge => oversized.push(name),
            Err(err) if vanished(&err) => {}
            Err(err) => return Err(io("read", &mount.root().join(&name))(err)),
        }
    }
    Ok((index, oversized))
}

/// A file that is gone, or is no longer a regular file (a link took its place): it is left
/// out of the index, as a link would have been at the scan.
fn vanished(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidInput
    )
}

/// Uploads the blobs of `index` that `previous` does not have, then the index itself. A file
/// that changed since the scan is uploaded as it is now, and `index` records that content, so a
/// blob's key always is the hash of its bytes; one that vanished (or became a link) is dropped
/// from `index`.
pub(crate) async fn upload(
    store: &Arc<dyn ObjectStore>,
    prefix: &ActorPrefix,
    mount: &Mount,
    index: &mut FileIndex,
    previous: &FileIndex,
) -> Result<ObjectRef, PersistError> {
    let known: HashSet<&str> = previous.values().map(|e| e.sha256.as_str()).collect();
    let mut queued = HashSet::new();
    let uploads: Vec<_> = index
        .iter()
        .filter(|(_, e)| !known.contains(e.sha256.as_str()) && queued.insert(e.sha256.clone()))
        .map(|(name, _)| async move {
            let bytes = match mount.read_at_most(name, MAX_FILE_BYTES) {
                Ok(bytes) => Bytes::from(bytes),
                Err(err) if vanished(&err) => return Ok((name.clone(), None)),
                Err(err) => return Err(io("read", &mount.root().join(name))(err)),
            };
            let entry = FileEntry {
                sha256: content_etag(&bytes),
                size: bytes.len() as u64,
            };
            let key = prefix.blob(&entry.sha256);
            retry("put file blob", || {
                store.put(&key, bytes.clone(), PutMode::Overwrite)
            })
            .await?;
            Ok::<_, PersistError>((name.clone(), Some(entry)))
        })
        .collect();
    for (name, entry) in run_parallel(uploads).await? {
        match entry {
            Some(entry) => index.insert(name, entry),
            None => index.remove(&name),
        };
    }
    let body = Bytes::from(
        serde_json::to_vec(index).map_err(|err| PersistError::Corrupt {
            key: "files index".into(),
            reason: err.to_string(),
        })?,
    );
    let sha256 = content_etag(&body);
    let key = prefix.files_index(&sha256);
    let size = body.len() as u64;
    retry("put files index", || {
        store.put(&key, body.clone(), PutMode::Overwrite)
    })
    .await?;
    Ok(ObjectRef::whole(key, size, sha256))
}

/// Reads and verifies an index.
pub(crate) async fn read_index(
    store: &Arc<dyn ObjectStore>,
    index: &ObjectRef,
) -> Result<FileIndex, PersistError> {
    let bytes = fetch_verified(store, index).await?;
    serde_json::from_slice(&bytes).map_err(|err| PersistError::Corrupt {
        key: index.key.clone(),
        reason: err.to_string(),
    })
}

/// Makes the mount hold exactly the files of `index`. Links and special files are removed
/// first, so nothing the previous instance's code planted can redirect a write.
pub(crate) async fn download(
    store: &Arc<dyn ObjectStore>,
    prefix: &ActorPrefix,
    mount: &Mount,
    index: &FileIndex,
) -> Result<(), PersistError> {
    for name in index.keys() {
        if !disk::is_valid_name(name) {
            return Err(PersistError::Corrupt {
                key: "files index".into(),
                reason: format!("path `{name}` would leave the files directory"),
            });
        }
    }
    let removed = mount
        .remove_links()
        .map_err(io("remove links", mount.root()))?;
    if removed > 0 {
        tracing::warn!(
            removed,
            "removed symbolic links from the actor's files before restoring"
        );
    }
    let (local, oversized) = scan_local(mount)?;
    let stale = local.keys().filter(|name| !index.contains_key(*name));
    for name in stale.chain(&oversized) {
        mount
            .remove_file(name)
            .map_err(io("remove stale file", &mount.root().join(name)))?;
    }
    let downloads: Vec<_> = index
        .iter()
        .filter(|(name, entry)| local.get(*name) != Some(entry))
        .map(|(name, entry)| async move {
            let blob =
                ObjectRef::whole(prefix.blob(&entry.sha256), entry.size, entry.sha256.clone());
            let bytes = fetch_verified(store, &blob).await?;
            mount
                .write(name, &bytes)
                .map_err(io("write", &mount.root().join(name)))
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
    prefix: &ActorPrefix,
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
        delete_quietly(store, &prefix.blob(sha)).await;
    }
}

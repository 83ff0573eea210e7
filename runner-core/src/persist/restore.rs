//! Restore: manifest → snapshot and segments (fetched in parallel) → a verified local database
//! and files directory.

use std::path::Path;
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt, stream};

use crate::disk;
use crate::object_store::ObjectStore;

use super::error::{PersistError, io};
use super::files::{self, FileIndex};
use super::layout::ActorPrefix;
use super::local::{LocalPaths, remove_if_present};
use super::manifest::{Manifest, ObjectRef, SNAPSHOT_PART, chain_hash};
use super::objects::fetch;
use super::retry::retry;

/// Parallel segment downloads.
const PARALLEL: usize = 8;

/// Makes the local directory hold what `manifest` describes; returns the files index.
pub(crate) async fn materialize(
    store: &Arc<dyn ObjectStore>,
    prefix: &ActorPrefix,
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
    if let Some(parent) = paths.db.parent() {
        disk::create_dir_all(parent).map_err(io("create actor directory", parent))?;
    }
    let (db, wal) = download_database(store, prefix, manifest, paths).await?;
    // A stale shared-memory index would make SQLite misread the new WAL.
    remove_if_present(&paths.shm)?;
    match db {
        Some(db) => db.finish().map_err(io("write", &paths.db))?,
        None => remove_if_present(&paths.db)?,
    }
    match wal {
        Some(wal) => wal.finish().map_err(io("write", &paths.wal))?,
        None => remove_if_present(&paths.wal)?,
    }
    let mount = disk::Mount::open(&paths.files).map_err(io("open files", &paths.files))?;
    files::download(store, prefix, &mount, &index).await?;
    Ok(index)
}

/// Bytes of a one-object snapshot fetched per request: a restore holds at most this much of
/// it (and at most [`PARALLEL`] segments of the WAL) in memory, however large the database.
/// A snapshot stored in parts is fetched a part at a time.
const SNAPSHOT_CHUNK: u64 = SNAPSHOT_PART;

/// The snapshot and the WAL, streamed to temporary files next to `paths` and verified against
/// the manifest; they take their real names when the caller finishes them.
async fn download_database(
    store: &Arc<dyn ObjectStore>,
    prefix: &ActorPrefix,
    manifest: &Manifest,
    paths: &LocalPaths,
) -> Result<(Option<disk::PartialFile>, Option<disk::PartialFile>), PersistError> {
    if manifest.snapshot.is_none() && manifest.wal.segments > 0 {
        return Err(PersistError::Corrupt {
            key: prefix.manifest(),
            reason: "WAL segments without a snapshot".into(),
        });
    }
    let snapshot = async {
        match &manifest.snapshot {
            Some(snapshot) => download_snapshot(store, snapshot, &paths.db)
                .await
                .map(Some),
            None => Ok(None),
        }
    };
    let wal = download_wal(store, prefix, manifest, &paths.wal);
    futures_util::future::try_join(snapshot, wal).await
}

/// The snapshot in ranges of [`SNAPSHOT_CHUNK`], hashed as it arrives.
async fn download_snapshot(
    store: &Arc<dyn ObjectStore>,
    snapshot: &ObjectRef,
    path: &Path,
) -> Result<disk::PartialFile, PersistError> {
    use sha2::Digest as _;
    let corrupt = |reason: String| PersistError::Corrupt {
        key: snapshot.key.clone(),
        reason,
    };
    let mut file = disk::PartialFile::create(path).map_err(io("write", path))?;
    let mut hash = sha2::Sha256::new();
    let mut offset = 0;
    let mut part = 0;
    while offset < snapshot.size {
        let end = snapshot.size.min(offset.saturating_add(SNAPSHOT_CHUNK));
        let bytes = match snapshot.parts {
            None => {
                retry("get snapshot", || {
                    store.get_range(&snapshot.key, offset..end)
                })
                .await?
            }
            Some(parts) if part < parts => {
                let key = snapshot.part_key(part);
                retry("get snapshot part", || store.get(&key))
                    .await?
                    .map(|object| object.bytes)
            }
            Some(_) => None,
        }
        .ok_or_else(|| corrupt("the manifest names an object that does not exist".into()))?;
        if bytes.len() as u64 != end - offset {
            return Err(corrupt(format!(
                "bytes {offset}..{end} of the manifest's {} arrived as {} bytes",
                snapshot.size,
                bytes.len()
            )));
        }
        hash.update(&bytes);
        file.append(&bytes).map_err(io("write", path))?;
        offset = end;
        part += 1;
    }
    if snapshot.parts.is_some_and(|parts| parts != part) {
        return Err(corrupt(format!(
            "{} bytes in {} parts of {SNAPSHOT_CHUNK}",
            snapshot.size,
            snapshot.parts.unwrap_or(0)
        )));
    }
    let sha256 = hex::encode(hash.finalize());
    if sha256 != snapshot.sha256 {
        return Err(corrupt(format!(
            "expected sha256 {}, got {sha256}",
            snapshot.sha256
        )));
    }
    Ok(file)
}

/// The WAL chain's segments, fetched [`PARALLEL`] at a time and appended in order.
async fn download_wal(
    store: &Arc<dyn ObjectStore>,
    prefix: &ActorPrefix,
    manifest: &Manifest,
    path: &Path,
) -> Result<Option<disk::PartialFile>, PersistError> {
    let chain = &manifest.wal;
    if chain.segments == 0 {
        return if chain.len == 0 {
            Ok(None)
        } else {
            Err(PersistError::Corrupt {
                key: prefix.manifest(),
                reason: format!("a WAL of {} bytes in no segments", chain.len),
            })
        };
    }
    let keys = (0..chain.segments)
        .map(|i| {
            chain
                .segment_key(prefix, i)
                .ok_or_else(|| PersistError::Corrupt {
                    key: prefix.manifest(),
                    reason: format!("no writer recorded for WAL segment {i}"),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut file = disk::PartialFile::create(path).map_err(io("write", path))?;
    let mut segments = stream::iter(keys)
        .map(|key| async move { fetch(store, &key).await })
        .buffered(PARALLEL);
    let mut hash = String::new();
    let mut len = 0u64;
    while let Some(segment) = segments.try_next().await? {
        hash = chain_hash(&hash, &segment);
        len += segment.len() as u64;
        file.append(&segment).map_err(io("write", path))?;
    }
    if hash != chain.sha256 || len != chain.len {
        return Err(PersistError::Corrupt {
            key: prefix.chain(&chain.id),
            reason: format!(
                "segments add up to {len} bytes with hash {hash}, the manifest says {} bytes with {}",
                chain.len, chain.sha256
            ),
        });
    }
    Ok(Some(file))
}

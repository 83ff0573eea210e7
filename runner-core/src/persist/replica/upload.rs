//! The shipper's uploads of database bytes: a snapshot that starts a chain, and WAL segments
//! that continue it. What they need of the shipper is passed in, so this module knows nothing
//! of the shipper's state.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::disk;
use crate::object_store::{ObjectStore, PutMode, content_etag};
use crate::persist::error::{PersistError, io};
use crate::persist::layout::{self, ActorPrefix};
use crate::persist::local::LocalPaths;
use crate::persist::manifest::{self, Manifest, ObjectRef, SNAPSHOT_PART, WalChain};
use crate::persist::retry::retry;
use crate::persist::wal::{HEADER_LEN, WalError, WalHeader};

/// Where one writer uploads: its store, the actor's keys and local files, and what names its
/// objects (generation and upload tag).
pub(super) struct Uploads<'a> {
    pub(super) store: &'a Arc<dyn ObjectStore>,
    pub(super) prefix: &'a ActorPrefix,
    pub(super) paths: &'a LocalPaths,
    pub(super) generation: u32,
    pub(super) tag: &'a str,
}

impl Uploads<'_> {
    /// Uploads the database file as the base of a new, empty chain; returns what it replaces.
    pub(super) async fn start_chain(
        &self,
        next: &mut Manifest,
    ) -> Result<Vec<String>, PersistError> {
        let id = layout::chain_id(self.generation, next.seq, self.tag);
        let snapshot = self.upload_snapshot(self.prefix.snapshot(&id)).await?;
        next.format = manifest::FORMAT;
        let mut superseded: Vec<String> = next
            .snapshot
            .replace(snapshot)
            .map(|s| s.keys())
            .unwrap_or_default();
        let old_chain = std::mem::replace(
            &mut next.wal,
            WalChain {
                id,
                ..WalChain::default()
            },
        );
        // Listed, not derived from the manifest: this also sweeps segments that were uploaded
        // but never referenced (a crash or a fenced writer between segment and manifest).
        if !old_chain.id.is_empty() || old_chain.segments > 0 {
            let prefix = self.prefix.chain(&old_chain.id);
            match self.store.list(&prefix).await {
                Ok(objects) => superseded.extend(objects.into_iter().map(|o| o.key)),
                Err(err) => {
                    tracing::warn!(%prefix, error = %err, "could not list a superseded chain")
                }
            }
        }
        Ok(superseded)
    }

    /// The database file as a snapshot under `key`: one object if it fits in one part, else
    /// [`SNAPSHOT_PART`]-sized parts read and uploaded one at a time, so compaction never holds
    /// the whole database in memory.
    async fn upload_snapshot(&self, key: String) -> Result<ObjectRef, PersistError> {
        use sha2::Digest as _;
        let path = &self.paths.db;
        let size = disk::len(path).map_err(io("read database", path))?;
        if size <= SNAPSHOT_PART {
            let bytes = Bytes::from(disk::read(path).map_err(io("read database", path))?);
            let snapshot = ObjectRef::whole(key, bytes.len() as u64, content_etag(&bytes));
            retry("put snapshot", || {
                self.store
                    .put(&snapshot.key, bytes.clone(), PutMode::Overwrite)
            })
            .await?;
            return Ok(snapshot);
        }
        let mut snapshot = ObjectRef::whole(key, size, String::new());
        let mut hash = sha2::Sha256::new();
        let mut parts = 0u32;
        let mut offset = 0;
        while offset < size {
            let len = SNAPSHOT_PART.min(size - offset);
            let mut part = vec![0; usize::try_from(len).unwrap_or(0)];
            disk::read_exact_at(path, &mut part, offset).map_err(io("read database", path))?;
            hash.update(&part);
            let part_key = snapshot.part_key(parts);
            let part = Bytes::from(part);
            retry("put snapshot part", || {
                self.store.put(&part_key, part.clone(), PutMode::Overwrite)
            })
            .await?;
            parts += 1;
            offset += len;
        }
        snapshot.parts = Some(parts);
        snapshot.sha256 = hex::encode(hash.finalize());
        Ok(snapshot)
    }

    /// Uploads the WAL bytes from the chain's end to `end` as its next segment. `header` is
    /// the header of the log the chain holds, recorded on its first segment.
    pub(super) async fn ship_segment(
        &self,
        next: &mut Manifest,
        end: u64,
        header: &mut Option<WalHeader>,
    ) -> Result<(), PersistError> {
        let start = next.wal.len;
        let segment = read_wal(&self.paths.wal, header, start, end)?;
        let key = next
            .wal
            .push(self.prefix, self.generation, self.tag, &segment);
        let body = Bytes::from(segment);
        retry("put WAL segment", || {
            self.store.put(&key, body.clone(), PutMode::Overwrite)
        })
        .await?;
        Ok(())
    }
}

/// Reads committed WAL bytes `start..end` of the WAL at `path`, checking they continue the log
/// `header` names (recording it if none is yet) and end on a commit.
fn read_wal(
    path: &Path,
    header: &mut Option<WalHeader>,
    start: u64,
    end: u64,
) -> Result<Vec<u8>, PersistError> {
    let current = read_header(path)?;
    match header {
        Some(known) if *known != current => return Err(WalError::Restarted.into()),
        _ => *header = Some(current),
    }
    let len = usize::try_from(end - start).map_err(|_| WalError::TooLarge)?;
    let mut bytes = vec![0; len];
    disk::read_exact_at(path, &mut bytes, start).map_err(io("read WAL", path))?;
    let last_frame_len = current.last_frame_len();
    let mut last = vec![0; usize::try_from(last_frame_len).unwrap_or(0)];
    disk::read_exact_at(path, &mut last, end - last_frame_len).map_err(io("read WAL", path))?;
    current.check_commit_end(end, &last)?;
    Ok(bytes)
}

/// The header of the WAL at `path`.
pub(super) fn read_header(path: &Path) -> Result<WalHeader, PersistError> {
    let mut header = [0; HEADER_LEN as usize];
    disk::read_exact_at(path, &mut header, 0).map_err(io("read WAL header", path))?;
    Ok(WalHeader::parse(&header)?)
}

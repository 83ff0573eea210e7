//! Shipping a running actor's WAL to the object store, and the durability status its output
//! gate waits on.
//!
//! The actor task owns the SQLite connection; a shipper task per actor owns the manifest.
//! After every commit that grew the WAL the actor reports `(commit number, WAL length)`; the
//! shipper uploads the bytes since its last upload as one create-only segment, then advances
//! the manifest by compare-and-swap. Commits reported while an upload is in flight go out
//! together in the next one (group commit). In strict mode the actor holds every reply and
//! event until the shipper reports its commit durable.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::sync::{mpsc, oneshot, watch};

use crate::disk;
use crate::object_store::{ObjectStore, ObjectStoreError, PutMode, content_etag};

use super::budget::RequestBudget;
use super::files::{self, FileIndex};
use super::manifest::{Manifest, ObjectRef, SNAPSHOT_PART, WalChain, random_tag};
use super::restore::LocalPaths;
use super::retry::retry;
use super::wal::{HEADER_LEN, WalHeader};
use super::{PersistError, io};

/// A chain at least this long is folded at a stop that drops the local copy.
const FOLD_ON_STOP_SEGMENTS: u32 = 8;
/// Superseded objects deleted at a time.
const PARALLEL_DELETES: usize = 8;
/// Upload rounds one ship may restart after finding that the stored manifest moved on
/// without it (its own earlier write, whose reply was lost, landed after all).
const ROUNDS_PER_SHIP: u32 = 3;

/// When a running actor's writes reach the object store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DurabilityMode {
    /// Every reply and event leaves the runner only after the writes before it are durable.
    #[default]
    Strict,
    /// Ship every interval; acknowledged writes since the last upload may be lost on a crash.
    Interval(Duration),
}

/// What the shipper has achieved, as the actor's output gate sees it.
#[derive(Debug, Clone, Default)]
pub struct ReplicaStatus {
    /// Every commit numbered up to this is durable.
    pub durable: u64,
    /// Commits up to this could not be shipped; their held outputs fail.
    pub failed: u64,
    /// Why the last ship failed.
    pub error: Option<Arc<str>>,
    /// A newer generation owns the actor: nothing this instance writes will be persisted.
    pub fenced: bool,
    /// The WAL chain is long enough to fold into a new snapshot.
    pub compact: bool,
    /// The claim's object-store request budget is nearly spent: the actor should sleep while
    /// enough is left to persist its last writes.
    pub budget_spent: bool,
    /// Folding the chain now would make the next cold restore much cheaper: many segments over
    /// a small snapshot. Worth doing at a stop after which the local copy is dropped.
    pub fold_on_stop: bool,
}

enum Cmd {
    Committed { no: u64, wal_end: u64, files: bool },
    Rebased,
    Flush(oneshot::Sender<Result<String, PersistError>>),
}

/// The actor's side: reports commits, waits for durability.
pub struct Replica {
    cmds: mpsc::UnboundedSender<Cmd>,
    status: watch::Receiver<ReplicaStatus>,
    mode: DurabilityMode,
    paths: LocalPaths,
    latest: u64,
    reported_end: u64,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("mode", &self.mode)
            .field("latest", &self.latest)
            .finish_non_exhaustive()
    }
}

impl Replica {
    /// Records a commit if it wrote anything (or touched files); returns the number of the
    /// latest commit, which every output produced from now on waits for.
    pub fn after_commit(&mut self, files_touched: bool) -> u64 {
        let end = disk::len(&self.paths.wal).unwrap_or(0);
        if end != self.reported_end || files_touched {
            self.latest += 1;
            self.reported_end = end;
            let _ = self.cmds.send(Cmd::Committed {
                no: self.latest,
                wal_end: end,
                files: files_touched,
            });
        }
        self.latest
    }

    /// The latest commit number.
    pub fn latest(&self) -> u64 {
        self.latest
    }

    /// Whether outputs wait for durability.
    pub fn gates_output(&self) -> bool {
        self.mode == DurabilityMode::Strict
    }

    /// The current status.
    pub fn status(&self) -> ReplicaStatus {
        self.status.borrow().clone()
    }

    /// Waits for the status to change; `false` once the shipper is gone.
    pub async fn changed(&mut self) -> bool {
        self.status.changed().await.is_ok()
    }

    /// Ships everything committed so far; returns the persisted content id.
    pub async fn flush(&self) -> Result<String, PersistError> {
        let (tx, rx) = oneshot::channel();
        self.cmds
            .send(Cmd::Flush(tx))
            .map_err(|_| PersistError::ShipperGone)?;
        rx.await.map_err(|_| PersistError::ShipperGone)?
    }

    /// Folds the WAL into the database file so the shipper starts a new snapshot and chain.
    /// Call it only when everything committed is durable ([`Self::flush`] first); a failure
    /// leaves the chain as it was.
    pub fn rebase(&mut self, db: &rusqlite::Connection) -> Result<(), PersistError> {
        let (busy, _, _): (i64, i64, i64) = db
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .map_err(|err| PersistError::Sqlite(err.to_string()))?;
        let wal_len = disk::len(&self.paths.wal).unwrap_or(0);
        if busy != 0 || wal_len != 0 {
            return Err(PersistError::Sqlite(format!(
                "checkpoint left {wal_len} WAL bytes (busy = {busy})"
            )));
        }
        self.reported_end = 0;
        let _ = self.cmds.send(Cmd::Rebased);
        Ok(())
    }

    /// Records that the closed local database is exactly the persisted `content_id`, so the
    /// next start of this actor on this instance skips the download.
    pub fn mark_clean(&self, content_id: &str) -> Result<(), PersistError> {
        disk::write(&self.paths.marker, content_id)
            .map_err(io("write persisted marker", &self.paths.marker))
    }
}

/// Everything the shipper starts from, after a restore and claim.
pub(crate) struct ShipperInit {
    pub(crate) store: Arc<dyn ObjectStore>,
    /// The claim's request budget and the requests made so far, if it has one.
    pub(crate) budget: Option<(RequestBudget, Arc<AtomicU32>)>,
    pub(crate) actor_id: String,
    pub(crate) base: String,
    pub(crate) generation: u32,
    pub(crate) manifest: Manifest,
    pub(crate) etag: String,
    pub(crate) files: FileIndex,
    pub(crate) dir: std::path::PathBuf,
    pub(crate) mode: DurabilityMode,
    pub(crate) compact_min_wal_bytes: u64,
    pub(crate) max_files_bytes: u64,
}

/// Starts the shipper task and returns the actor's handle to it.
pub(crate) fn spawn(init: ShipperInit) -> Result<Replica, PersistError> {
    let paths = LocalPaths::new(&init.dir);
    let wal_header = if init.manifest.wal.len > 0 {
        Some(read_header(&paths.wal)?)
    } else {
        None
    };
    let (cmds, rx) = mpsc::unbounded_channel();
    let (status_tx, status) = watch::channel(ReplicaStatus {
        budget_spent: budget_spent(init.budget.as_ref()),
        ..ReplicaStatus::default()
    });
    let reported_end = init.manifest.wal.len;
    let mode = init.mode;
    let shipper = Shipper {
        store: init.store,
        budget: init.budget,
        actor_id: init.actor_id,
        manifest_key: format!("{}/manifest.json", init.base),
        base: init.base,
        generation: init.generation,
        manifest: init.manifest,
        etag: init.etag,
        files: init.files,
        paths: LocalPaths::new(&init.dir),
        wal_header,
        tag: random_tag(),
        needs_base: false,
        target: None,
        files_dirty: false,
        fenced: false,
        status: status_tx,
        compact_min_wal_bytes: init.compact_min_wal_bytes,
        max_files_bytes: init.max_files_bytes,
    };
    crate::rt::spawn(shipper.run(rx, mode));
    Ok(Replica {
        cmds,
        status,
        mode,
        paths,
        latest: 0,
        reported_end,
    })
}

struct Shipper {
    store: Arc<dyn ObjectStore>,
    budget: Option<(RequestBudget, Arc<AtomicU32>)>,
    actor_id: String,
    base: String,
    manifest_key: String,
    generation: u32,
    manifest: Manifest,
    etag: String,
    files: FileIndex,
    paths: LocalPaths,
    /// The header of the WAL the current chain holds.
    wal_header: Option<WalHeader>,
    /// Part of the key of every object this shipper uploads, drawn anew after a failed or
    /// restarted round, so no key is ever written with two contents.
    tag: String,
    /// The local WAL was checkpointed away: the next ship starts a new snapshot and chain.
    needs_base: bool,
    /// The newest reported commit not yet durable: (number, WAL length).
    target: Option<(u64, u64)>,
    files_dirty: bool,
    fenced: bool,
    status: watch::Sender<ReplicaStatus>,
    compact_min_wal_bytes: u64,
    max_files_bytes: u64,
}

impl Shipper {
    async fn run(mut self, mut cmds: mpsc::UnboundedReceiver<Cmd>, mode: DurabilityMode) {
        let period = match mode {
            DurabilityMode::Strict => None,
            DurabilityMode::Interval(period) => Some(period),
        };
        let mut ticker = period.map(crate::rt::Interval::new);
        loop {
            let mut flushes = Vec::new();
            tokio::select! {
                cmd = cmds.recv() => {
                    let Some(cmd) = cmd else { return };
                    self.accept(cmd, &mut flushes);
                    // Group commit: everything that queued up during the last upload ships together.
                    while let Ok(cmd) = cmds.try_recv() {
                        self.accept(cmd, &mut flushes);
                    }
                    if period.is_none() || !flushes.is_empty() {
                        self.ship_and_report(flushes).await;
                    }
                }
                _ = tick(&mut ticker) => self.ship_and_report(flushes).await,
            }
        }
    }

    fn accept(
        &mut self,
        cmd: Cmd,
        flushes: &mut Vec<oneshot::Sender<Result<String, PersistError>>>,
    ) {
        match cmd {
            Cmd::Committed { no, wal_end, files } => {
                self.target = Some((no, wal_end));
                self.files_dirty |= files;
            }
            Cmd::Rebased => {
                self.needs_base = true;
                self.wal_header = None;
            }
            Cmd::Flush(reply) => flushes.push(reply),
        }
    }

    async fn ship_and_report(
        &mut self,
        flushes: Vec<oneshot::Sender<Result<String, PersistError>>>,
    ) {
        let pending = self.target.map(|(no, _)| no);
        let result = if self.target.is_some() || self.files_dirty || self.needs_base {
            self.ship().await
        } else {
            Ok(())
        };
        match &result {
            Ok(()) => self.status.send_modify(|s| {
                if let Some(no) = pending {
                    s.durable = s.durable.max(no);
                }
                s.compact = self.wants_compaction();
                s.fold_on_stop = self.worth_folding_on_stop();
                s.budget_spent = budget_spent(self.budget.as_ref());
            }),
            Err(err) => {
                tracing::error!(error = %err, "shipping actor data failed");
                let fenced = matches!(err, PersistError::Fenced { .. });
                self.fenced |= fenced;
                self.status.send_modify(|s| {
                    s.budget_spent = budget_spent(self.budget.as_ref());
                    s.failed = s.failed.max(pending.unwrap_or(0));
                    s.error = Some(err.to_string().into());
                    s.fenced |= fenced;
                });
            }
        }
        for reply in flushes {
            let outcome = match &result {
                Ok(()) => Ok(self.manifest.content_id()),
                Err(err) => Err(PersistError::Ship(err.to_string())),
            };
            let _ = reply.send(outcome);
        }
    }

    /// At least [`FOLD_ON_STOP_SEGMENTS`] segments over a snapshot no larger than the
    /// compaction threshold, when the budget (if any) can pay for it: one upload of a small
    /// database at the stop saves a request per segment at every later cold start.
    fn worth_folding_on_stop(&self) -> bool {
        let snapshot = self.manifest.snapshot.as_ref().map_or(0, |s| s.size);
        let segments = self.manifest.wal.segments;
        let affordable = self.budget.as_ref().is_none_or(|(budget, used)| {
            !budget.spent(used.load(Ordering::Relaxed).saturating_add(segments + 3))
        });
        segments >= FOLD_ON_STOP_SEGMENTS && snapshot <= self.compact_min_wal_bytes && affordable
    }

    fn wants_compaction(&self) -> bool {
        let snapshot = self.manifest.snapshot.as_ref().map_or(0, |s| s.size);
        let segments = self.manifest.wal.segments;
        let due = self.manifest.wal.len >= self.compact_min_wal_bytes.max(snapshot);
        match &self.budget {
            None => due,
            // Folding costs a snapshot, a listing, the manifest and a delete per segment: only
            // while that leaves the reserve for stopping.
            Some((budget, used)) => {
                let cost = segments.saturating_add(3);
                let affordable = !budget.spent(used.load(Ordering::Relaxed).saturating_add(cost));
                affordable && (due || segments >= budget.max_segments())
            }
        }
    }

    /// Ships everything reported so far: upload rounds until one's manifest write lands.
    async fn ship(&mut self) -> Result<(), PersistError> {
        for _ in 0..ROUNDS_PER_SHIP {
            let landed = self.ship_round().await;
            // Whatever happens next, keys of this round are never reused.
            if !matches!(landed, Ok(true)) {
                self.tag = random_tag();
            }
            match landed {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(err) => return Err(err),
            }
        }
        Err(PersistError::Ship(format!(
            "the manifest kept moving for {ROUNDS_PER_SHIP} rounds"
        )))
    }

    /// One upload round: a new snapshot if needed, the new WAL bytes, changed files, then the
    /// manifest. Nothing is acknowledged unless the manifest write succeeds. `Ok(false)`: the
    /// stored manifest is a later one of this claim's own (a write whose reply was lost), now
    /// adopted as the base; the round must be done again from it.
    async fn ship_round(&mut self) -> Result<bool, PersistError> {
        if self.fenced {
            return Err(PersistError::Ship(
                "a newer generation owns this actor".into(),
            ));
        }
        let mut next = self.manifest.clone();
        next.generation = self.generation;
        next.seq += 1;
        let mut superseded = Vec::new();
        if self.needs_base || next.snapshot.is_none() {
            superseded = self.start_chain(&mut next).await?;
        }
        if let Some((_, end)) = self.target
            && end > next.wal.len
        {
            self.ship_segment(&mut next, end).await?;
        }
        let mut new_files = None;
        if self.files_dirty {
            let mount = disk::Mount::open(&self.paths.files)
                .map_err(io("open files", &self.paths.files))?;
            let quota = self.max_files_bytes;
            let (mount, scanned) = crate::rt::run_blocking(move || {
                let index = files::scan(&mount, quota);
                (mount, index)
            })
            .await
            .map_err(|err| PersistError::Ship(err.to_string()))?;
            let mut index = scanned?;
            if index != self.files {
                let object =
                    files::upload(&self.store, &self.base, &mount, &mut index, &self.files).await?;
                if let Some(old) = next.files.replace(object.clone())
                    && old.key != object.key
                {
                    superseded.push(old.key);
                }
                new_files = Some(index);
            }
        }
        let unchanged = next.snapshot == self.manifest.snapshot
            && next.wal == self.manifest.wal
            && next.files == self.manifest.files;
        if !unchanged {
            match self.write_manifest(&next).await? {
                Cas::Written(etag) => {
                    self.etag = etag;
                    self.manifest = next;
                }
                Cas::Behind(current, etag) => {
                    tracing::warn!(
                        seq = current.seq,
                        "the stored manifest is a lost write of this instance's own; continuing from it"
                    );
                    // Its files index is what the store now holds: compare the next scan to it.
                    self.files = match &current.files {
                        Some(index) => files::read_index(&self.store, index).await?,
                        None => FileIndex::new(),
                    };
                    self.etag = etag;
                    self.manifest = *current;
                    return Ok(false);
                }
            }
        }
        self.needs_base = false;
        self.target = None;
        self.files_dirty = false;
        let store = &self.store;
        futures_util::stream::iter(superseded)
            .for_each_concurrent(PARALLEL_DELETES, |key| async move {
                super::delete_quietly(store, &key).await;
            })
            .await;
        if let Some(index) = new_files {
            let previous = std::mem::replace(&mut self.files, index);
            files::delete_unused(&self.store, &self.base, &previous, &self.files).await;
        }
        Ok(true)
    }

    /// Uploads the database file as the base of a new, empty chain; returns what it replaces.
    async fn start_chain(&mut self, next: &mut Manifest) -> Result<Vec<String>, PersistError> {
        let id = format!("{:010}-{:012}-{}", self.generation, next.seq, self.tag);
        let key = format!("{}/snapshots/{id}.db", self.base);
        let snapshot = self.upload_snapshot(key).await?;
        next.format = super::manifest::FORMAT;
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
            let prefix = format!("{}/wal/{}/", self.base, old_chain.id);
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

    async fn ship_segment(&mut self, next: &mut Manifest, end: u64) -> Result<(), PersistError> {
        let start = next.wal.len;
        let segment = self.read_wal(start, end)?;
        let key = next
            .wal
            .push(&self.base, self.generation, &self.tag, &segment);
        let body = Bytes::from(segment);
        retry("put WAL segment", || {
            self.store.put(&key, body.clone(), PutMode::Overwrite)
        })
        .await?;
        Ok(())
    }

    /// Reads committed WAL bytes `start..end`, checking they continue the chain's log and end
    /// on a commit.
    fn read_wal(&mut self, start: u64, end: u64) -> Result<Vec<u8>, PersistError> {
        let path = &self.paths.wal;
        let current = read_header(path)?;
        match self.wal_header {
            Some(header) if header != current => {
                return Err(PersistError::Sqlite(
                    "the WAL was restarted outside a compaction".into(),
                ));
            }
            _ => self.wal_header = Some(current),
        }
        let len = usize::try_from(end - start)
            .map_err(|_| PersistError::Sqlite("WAL too large".into()))?;
        let mut bytes = vec![0; len];
        disk::read_exact_at(path, &mut bytes, start).map_err(io("read WAL", path))?;
        let last_frame_len = current.last_frame_len();
        let mut last = vec![0; usize::try_from(last_frame_len).unwrap_or(0)];
        disk::read_exact_at(path, &mut last, end - last_frame_len).map_err(io("read WAL", path))?;
        current
            .check_commit_end(end, &last)
            .map_err(PersistError::Sqlite)?;
        Ok(bytes)
    }

    /// Advances the stored manifest to `next` by compare-and-swap on the one this shipper
    /// last wrote.
    async fn write_manifest(&self, next: &Manifest) -> Result<Cas, PersistError> {
        let body = next.encode(&self.manifest_key)?;
        let put = retry("put manifest", || {
            self.store.put(
                &self.manifest_key,
                body.clone(),
                PutMode::IfMatch(self.etag.clone()),
            )
        })
        .await;
        match put {
            Ok(etag) => Ok(Cas::Written(etag)),
            Err(ObjectStoreError::PreconditionFailed { .. }) => self.after_conflict(next).await,
            Err(err) => Err(err.into()),
        }
    }

    /// The stored manifest is not the one this shipper last wrote. Its own writes may have
    /// landed with their replies lost: the one just retried (then it is `next`), or an earlier
    /// one (then it carries this claim). Anything else is a newer generation's.
    async fn after_conflict(&self, next: &Manifest) -> Result<Cas, PersistError> {
        let current = retry("get manifest", || self.store.get(&self.manifest_key)).await?;
        let Some(object) = current else {
            return Err(self.fenced_by(0));
        };
        let stored = serde_json::from_slice::<Manifest>(&object.bytes).ok();
        match stored {
            Some(stored) if &stored == next => Ok(Cas::Written(object.etag)),
            Some(stored) if !stored.claim.is_empty() && stored.claim == next.claim => {
                Ok(Cas::Behind(Box::new(stored), object.etag))
            }
            // A conflicting request that did not change it (S3's 409): go again.
            Some(stored) if object.etag == self.etag => {
                Ok(Cas::Behind(Box::new(stored), object.etag))
            }
            other => Err(self.fenced_by(other.map_or(0, |m| m.generation))),
        }
    }

    fn fenced_by(&self, theirs: u32) -> PersistError {
        PersistError::Fenced {
            actor_id: self.actor_id.clone(),
            ours: self.generation,
            theirs,
        }
    }
}

/// How a manifest compare-and-swap ended.
enum Cas {
    /// `next` is stored, with this ETag.
    Written(String),
    /// A later manifest of this claim's own is stored (with this ETag): continue from it.
    Behind(Box<Manifest>, String),
}

fn budget_spent(budget: Option<&(RequestBudget, Arc<AtomicU32>)>) -> bool {
    budget.is_some_and(|(budget, used)| budget.spent(used.load(Ordering::Relaxed)))
}

async fn tick(ticker: &mut Option<crate::rt::Interval>) {
    match ticker {
        Some(ticker) => {
            ticker.tick().await;
        }
        None => std::future::pending().await,
    }
}

fn read_header(path: &Path) -> Result<WalHeader, PersistError> {
    let mut header = [0; HEADER_LEN as usize];
    disk::read_exact_at(path, &mut header, 0).map_err(io("read WAL header", path))?;
    WalHeader::parse(&header).map_err(PersistError::Sqlite)
}

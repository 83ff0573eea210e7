//! The shipper task: one per running actor, the only writer of its manifest. It takes the
//! actor's commit reports, and ships each batch as one round: new WAL bytes (and a new
//! snapshot when a chain starts), changed files, then the manifest through the
//! [`ManifestCell`].

use std::sync::Arc;

use futures_util::StreamExt as _;
use tokio::sync::{mpsc, oneshot, watch};

use crate::disk;
use crate::object_store::ObjectStore;

use super::status::{DurabilityMode, ReplicaStatus};
use super::upload::{Uploads, read_header};
use crate::persist::budget::BudgetMeter;
use crate::persist::cell::{Advance, ManifestCell};
use crate::persist::error::{PersistError, io};
use crate::persist::files::{self, FileIndex};
use crate::persist::layout::ActorPrefix;
use crate::persist::local::LocalPaths;
use crate::persist::manifest::{Manifest, random_tag};
use crate::persist::objects::delete_quietly;
use crate::persist::wal::WalHeader;

/// A chain at least this long is folded at a stop that drops the local copy.
const FOLD_ON_STOP_SEGMENTS: u32 = 8;
/// Superseded objects deleted at a time.
const PARALLEL_DELETES: usize = 8;
/// Upload rounds one ship may restart after finding that the stored manifest moved on
/// without it (its own earlier write, whose reply was lost, landed after all).
const ROUNDS_PER_SHIP: u32 = 3;
/// Requests a fold costs beyond one delete per segment: a snapshot, a listing, the manifest.
const FOLD_OVERHEAD: u32 = 3;

/// What the actor tells its shipper.
pub(super) enum Cmd {
    Committed { no: u64, wal_end: u64, files: bool },
    Rebased,
    Flush(oneshot::Sender<Result<String, PersistError>>),
}

type FlushReply = oneshot::Sender<Result<String, PersistError>>;

/// Everything the shipper starts from, after a claim and restore.
pub(crate) struct ShipperInit {
    pub(crate) store: Arc<dyn ObjectStore>,
    /// What the claim has spent of its request budget.
    pub(crate) meter: BudgetMeter,
    pub(crate) actor_id: String,
    pub(crate) prefix: ActorPrefix,
    /// The manifest as claimed.
    pub(crate) cell: ManifestCell,
    pub(crate) generation: u32,
    pub(crate) manifest: Manifest,
    pub(crate) files: FileIndex,
    pub(crate) dir: std::path::PathBuf,
    pub(crate) mode: DurabilityMode,
    pub(crate) compact_min_wal_bytes: u64,
    pub(crate) max_files_bytes: u64,
}

pub(super) struct Shipper {
    store: Arc<dyn ObjectStore>,
    meter: BudgetMeter,
    actor_id: String,
    prefix: ActorPrefix,
    cell: ManifestCell,
    generation: u32,
    manifest: Manifest,
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
    /// A newer generation (this one) owns the actor: nothing more is shipped.
    fenced_by: Option<u32>,
    status: watch::Sender<ReplicaStatus>,
    compact_min_wal_bytes: u64,
    max_files_bytes: u64,
}

impl Shipper {
    pub(super) fn new(
        init: ShipperInit,
        status: watch::Sender<ReplicaStatus>,
    ) -> Result<Self, PersistError> {
        let paths = LocalPaths::new(&init.dir);
        let wal_header = if init.manifest.wal.len > 0 {
            Some(read_header(&paths.wal)?)
        } else {
            None
        };
        Ok(Self {
            store: init.store,
            meter: init.meter,
            actor_id: init.actor_id,
            prefix: init.prefix,
            cell: init.cell,
            generation: init.generation,
            manifest: init.manifest,
            files: init.files,
            paths,
            wal_header,
            tag: random_tag(),
            needs_base: false,
            target: None,
            files_dirty: false,
            fenced_by: None,
            status,
            compact_min_wal_bytes: init.compact_min_wal_bytes,
            max_files_bytes: init.max_files_bytes,
        })
    }

    pub(super) async fn run(
        mut self,
        mut cmds: mpsc::UnboundedReceiver<Cmd>,
        mode: DurabilityMode,
    ) {
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

    fn accept(&mut self, cmd: Cmd, flushes: &mut Vec<FlushReply>) {
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

    async fn ship_and_report(&mut self, flushes: Vec<FlushReply>) {
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
                s.budget_spent = self.meter.spent();
            }),
            Err(err) => {
                tracing::error!(error = %err, "shipping actor data failed");
                if let PersistError::Fenced { theirs, .. } = err {
                    self.fenced_by = Some(*theirs);
                }
                let fenced = self.fenced_by.is_some();
                self.status.send_modify(|s| {
                    s.budget_spent = self.meter.spent();
                    s.failed = s.failed.max(pending.unwrap_or(0));
                    s.error = Some(err.to_string().into());
                    s.fenced |= fenced;
                });
            }
        }
        let outcome = result
            .map(|()| self.manifest.content_id())
            .map_err(Arc::new);
        for reply in flushes {
            let _ = reply.send(outcome.clone().map_err(PersistError::Shipped));
        }
    }

    /// At least [`FOLD_ON_STOP_SEGMENTS`] segments over a snapshot no larger than the
    /// compaction threshold, when the budget (if any) can pay for it: one upload of a small
    /// database at the stop saves a request per segment at every later cold start.
    fn worth_folding_on_stop(&self) -> bool {
        let snapshot = self.manifest.snapshot.as_ref().map_or(0, |s| s.size);
        let segments = self.manifest.wal.segments;
        segments >= FOLD_ON_STOP_SEGMENTS
            && snapshot <= self.compact_min_wal_bytes
            && self.meter.affords(segments.saturating_add(FOLD_OVERHEAD))
    }

    /// The chain outgrew its snapshot (or, with a budget, the next restore's share of it),
    /// and folding it leaves the budget's reserve for stopping.
    fn wants_compaction(&self) -> bool {
        let snapshot = self.manifest.snapshot.as_ref().map_or(0, |s| s.size);
        let segments = self.manifest.wal.segments;
        let due = self.manifest.wal.len >= self.compact_min_wal_bytes.max(snapshot);
        self.meter.affords(segments.saturating_add(FOLD_OVERHEAD))
            && (due || self.meter.chain_too_long(segments))
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
        Err(PersistError::ManifestKeptMoving {
            rounds: ROUNDS_PER_SHIP,
        })
    }

    /// One upload round: a new snapshot if needed, the new WAL bytes, changed files, then the
    /// manifest. Nothing is acknowledged unless the manifest write succeeds. `Ok(false)`: the
    /// stored manifest is a later one of this claim's own (a write whose reply was lost), now
    /// adopted as the base; the round must be done again from it.
    async fn ship_round(&mut self) -> Result<bool, PersistError> {
        if let Some(theirs) = self.fenced_by {
            return Err(PersistError::Fenced {
                actor_id: self.actor_id.clone(),
                ours: self.generation,
                theirs,
            });
        }
        let mut next = self.manifest.clone();
        next.generation = self.generation;
        next.seq += 1;
        let mut superseded = Vec::new();
        let uploads = Uploads {
            store: &self.store,
            prefix: &self.prefix,
            paths: &self.paths,
            generation: self.generation,
            tag: &self.tag,
        };
        if self.needs_base || next.snapshot.is_none() {
            superseded = uploads.start_chain(&mut next).await?;
        }
        if let Some((_, end)) = self.target
            && end > next.wal.len
        {
            uploads
                .ship_segment(&mut next, end, &mut self.wal_header)
                .await?;
        }
        let new_files = self.ship_files(&mut next, &mut superseded).await?;
        let unchanged = next.snapshot == self.manifest.snapshot
            && next.wal == self.manifest.wal
            && next.files == self.manifest.files;
        if !unchanged {
            match self.cell.advance(&next).await? {
                Advance::Written => self.manifest = next,
                Advance::Behind(current, etag) => {
                    tracing::warn!(
                        seq = current.seq,
                        "the stored manifest is a lost write of this instance's own; continuing from it"
                    );
                    // Its files index is what the store now holds: compare the next scan to it.
                    // Only once that is read does the cell swap against it.
                    self.files = match &current.files {
                        Some(index) => files::read_index(&self.store, index).await?,
                        None => FileIndex::new(),
                    };
                    self.manifest = *current;
                    self.cell.adopt(etag);
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
                delete_quietly(store, &key).await;
            })
            .await;
        if let Some(index) = new_files {
            let previous = std::mem::replace(&mut self.files, index);
            files::delete_unused(&self.store, &self.prefix, &previous, &self.files).await;
        }
        Ok(true)
    }

    /// Scans the mount if the actor touched it and uploads what changed into `next`; returns
    /// the new index, if any. The scan reads every file, so it runs off the async workers.
    async fn ship_files(
        &mut self,
        next: &mut Manifest,
        superseded: &mut Vec<String>,
    ) -> Result<Option<FileIndex>, PersistError> {
        if !self.files_dirty {
            return Ok(None);
        }
        let mount =
            disk::Mount::open(&self.paths.files).map_err(io("open files", &self.paths.files))?;
        let quota = self.max_files_bytes;
        let (mount, scanned) = crate::rt::run_blocking(move || {
            let index = files::scan(&mount, quota);
            (mount, index)
        })
        .await?;
        let mut index = scanned?;
        if index == self.files {
            return Ok(None);
        }
        let object =
            files::upload(&self.store, &self.prefix, &mount, &mut index, &self.files).await?;
        if let Some(old) = next.files.replace(object.clone())
            && old.key != object.key
        {
            superseded.push(old.key);
        }
        Ok(Some(index))
    }
}

async fn tick(ticker: &mut Option<crate::rt::Interval>) {
    match ticker {
        Some(ticker) => {
            ticker.tick().await;
        }
        None => std::future::pending().await,
    }
}

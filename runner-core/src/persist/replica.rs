//! Shipping a running actor's WAL to the object store, and the durability status its output
//! gate waits on.
//!
//! The actor task owns the SQLite connection; a shipper task per actor owns the manifest.
//! After every commit that grew the WAL the actor reports `(commit number, WAL length)`; the
//! shipper uploads the bytes since its last upload as one create-only segment, then advances
//! the manifest by compare-and-swap. Commits reported while an upload is in flight go out
//! together in the next one (group commit). In strict mode the actor holds every reply and
//! event until the shipper reports its commit durable.

mod shipper;
mod status;
mod upload;

use tokio::sync::{mpsc, oneshot, watch};

use crate::disk;

use super::error::{PersistError, io};
use super::local::LocalPaths;
use shipper::{Cmd, Shipper};

pub(crate) use shipper::ShipperInit;
pub use status::{DurabilityMode, ReplicaStatus};

/// Starts the shipper task and returns the actor's handle to it.
pub(crate) fn spawn(init: ShipperInit) -> Result<Replica, PersistError> {
    let paths = LocalPaths::new(&init.dir);
    let reported_end = init.manifest.wal.len;
    let mode = init.mode;
    let (cmds, rx) = mpsc::unbounded_channel();
    // The starting status is the channel's initial value, not a change: a change wakes the
    // actor's loop (and a spent budget would have it ask to sleep before its first request).
    let (status_tx, status) = watch::channel(ReplicaStatus {
        budget_spent: init.meter.spent(),
        ..ReplicaStatus::default()
    });
    let shipper = Shipper::new(init, status_tx)?;
    crate::rt::spawn(shipper.run(rx, mode));
    Ok(Replica {
        link: Some(Link {
            cmds,
            status,
            mode,
            paths,
            reported_end,
        }),
        latest: 0,
    })
}

/// The actor's side of its durability: reports commits, says when outputs may leave. Every
/// actor has one; without an object store it is [`Replica::local`], which ships nothing and
/// holds nothing back.
pub struct Replica {
    link: Option<Link>,
    latest: u64,
}

/// The channel to a running shipper.
struct Link {
    cmds: mpsc::UnboundedSender<Cmd>,
    status: watch::Receiver<ReplicaStatus>,
    mode: DurabilityMode,
    paths: LocalPaths,
    reported_end: u64,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("mode", &self.link.as_ref().map(|link| link.mode))
            .field("latest", &self.latest)
            .finish_non_exhaustive()
    }
}

impl Replica {
    /// An actor whose data stays on the local disk: nothing is shipped, and its outputs never
    /// wait.
    pub fn local() -> Self {
        Self {
            link: None,
            latest: 0,
        }
    }

    /// Whether the actor's writes are shipped to an object store (its WAL is then kept, not
    /// checkpointed).
    pub fn is_replicated(&self) -> bool {
        self.link.is_some()
    }

    /// Records a commit if it wrote anything (or touched files); returns the number of the
    /// latest commit, which every output produced from now on waits for.
    pub fn after_commit(&mut self, files_touched: bool) -> u64 {
        let Some(link) = &mut self.link else {
            return self.latest;
        };
        let end = disk::len(&link.paths.wal).unwrap_or(0);
        if end != link.reported_end || files_touched {
            self.latest += 1;
            link.reported_end = end;
            let _ = link.cmds.send(Cmd::Committed {
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
        self.link
            .as_ref()
            .is_some_and(|link| link.mode == DurabilityMode::Strict)
    }

    /// The current status (a local replica's never changes).
    pub fn status(&self) -> ReplicaStatus {
        self.link
            .as_ref()
            .map(|link| link.status.borrow().clone())
            .unwrap_or_default()
    }

    /// Waits for the status to change; `false` once the shipper is gone. A local replica's
    /// status never changes.
    pub async fn changed(&mut self) -> bool {
        match &mut self.link {
            Some(link) => link.status.changed().await.is_ok(),
            None => std::future::pending().await,
        }
    }

    /// Ships everything committed so far; returns the persisted content id (empty for a local
    /// replica: there is nothing persisted to name).
    pub async fn flush(&self) -> Result<String, PersistError> {
        let Some(link) = &self.link else {
            return Ok(String::new());
        };
        let (tx, rx) = oneshot::channel();
        link.cmds
            .send(Cmd::Flush(tx))
            .map_err(|_| PersistError::ShipperGone)?;
        rx.await.map_err(|_| PersistError::ShipperGone)?
    }

    /// Folds the WAL into the database file so the shipper starts a new snapshot and chain.
    /// Call it only when everything committed is durable ([`Self::flush`] first); a failure
    /// leaves the chain as it was.
    pub fn rebase(&mut self, db: &rusqlite::Connection) -> Result<(), PersistError> {
        let Some(link) = &mut self.link else {
            return Ok(());
        };
        let (busy, _, _): (i64, i64, i64) =
            db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?;
        let wal_len = disk::len(&link.paths.wal).unwrap_or(0);
        if busy != 0 || wal_len != 0 {
            return Err(PersistError::Checkpoint { wal_len, busy });
        }
        link.reported_end = 0;
        let _ = link.cmds.send(Cmd::Rebased);
        Ok(())
    }

    /// Records that the closed local database is exactly the persisted `content_id`, so the
    /// next start of this actor on this instance skips the download.
    pub fn mark_clean(&self, content_id: &str) -> Result<(), PersistError> {
        let Some(link) = &self.link else {
            return Ok(());
        };
        disk::write(&link.paths.marker, content_id)
            .map_err(io("write persisted marker", &link.paths.marker))
    }
}

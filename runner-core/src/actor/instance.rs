//! The task that hosts one actor instance, whatever runtime its code runs in.
//!
//! One task per instance processes its mailbox in order, so actions never race. Each action
//! runs in a SQLite transaction that also stores the state; events and schedule changes it made
//! take effect only after the commit. With a strict [`Replica`] the replies and events also
//! wait for the commit to be durable in the object store ([`OutputGate`]).

mod connections;
mod queue;

use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::error::{ActorStartError, StorageError};
use crate::persist::Replica;
use crate::rt::{self, Instant};
use crate::storage::{self, close_database};

use super::behavior::{Behavior, Pending, ScheduledFire, Scope};
use super::conns::{ConnId, ConnTable};
use super::context::{ActorMeta, Effects};
use super::definition::ActionError;
use super::factory::{ActorControl, ActorInit};
use super::gate::{Output, OutputGate};
use super::mailbox::{ActorHandle, Caller, Mail, StopError, StopOutcome, Work};
use super::{cron, schedule};
use connections::{Delivery, check_fanout};

const MAILBOX_CAPACITY: usize = 1024;
/// Due scheduled actions run per turn of the instance's loop. Between turns it reads its
/// mailbox, so an action that keeps scheduling itself at once cannot keep a stop from being
/// read.
const SCHEDULES_PER_TURN: usize = 16;
/// How long a stop gives the code's hooks and pending work, in all (RivetKit's
/// `sleepGracePeriod`): the `onDisconnect`s of its connections, then its `run`, `waitUntil` and
/// `keepAwake` work. Past it the rest is dropped.
const STOP_GRACE: Duration = Duration::from_secs(15);
/// The least time between two turns of the code's timers, so timers that re-arm themselves at
/// once cannot keep the instance's loop (and its transactions) busy.
const MIN_TURN_GAP: Duration = Duration::from_millis(10);

pub(crate) struct Instance {
    meta: ActorMeta,
    db: Connection,
    behavior: Box<dyn Behavior>,
    /// The state as last committed, to skip unchanged writes and to roll back failed actions.
    committed: Vec<u8>,
    conns: ConnTable,
    /// Connections the actor disconnected whose `onDisconnect` is still to run.
    closing: Vec<ConnId>,
    control: Arc<dyn ActorControl>,
    next_due: Option<i64>,
    /// What the code has left to do between calls (timers, `keepAwake`, `waitUntil`, `run`).
    pending: Pending,
    last_turn: Option<Instant>,
    idle_sleep: Duration,
    action_timeout: Duration,
    last_activity: Instant,
    sleep_requested: bool,
    destroy_requested: bool,
    /// The start hooks have run: the engine knows the instance.
    booted: bool,
    replica: Replica,
    gate: OutputGate,
    /// Clients waiting for their queue message to be completed.
    queue_waiters: queue::QueueWaiters,
    /// A commit sent queue messages (or the actor started with some): the code waiting for
    /// them is to get a turn.
    queue_kick: bool,
    /// When it last got one: turns for the queue are spaced like timer turns.
    last_kick: Option<Instant>,
}

/// Loads the actor, runs its start hooks with `behavior` and spawns its task.
pub(crate) fn start(
    name: &str,
    behavior: Box<dyn Behavior>,
    init: ActorInit,
) -> Result<ActorHandle, ActorStartError> {
    let span = tracing::info_span!("actor", actor = name, actor_id = %init.actor_id, generation = init.generation);
    let _entered = span.enter();
    let (tx, rx) = mpsc::channel(MAILBOX_CAPACITY);
    let handle = ActorHandle::new(tx, &init.actor_id, init.generation, init.key.as_deref());
    let instance = Instance::boot(name, behavior, init)?;
    tracing::info!("actor started");
    rt::spawn(instance.run(rx).instrument(span.clone()));
    Ok(handle)
}

impl Instance {
    fn boot(
        name: &str,
        mut behavior: Box<dyn Behavior>,
        init: ActorInit,
    ) -> Result<Self, ActorStartError> {
        let ActorInit {
            namespace,
            actor_id,
            generation,
            key,
            input,
            files,
            idle_sleep,
            action_timeout,
            control,
            replica,
        } = init;
        let mut db = files.db;
        behavior
            .attach(&mut db)
            .map_err(|err| ActorStartError::Hook(err.to_string()))?;
        let stored = storage::load_state(&db)?;
        let mut instance = Self {
            meta: ActorMeta {
                namespace,
                name: name.to_owned(),
                actor_id,
                generation,
                key_parts: super::key::parse_key(key.as_deref()),
                key,
                files_dir: files.files_dir,
            },
            db,
            behavior,
            committed: Vec::new(),
            conns: ConnTable::default(),
            closing: Vec::new(),
            control,
            next_due: None,
            pending: Pending::default(),
            last_turn: None,
            idle_sleep,
            action_timeout,
            last_activity: Instant::now(),
            sleep_requested: false,
            destroy_requested: false,
            queue_waiters: Default::default(),
            queue_kick: false,
            last_kick: None,
            booted: false,
            replica,
            gate: OutputGate::default(),
        };
        match stored {
            Some(bytes) => {
                instance
                    .behavior
                    .load_state(&bytes)
                    .map_err(|err| StorageError::DecodeState(err.message))?;
                instance.committed = bytes;
            }
            None => instance
                .transact(|code, scope| code.create(scope, input.as_deref()))
                .map_err(|err| match err.code.as_str() {
                    "invalid_input" => ActorStartError::BadInput(err.message),
                    _ => ActorStartError::Hook(err.to_string()),
                })?,
        }
        instance
            .transact(|code, scope| code.wake(scope))
            .map_err(|err| ActorStartError::Hook(err.to_string()))?;
        instance.refresh_schedule();
        // Messages left from before a sleep go to the code waiting for them.
        instance.queue_kick = !crate::actor::queue::is_empty(&instance.db).unwrap_or(true);
        instance.booted = true;
        Ok(instance)
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Mail>) {
        loop {
            // What the last step sent to the queue reaches the code waiting for it first.
            self.run_queue_kick();
            let wake_at = self.next_wake();
            tokio::select! {
                mail = rx.recv() => match mail {
                    Some(Mail::Stop { destroy, reply }) => {
                        let _ = reply.send(self.stop(destroy).await);
                        return;
                    }
                    Some(Mail::Work(work)) => {
                        self.handle(work);
                        self.finish_closing();
                    }
                    None => {
                        // The host dropped every handle without a stop: save and close.
                        let _ = self.stop(false).await;
                        return;
                    }
                },
                () = rt::sleep_until_opt(wake_at) => {
                    self.on_timer();
                    self.finish_closing();
                }
                alive = self.replica.changed() => {
                    if alive {
                        self.settle();
                        self.finish_closing();
                        self.compact_if_due().await;
                    } else {
                        let abandoned = self.gate.fail_all("the shipper stopped");
                        self.closing.extend(abandoned);
                        self.finish_closing();
                    }
                }
            }
        }
    }

    fn handle(&mut self, work: Work) {
        self.last_activity = Instant::now();
        match work {
            Work::Action {
                name,
                args,
                caller,
                reply,
            } => {
                let result =
                    self.as_caller(caller, |this, conn| this.run_action(&name, &args, conn));
                self.deliver(Output::Action(reply, result));
            }
            Work::Request {
                request,
                params,
                reply,
            } => {
                let response = self.as_caller(Caller::Http { params }, |this, conn| {
                    this.transact_as(conn, |code, scope| code.request(scope, &request))
                });
                self.deliver(Output::Request(reply, response));
            }
            Work::ConnOpen {
                sink,
                params,
                reply,
            } => {
                // Through the gate: the client learns its connection once the connect
                // hooks' writes are durable.
                let opened = self.open_conn(sink, params);
                self.deliver(Output::Opened(reply, opened));
            }
            Work::Subscribe {
                conn,
                event,
                subscribe,
                reply,
            } => {
                let _ = reply.send(self.subscribe(conn, event, subscribe));
            }
            Work::ConnClose { conn } => self.drop_conn(&conn, false),
            Work::SocketOpen {
                sink,
                params,
                request,
                reply,
            } => {
                let opened = self.open_socket(sink, params, &request);
                self.deliver(Output::Opened(reply, opened));
            }
            Work::SocketMessage {
                conn,
                data,
                binary,
                reply,
            } => {
                self.socket_message(conn, &data, binary);
                let _ = reply.send(());
            }
            Work::SocketClose { conn, code, reason } => self.close_socket(conn, code, reason),
            Work::QueueSend {
                name,
                body,
                wait,
                params,
                reply,
            } => {
                let result = self.as_caller(Caller::Http { params }, |this, conn| {
                    this.queue_send(conn, &name, &body, wait)
                });
                self.deliver(Output::Queued(reply, result));
            }
        }
    }

    fn run_action(
        &mut self,
        name: &str,
        args: &[u8],
        conn: Option<ConnId>,
    ) -> Result<Vec<u8>, ActionError> {
        let started = Instant::now();
        let limit = self.action_timeout;
        let result = self.transact_as(conn, |code, scope| {
            let output = code.action(scope, name, args)?;
            // Checked before the commit: a late action's writes and events are refused.
            if started.elapsed() > limit {
                return Err(ActionError::new(
                    "actor",
                    "action_timed_out",
                    format!("`{name}` ran longer than the action timeout of {limit:?}"),
                ));
            }
            Ok(output)
        });
        if let Err(err) = &result {
            tracing::debug!(action = name, error = %err, "action failed");
        }
        result
    }

    /// [`Self::transact`] for connection `conn` (`c.conn`).
    fn transact_as<R>(
        &mut self,
        conn: Option<ConnId>,
        f: impl FnOnce(&mut dyn Behavior, &mut Scope<'_>) -> Result<R, ActionError>,
    ) -> Result<R, ActionError> {
        self.conns.set_current(conn);
        let result = self.transact(f);
        self.conns.set_current(None);
        result
    }

    /// Runs `f` in one transaction with the state; commits state, rows, connection changes and
    /// effects together, or rolls all of them back.
    fn transact<R>(
        &mut self,
        f: impl FnOnce(&mut dyn Behavior, &mut Scope<'_>) -> Result<R, ActionError>,
    ) -> Result<R, ActionError> {
        let mut effects = Effects::default();
        let tx = self.db.transaction()?;
        let result = {
            let mut scope = Scope {
                db: &tx,
                effects: &mut effects,
                meta: &self.meta,
                conns: &mut self.conns,
            };
            f(self.behavior.as_mut(), &mut scope)
        };
        let result = match effects.overflow.take() {
            Some(err) => Err(err),
            None => result.and_then(|value| check_fanout(&self.conns, &effects).map(|()| value)),
        };
        let committed = result.and_then(|value| {
            let bytes = self.behavior.encode_state()?;
            // The first state (create) is not a change, as in RivetKit.
            if bytes != self.committed && !self.committed.is_empty() {
                on_state_change(
                    self.behavior.as_mut(),
                    &mut self.conns,
                    &self.meta,
                    &tx,
                    &mut effects,
                    &bytes,
                )?;
            }
            if bytes != self.committed {
                storage::save_state(&tx, &bytes).map_err(ActionError::internal)?;
            }
            tx.commit()?;
            Ok((value, bytes))
        });
        self.refresh_pending();
        match committed {
            Ok((value, bytes)) => {
                self.committed = bytes;
                self.conns.commit();
                self.replica.after_commit(effects.files_touched.get());
                self.apply(effects);
                Ok(value)
            }
            Err(err) => {
                self.rollback_state();
                self.conns.rollback();
                Err(err)
            }
        }
    }

    /// Reads what the code has pending after a call. The idle timer starts again when the last
    /// `keepAwake` settles.
    fn refresh_pending(&mut self) {
        let pending = self.behavior.pending();
        if self.pending.keep_awake && !pending.keep_awake {
            self.last_activity = Instant::now();
        }
        self.pending = pending;
    }

    /// A turn for the code's timers, when one is due: in a transaction like an action's, its
    /// writes and events through the output gate. It is not activity: timers alone do not keep
    /// an actor awake (`keepAwake` does).
    fn run_turn_if_due(&mut self) {
        if self.next_turn().is_none_or(|at| at > Instant::now()) {
            return;
        }
        let result = self.transact(|code, scope| code.turn(scope));
        // Measured from the turn's end, so a long turn is not followed by another at once.
        self.last_turn = Some(Instant::now());
        if let Err(err) = result {
            tracing::warn!(error = %err, "a turn of the actor's timers failed; its writes are undone");
        }
    }

    fn rollback_state(&mut self) {
        if self.committed.is_empty() {
            return;
        }
        if let Err(err) = self.behavior.load_state(&self.committed) {
            tracing::error!(error = %err, "restore committed state after rollback");
        }
    }

    fn apply(&mut self, mut effects: Effects) {
        let done = std::mem::take(&mut effects.queue_done);
        self.after_queue_commit(done, effects.queue_sent);
        if !effects.events.is_empty() {
            connections::address(&self.conns, &mut effects.events);
            self.deliver(Output::Events(effects.events));
        }
        if effects.schedule_changed {
            self.refresh_schedule();
        }
        if effects.destroy_requested {
            self.request_destroy();
        } else if effects.sleep_requested {
            self.request_sleep();
        }
    }

    /// Sends `output` now, or holds it until the writes before it are durable.
    fn deliver(&mut self, output: Output) {
        if self.replica.gates_output() {
            self.gate.hold(self.replica.latest(), output);
            self.settle();
        } else {
            output.send(&mut Delivery::new(&mut self.conns, &mut self.closing));
        }
    }

    /// Releases (or fails) held outputs according to the shipper's progress.
    fn settle(&mut self) {
        let status = self.replica.status();
        self.gate.settle(
            &status,
            &mut Delivery::new(&mut self.conns, &mut self.closing),
        );
        if status.fenced && !self.sleep_requested {
            tracing::warn!("a newer generation owns this actor: stopping");
            self.request_sleep();
        }
        if status.budget_spent && !self.sleep_requested {
            tracing::info!(
                "this start's object-store request budget is nearly spent: asking to sleep, \
                 the next start continues with a fresh one"
            );
            self.request_sleep();
        }
    }

    /// Folds a long WAL chain into a new snapshot, once everything before it is durable.
    async fn compact_if_due(&mut self) {
        let replica = &mut self.replica;
        let status = replica.status();
        if !status.compact || status.fenced || status.durable < replica.latest() {
            return;
        }
        let compacted = match replica.flush().await {
            Ok(_) => replica.rebase(&self.db),
            Err(err) => Err(err),
        };
        if let Err(err) = compacted {
            tracing::warn!(error = %err, "compaction failed; the WAL chain keeps growing");
        }
    }

    fn refresh_schedule(&mut self) {
        let next = match schedule::next_due(&self.db) {
            Ok(next) => next,
            Err(err) => {
                tracing::error!(error = %err, "read schedule");
                return;
            }
        };
        if next != self.next_due {
            self.next_due = next;
            self.control.set_alarm(next);
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        let due = self.next_due.map(instant_at);
        let turn = self.next_turn();
        let idle = self
            .may_idle()
            .then(|| self.last_activity + self.idle_sleep);
        [due, turn, idle, self.next_kick()]
            .into_iter()
            .flatten()
            .min()
    }

    /// When the code's next turn is due: its earliest timer, at least [`MIN_TURN_GAP`] after
    /// the last turn.
    fn next_turn(&self) -> Option<Instant> {
        let at = instant_at(self.pending.next_turn_ms?);
        Some(match self.last_turn {
            Some(last) => at.max(last + MIN_TURN_GAP),
            None => at,
        })
    }

    /// Whether the idle timer runs: no connection, no `keepAwake`, no sleep asked for yet.
    fn may_idle(&self) -> bool {
        self.conns.is_empty() && !self.pending.keep_awake && !self.sleep_requested
    }

    fn on_timer(&mut self) {
        self.run_turn_if_due();
        self.run_due_schedules();
        let idle = self.last_activity.elapsed() >= self.idle_sleep;
        if idle && self.may_idle() {
            tracing::info!("idle: requesting sleep");
            self.request_sleep();
        }
    }

    fn run_due_schedules(&mut self) {
        for _ in 0..SCHEDULES_PER_TURN {
            let now = schedule::now_ms();
            let ran = match schedule::take_due(&self.db, now) {
                Ok(Some(due)) => self.run_scheduled(due, now),
                Ok(None) => match cron::take_due(&self.db, now) {
                    Ok(Some(due)) => self.run_cron_job(due, now),
                    Ok(None) => false,
                    Err(err) => {
                        tracing::error!(error = %err, "read due cron job");
                        false
                    }
                },
                Err(err) => {
                    tracing::error!(error = %err, "read due schedule");
                    false
                }
            };
            if !ran {
                break;
            }
        }
        self.refresh_schedule();
    }

    /// Runs a one-shot schedule and removes it, whether its action succeeds or not (a failing
    /// one is dropped rather than retried forever). `false` if it could not be removed.
    fn run_scheduled(&mut self, due: schedule::Scheduled, now: i64) -> bool {
        self.last_activity = Instant::now();
        let fire = ScheduledFire {
            kind: "at",
            id: due.id.to_string(),
            name: None,
            scheduled_at_ms: due.at_ms,
            fired_at_ms: now,
        };
        let result = self.transact(|code, scope| {
            schedule::remove(scope.db, due.id)?;
            code.scheduled(scope, &due.action, &due.args, &fire)
        });
        if let Err(err) = result {
            tracing::warn!(action = %due.action, error = %err, "scheduled action failed; dropping it");
            if let Err(err) = schedule::remove(&self.db, due.id) {
                tracing::error!(error = %err, "remove failed scheduled action");
                return false;
            }
        }
        true
    }

    /// Fires a cron job: its action, its history entry and its move to the next occurrence
    /// commit together; a failed action is undone and its failure recorded in a transaction of
    /// its own, so the job moves on either way. `false` if even that could not be written.
    fn run_cron_job(&mut self, due: cron::DueJob, now: i64) -> bool {
        self.last_activity = Instant::now();
        let fire = ScheduledFire {
            kind: due.kind,
            id: due.name.clone(),
            name: Some(due.name.clone()),
            scheduled_at_ms: due.scheduled_at_ms,
            fired_at_ms: now,
        };
        let result = self.transact(|code, scope| {
            let output = code.scheduled(scope, &due.action, &due.args, &fire)?;
            cron::finish(scope.db, &due, now, schedule::now_ms(), None)?;
            Ok(output)
        });
        let Err(err) = result else {
            return true;
        };
        tracing::warn!(job = %due.name, action = %due.action, error = %err.code, "cron job failed");
        // Recorded in a transaction of its own; if even that fails (a full database), the job
        // is only moved on, and failing that removed: a job left due would fire again at once.
        let finished = schedule::now_ms();
        let moved_on = self
            .commit_alone(|db| cron::finish(db, &due, now, finished, Some(&err)))
            .or_else(|_| self.commit_alone(|db| cron::advance(db, &due, finished)))
            .or_else(|err| {
                tracing::error!(job = %due.name, error = %err, "a failed cron job cannot be moved on; removing it");
                self.commit_alone(|db| cron::remove(db, &due.name).map_err(ActionError::from))
            });
        moved_on.is_ok()
    }

    /// Runs `f` in a transaction of its own, outside any call, and commits it.
    fn commit_alone(
        &mut self,
        f: impl FnOnce(&Connection) -> Result<(), ActionError>,
    ) -> Result<(), ActionError> {
        let tx = self.db.transaction()?;
        f(&tx)?;
        tx.commit()?;
        self.replica.after_commit(false);
        Ok(())
    }

    /// Runs `f` (`on_destroy`, or an `on_disconnect` during a destroy) in a transaction that is
    /// rolled back: the data is about to be deleted, and a commit would have the shipper upload
    /// it again while it is deleted. Its events reach the connections still open at once (they
    /// close right after; nothing is left to be durable).
    fn run_discarded(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut dyn Behavior, &mut Scope<'_>) -> Result<(), ActionError>,
    ) {
        let mut effects = Effects::default();
        let result = self
            .db
            .transaction()
            .map_err(ActionError::from)
            .and_then(|tx| {
                let mut scope = Scope {
                    db: &tx,
                    effects: &mut effects,
                    meta: &self.meta,
                    conns: &mut self.conns,
                };
                f(self.behavior.as_mut(), &mut scope)
            });
        self.conns.rollback();
        self.refresh_pending();
        let checked = result.and_then(|()| match effects.overflow.take() {
            Some(err) => Err(err),
            None => check_fanout(&self.conns, &effects),
        });
        match checked {
            Ok(()) if !effects.events.is_empty() => {
                connections::address(&self.conns, &mut effects.events);
                Output::Events(effects.events)
                    .send(&mut Delivery::new(&mut self.conns, &mut self.closing));
            }
            Ok(()) => {}
            Err(err) => tracing::warn!(error = %err, what, "hook failed; its events are dropped"),
        }
    }

    fn request_destroy(&mut self) {
        if !self.booted {
            // The engine does not know the instance yet: a destroy from `on_create`/`on_wake`
            // would race the start. Refused, loudly.
            tracing::warn!(
                "c.destroy() during on_create or on_wake is ignored; call it from an action"
            );
            return;
        }
        if !self.destroy_requested {
            self.destroy_requested = true;
            // A destroyed actor does not also sleep: the stop intent ends it.
            self.sleep_requested = true;
            self.control.request_destroy();
        }
    }

    fn request_sleep(&mut self) {
        if !self.sleep_requested {
            self.sleep_requested = true;
            self.control.request_sleep();
        }
    }

    /// Gives the code's pending `run`, `waitUntil` and `keepAwake` work its timers' turns until
    /// it settles (the abort signal fired with the stop hook) or `until`; what is left then is
    /// dropped with the instance.
    async fn finish_work(&mut self, until: Instant) {
        while self.pending.tracked {
            // Every host call completes at once, so only a timer can move the work on.
            let Some(at) = self.next_turn() else {
                break;
            };
            if at > until {
                break;
            }
            rt::sleep_until(at).await;
            self.run_turn_if_due();
        }
        if self.pending.tracked {
            tracing::warn!(
                "the actor's run, waitUntil or keepAwake work did not finish within the stop's \
                 grace period of {STOP_GRACE:?} (or waits on nothing that can settle it); it is \
                 dropped"
            );
        }
    }

    /// Saves and closes the actor's data: runs `on_sleep`, ships the last writes, closes the
    /// database. On destroy `on_destroy` runs instead, and nothing is shipped: the data is
    /// deleted.
    async fn stop(mut self, destroy: bool) -> StopOutcome {
        // The grace covers the stop hook too, as RivetKit's does.
        let grace = Instant::now() + STOP_GRACE;
        if destroy {
            self.run_discarded("on_destroy", |code, scope| code.destroy(scope));
        } else if let Err(err) = self.transact(|code, scope| code.sleep(scope)) {
            tracing::warn!(error = %err, "on_sleep failed");
        }
        // Every connection ends with the instance (none hibernates yet): `on_disconnect` runs
        // for each, after the stop hook, as in RivetKit.
        self.disconnect_all(destroy, grace);
        if !destroy {
            // On destroy what the work would write is deleted: it is dropped at once.
            self.finish_work(grace).await;
            self.refresh_schedule();
        }
        let flushed = if destroy {
            // Let an upload in flight finish before the data is deleted, or it could land
            // after the deletion and be left behind; held replies are then released.
            if let Err(err) = self.replica.flush().await {
                tracing::warn!(error = %err, "the writes before the destroy were not shipped");
            }
            None
        } else {
            // Files can change outside any commit (a failed call, a guest's WASI write):
            // the last upload rescans them.
            self.replica.after_commit(true);
            Some(final_flush(&mut self.replica, &mut self.db).await)
        };
        self.settle();
        // Every connection closes now anyway.
        let _ = self.gate.fail_all("the actor stopped");
        self.conns.close_all("actor stopped");
        close_database(self.db, self.replica.is_replicated()).map_err(StopError::Close)?;
        match flushed {
            Some(Ok(content_id)) => {
                if let Err(err) = self.replica.mark_clean(&content_id) {
                    tracing::warn!(error = %err, "could not mark the local copy as persisted");
                }
            }
            Some(Err(err)) => {
                tracing::error!(error = %err, "the actor's last writes were not persisted");
                return Err(StopError::NotPersisted(err));
            }
            None => {}
        }
        tracing::info!(destroy, "actor stopped");
        Ok(())
    }
}

/// The instant of `at_ms` (milliseconds since the Unix epoch), now if it is past.
fn instant_at(at_ms: i64) -> Instant {
    let wait = at_ms.saturating_sub(schedule::now_ms()).max(0);
    Instant::now() + Duration::from_millis(u64::try_from(wait).unwrap_or(0))
}

/// RivetKit's `onStateChange`, after a call changed the state to `state`, under a savepoint of
/// the call's transaction. A hook that fails, changes the state, or pushes the call's events
/// past their limits has its SQL, events and requests (schedules, sleep, destroy) undone and is
/// logged; the call stands. (What left the sandbox, an outbound request or a file, stays.) If
/// the hook's failure ended the transaction itself, the call fails with it.
fn on_state_change(
    behavior: &mut dyn Behavior,
    conns: &mut ConnTable,
    meta: &ActorMeta,
    tx: &rusqlite::Transaction<'_>,
    effects: &mut Effects,
    state: &[u8],
) -> Result<(), ActionError> {
    if !behavior.has_state_change_hook() {
        return Ok(());
    }
    let mark = effects.mark();
    let conns_mark = conns.mark();
    let outcome = tx
        .execute_batch("SAVEPOINT rivet_on_state_change")
        .map_err(ActionError::from)
        .and_then(|()| {
            let mut scope = Scope {
                db: tx,
                effects,
                meta,
                conns: &mut *conns,
            };
            behavior.state_changed(&mut scope)
        })
        .and_then(|()| match effects.overflow.take() {
            Some(err) => Err(err),
            None => check_fanout(conns, effects),
        })
        .and_then(|()| {
            if behavior.encode_state()? == state {
                Ok(())
            } else {
                Err(ActionError::new(
                    "actor",
                    "state_mutation_reentrant",
                    "State mutations are not allowed inside onStateChange.",
                ))
            }
        });
    // A guest write stopped at its deadline cancels the whole transaction, savepoint and all:
    // nothing is left to undo to, and the call cannot commit.
    if tx.is_autocommit() {
        return Err(outcome.err().unwrap_or_else(|| {
            ActionError::internal("the call's transaction ended inside onStateChange")
        }));
    }
    let undo = match outcome {
        Ok(()) => "RELEASE rivet_on_state_change",
        Err(err) => {
            tracing::warn!(error = %err, "onStateChange failed; what it did is undone");
            effects.undo_to(&mark);
            conns.undo_to(conns_mark);
            if let Err(err) = behavior.load_state(state) {
                tracing::error!(error = %err, "restore the state after onStateChange");
            }
            "ROLLBACK TO rivet_on_state_change; RELEASE rivet_on_state_change"
        }
    };
    tx.execute_batch(undo)?;
    Ok(())
}

/// Ships the last writes. Where the local copy is dropped after the stop, a long chain over a
/// small database is folded into a snapshot first, so the next start downloads one object
/// instead of one per segment. A failed fold leaves the chain as it was. `db` is `&mut` only to
/// keep the future `Send`: a `Connection` is not `Sync`.
async fn final_flush(
    replica: &mut Replica,
    db: &mut Connection,
) -> Result<String, crate::persist::PersistError> {
    let content_id = replica.flush().await?;
    if crate::disk::KEEPS_STOPPED_ACTORS || !replica.status().fold_on_stop {
        return Ok(content_id);
    }
    match replica.rebase(db) {
        Ok(()) => replica.flush().await,
        Err(err) => {
            tracing::warn!(error = %err, "could not fold the WAL chain before stopping");
            Ok(content_id)
        }
    }
}

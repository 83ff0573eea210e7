//! What an action sees: the state, the database, and the effects it may request.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::cbor::to_cbor;
use super::conns::{ConnId, ConnRef, ConnTable};
use super::cron;
use super::definition::{ActionError, Actor};
use super::files::Files;
use super::schedule;

/// Identity of a running actor instance.
#[derive(Debug, Clone)]
pub(crate) struct ActorMeta {
    pub(crate) namespace: String,
    /// The registered actor name.
    pub(crate) name: String,
    pub(crate) actor_id: String,
    pub(crate) generation: u32,
    /// The engine's key string, as it arrived (what the wasm world's `key` returns).
    #[cfg_attr(
        not(feature = "wasmtime"),
        allow(dead_code, reason = "only the wasm host reads the engine's key string")
    )]
    pub(crate) key: Option<String>,
    /// The key as RivetKit's API shows it: its parts.
    pub(crate) key_parts: Vec<String>,
    pub(crate) files_dir: std::path::PathBuf,
}

/// Who an event is for.
#[derive(Debug, Clone)]
pub(crate) enum To {
    /// The connections subscribed to it when the call commits (a broadcast). The instance
    /// turns this into [`To::Conns`] at the commit, so a connection that subscribes while the
    /// event waits for durability does not get it.
    Subscribers,
    /// These connections, subscribed or not (RivetKit's `conn.send`).
    Conns(Vec<ConnId>),
}

/// What a call sends out to its clients once it commits, in the order it asked.
#[derive(Debug, Clone)]
pub(crate) enum Outgoing {
    /// An event (CBOR argument list).
    Event { to: To, name: String, args: Vec<u8> },
    /// Closes a connection (RivetKit's `conn.disconnect(reason)`, a raw WebSocket's
    /// `close(code, reason)`).
    Disconnect {
        conn: ConnId,
        code: u16,
        reason: String,
    },
    /// A message on a raw WebSocket (`websocket.send`).
    Frame {
        conn: ConnId,
        data: Vec<u8>,
        binary: bool,
    },
}

/// The longest close reason a WebSocket carries (its close frame holds 123 bytes of reason).
const MAX_CLOSE_REASON_BYTES: usize = 123;

/// Cuts `reason` to what a close frame carries, at a character boundary.
pub(crate) fn cut_close_reason(reason: &mut String) {
    if reason.len() > MAX_CLOSE_REASON_BYTES {
        let mut end = MAX_CLOSE_REASON_BYTES;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
}

/// Effects an action requests; they take effect only if its transaction commits.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// Events and disconnects, in order. Add with [`Effects::broadcast`], [`Effects::send`],
    /// [`Effects::disconnect`].
    pub(crate) events: Vec<Outgoing>,
    /// Bytes in `events`.
    event_bytes: usize,
    /// The call broadcast past the limits: it fails with this.
    pub(crate) overflow: Option<ActionError>,
    pub(crate) schedule_changed: bool,
    pub(crate) sleep_requested: bool,
    /// The actor asked to be destroyed (RivetKit's `c.destroy()`).
    pub(crate) destroy_requested: bool,
    /// The action looked at the files directory, so it may have changed files in it.
    pub(crate) files_touched: std::cell::Cell<bool>,
    /// The call sent queue messages: code waiting for them may now get them.
    pub(crate) queue_sent: bool,
    /// Queue messages the call took out for good (received, or completed with a response):
    /// a client waiting on one hears it once the call commits.
    pub(crate) queue_done: Vec<(i64, Option<Vec<u8>>)>,
}

/// A point in a call's [`Effects`] to undo back to.
pub(crate) struct EffectsMark {
    events: usize,
    event_bytes: usize,
    schedule_changed: bool,
    sleep_requested: bool,
    destroy_requested: bool,
    queue_sent: bool,
    queue_done: usize,
}

/// Events one call may broadcast, and their total size: they are held in memory until the
/// call commits (and, in strict mode, until its writes are durable).
pub(crate) const MAX_EVENTS_PER_CALL: usize = 10_000;
pub(crate) const MAX_EVENT_BYTES_PER_CALL: usize = 16 << 20;

impl Effects {
    /// What can be undone of these effects: the events so far and the requests.
    pub(crate) fn mark(&self) -> EffectsMark {
        EffectsMark {
            events: self.events.len(),
            event_bytes: self.event_bytes,
            schedule_changed: self.schedule_changed,
            sleep_requested: self.sleep_requested,
            destroy_requested: self.destroy_requested,
            queue_sent: self.queue_sent,
            queue_done: self.queue_done.len(),
        }
    }

    /// Forgets what was added since `mark`.
    pub(crate) fn undo_to(&mut self, mark: &EffectsMark) {
        self.events.truncate(mark.events);
        self.event_bytes = mark.event_bytes;
        self.overflow = None;
        self.schedule_changed = mark.schedule_changed;
        self.sleep_requested = mark.sleep_requested;
        self.destroy_requested = mark.destroy_requested;
        self.queue_sent = mark.queue_sent;
        self.queue_done.truncate(mark.queue_done);
    }

    /// Queues an event for every subscribed connection, for after the commit; past the limits
    /// the call is marked to fail.
    pub(crate) fn broadcast(&mut self, name: String, args: Vec<u8>) {
        self.push_event(To::Subscribers, name, args);
    }

    /// Queues an event for connection `to` alone (RivetKit's `conn.send`).
    pub(crate) fn send(&mut self, to: ConnId, name: String, args: Vec<u8>) {
        self.push_event(To::Conns(vec![to]), name, args);
    }

    /// Closes connection `conn` once what the call sent before has left.
    /// The reason is cut to what a close frame carries.
    pub(crate) fn disconnect(&mut self, conn: ConnId, reason: String) {
        self.close_with(conn, 1000, reason);
    }

    /// [`Self::disconnect`] with a close code (a raw WebSocket's `close(code, reason)`).
    pub(crate) fn close_with(&mut self, conn: ConnId, code: u16, mut reason: String) {
        cut_close_reason(&mut reason);
        let bytes = conn.len() + reason.len();
        self.push(bytes, Outgoing::Disconnect { conn, code, reason });
    }

    /// Queues a message for raw WebSocket `conn`, for after the commit.
    pub(crate) fn frame(&mut self, conn: ConnId, data: Vec<u8>, binary: bool) {
        let bytes = conn.len() + data.len();
        self.push(bytes, Outgoing::Frame { conn, data, binary });
    }

    fn push_event(&mut self, to: To, name: String, args: Vec<u8>) {
        let bytes = name.len() + args.len();
        self.push(bytes, Outgoing::Event { to, name, args });
    }

    /// Queues `outgoing` of `bytes`; past the limits the call is marked to fail instead.
    fn push(&mut self, bytes: usize, outgoing: Outgoing) {
        if self.events.len() >= MAX_EVENTS_PER_CALL
            || self.event_bytes + bytes > MAX_EVENT_BYTES_PER_CALL
        {
            self.overflow.get_or_insert_with(too_many_events);
            return;
        }
        self.event_bytes += bytes;
        self.events.push(outgoing);
    }
}

fn too_many_events() -> ActionError {
    ActionError::new(
        "actor",
        "too_many_events",
        format!(
            "a call sends at most {MAX_EVENTS_PER_CALL} events and {MAX_EVENT_BYTES_PER_CALL} \
             bytes"
        ),
    )
}

/// The context of one action or lifecycle hook.
///
/// Everything done through it (state changes, SQL, broadcasts, schedules) belongs to one
/// transaction: if the action returns an error, none of it happens.
pub struct Ctx<'a, A: Actor> {
    pub(crate) state: &'a mut A::State,
    pub(crate) db: &'a rusqlite::Connection,
    pub(crate) effects: &'a mut Effects,
    pub(crate) meta: &'a ActorMeta,
    pub(crate) conns: &'a mut ConnTable,
}

impl<A: Actor> std::fmt::Debug for Ctx<'_, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("actor", &A::NAME)
            .field("actor_id", &self.meta.actor_id)
            .field("generation", &self.meta.generation)
            .finish()
    }
}

impl<A: Actor> Ctx<'_, A> {
    /// The persisted state.
    pub fn state(&self) -> &A::State {
        self.state
    }

    /// The persisted state, for changing it. Changes are saved when the action succeeds.
    pub fn state_mut(&mut self) -> &mut A::State {
        self.state
    }

    /// The actor's SQLite database, inside the action's transaction.
    pub fn sql(&self) -> &rusqlite::Connection {
        self.db
    }

    /// The actor's files, on every target (Workers included). They are persisted with the
    /// actor's data: files changed by an action are uploaded with that action's writes.
    pub fn files(&self) -> Files<'_> {
        self.effects.files_touched.set(true);
        Files::new(&self.meta.files_dir)
    }

    /// The actor's mounted files directory, for code that needs a real path (`std::fs`, a
    /// library that takes a directory). Native targets only: on `wasm32` use [`Self::files`].
    /// It is persisted like [`Self::files`].
    pub fn files_dir(&self) -> &Path {
        self.effects.files_touched.set(true);
        &self.meta.files_dir
    }

    /// The Rivet actor id.
    pub fn actor_id(&self) -> &str {
        &self.meta.actor_id
    }

    /// The engine namespace the actor lives in.
    pub fn namespace(&self) -> &str {
        &self.meta.namespace
    }

    /// The generation of this instance (+1 on every re-allocation).
    pub fn generation(&self) -> u32 {
        self.meta.generation
    }

    /// The actor's key, as RivetKit's `c.key`: its parts (empty for an actor created without
    /// one).
    pub fn key(&self) -> &[String] {
        &self.meta.key_parts
    }

    /// The actor's registered name (RivetKit's `c.name`).
    pub fn name(&self) -> &str {
        &self.meta.name
    }

    /// Broadcasts an event with one argument to every connection subscribed to `name`.
    /// It is sent after the action commits.
    pub fn broadcast<T: Serialize>(&mut self, name: &str, arg: &T) -> Result<(), ActionError> {
        let args = to_cbor(&[arg]).map_err(ActionError::internal)?;
        self.effects.broadcast(name.to_owned(), args);
        match &self.effects.overflow {
            Some(err) => Err(err.clone()),
            None => Ok(()),
        }
    }

    /// Runs `action` with `args` (a tuple of positional arguments) after `delay`, even if the
    /// actor sleeps meanwhile: the engine wakes it with an alarm. Returns the schedule's id
    /// (RivetKit's `c.schedule.after`). At most 1 000 schedules are pending at once.
    pub fn schedule_after<T: Serialize>(
        &mut self,
        delay: Duration,
        action: &str,
        args: &T,
    ) -> Result<String, ActionError> {
        let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        self.schedule_at(schedule::now_ms().saturating_add(delay_ms), action, args)
    }

    /// Runs `action` at `at_ms` (milliseconds since the Unix epoch); returns the schedule's id.
    pub fn schedule_at<T: Serialize>(
        &mut self,
        at_ms: i64,
        action: &str,
        args: &T,
    ) -> Result<String, ActionError> {
        let args = to_cbor(args).map_err(ActionError::internal)?;
        let id = schedule::insert(self.db, at_ms, action, &args)?;
        self.effects.schedule_changed = true;
        Ok(id)
    }

    /// Cancels the pending schedule `id` (RivetKit's `c.schedule.cancel`); `false` if it already
    /// ran or never existed. Rolled back with the action, like the schedule itself.
    pub fn cancel_schedule(&mut self, id: &str) -> Result<bool, ActionError> {
        let cancelled = schedule::cancel(self.db, id)?;
        self.effects.schedule_changed |= cancelled;
        Ok(cancelled)
    }

    /// The pending schedule `id`, if any (RivetKit's `c.schedule.get`).
    pub fn schedule(&self, id: &str) -> Result<Option<schedule::ScheduledEvent>, ActionError> {
        schedule::get(self.db, id)
    }

    /// Every pending schedule, soonest first (RivetKit's `c.schedule.list`).
    pub fn schedules(&self) -> Result<Vec<schedule::ScheduledEvent>, ActionError> {
        schedule::list(self.db)
    }

    /// Creates or replaces the recurring job `name` (RivetKit's `c.cron.set` and
    /// `c.cron.every`): it calls `action` with `args` on `cadence` until deleted, waking the
    /// actor when it sleeps. Setting a job again with the same cadence keeps its next
    /// occurrence. `max_history` fires are kept (100 by default, at most 1 000, 0 for none).
    /// Jobs count against the 1 000 schedules an actor may hold.
    pub fn cron_set<T: Serialize>(
        &mut self,
        name: &str,
        cadence: &cron::Cadence,
        action: &str,
        args: &T,
        max_history: Option<i64>,
    ) -> Result<(), ActionError> {
        let args = to_cbor(args).map_err(ActionError::internal)?;
        cron::set(
            self.db,
            name,
            action,
            &args,
            cadence,
            max_history,
            schedule::now_ms(),
        )?;
        self.effects.schedule_changed = true;
        Ok(())
    }

    /// Deletes the job `name` and its history (RivetKit's `c.cron.delete`); `false` if there
    /// was none.
    pub fn cron_delete(&mut self, name: &str) -> Result<bool, ActionError> {
        let deleted = cron::delete(self.db, name)?;
        self.effects.schedule_changed |= deleted;
        Ok(deleted)
    }

    /// The job `name`, if any (RivetKit's `c.cron.get`).
    pub fn cron_job(&self, name: &str) -> Result<Option<cron::CronJob>, ActionError> {
        cron::get(self.db, name)
    }

    /// Every job, the next to fire first (RivetKit's `c.cron.list`).
    pub fn cron_jobs(&self) -> Result<Vec<cron::CronJob>, ActionError> {
        cron::list(self.db)
    }

    /// The latest fires of `name`, newest first (RivetKit's `c.cron.history`; 20 unless
    /// `limit` says otherwise, at most 1 000).
    pub fn cron_history(
        &self,
        name: &str,
        limit: Option<i64>,
    ) -> Result<Vec<cron::CronFire>, ActionError> {
        cron::history(self.db, name, limit)
    }

    /// The connection this call runs for (RivetKit's `c.conn`): the client's WebSocket for an
    /// action it called, the short-lived connection of an HTTP action, the new connection in
    /// [`Actor::on_connect`], the closing one in [`Actor::on_disconnect`]. `None` for scheduled
    /// actions and lifecycle hooks.
    pub fn conn(&self) -> Option<ConnRef<'_>> {
        self.conns
            .current()
            .map(|(id, conn)| ConnRef::new(id, conn))
    }

    /// Sets the state of [`Self::conn`] (RivetKit's `conn.state = ...`, or what
    /// `createConnState` returns when set in [`Actor::on_connect`]). Kept in memory while the
    /// connection is open, at most 64 KiB encoded; undone with a failed call.
    pub fn set_conn_state<T: Serialize>(&mut self, state: &T) -> Result<(), ActionError> {
        let Some(id) = self.conns.current_id().cloned() else {
            return Err(ActionError::new(
                "actor",
                "no_connection",
                "this call runs for no connection",
            ));
        };
        let bytes = to_cbor(state).map_err(ActionError::internal)?;
        self.conns.set_state(&id, bytes)
    }

    /// Every open connection (RivetKit's `c.conns`).
    pub fn conns(&self) -> impl Iterator<Item = ConnRef<'_>> {
        self.conns.iter().map(|(id, conn)| ConnRef::new(id, conn))
    }

    /// Sends an event with one argument to connection `conn` alone, whether it subscribed to
    /// `name` or not (RivetKit's `conn.send`). It is sent after the call commits; a connection
    /// that is gone by then is skipped.
    pub fn send<T: Serialize>(
        &mut self,
        conn: &str,
        name: &str,
        arg: &T,
    ) -> Result<(), ActionError> {
        let args = to_cbor(&[arg]).map_err(ActionError::internal)?;
        self.effects.send(conn.into(), name.to_owned(), args);
        match &self.effects.overflow {
            Some(err) => Err(err.clone()),
            None => Ok(()),
        }
    }

    /// Closes connection `conn` after the call commits and what it sent has left (RivetKit's
    /// `conn.disconnect(reason)`); [`Actor::on_disconnect`] then runs for it.
    pub fn disconnect(&mut self, conn: &str, reason: &str) {
        self.effects.disconnect(conn.into(), reason.to_owned());
    }

    /// Sends a message on raw WebSocket `conn` (one [`Actor::on_websocket`] accepted) after the
    /// call commits: text (`binary` false; it must be UTF-8) or binary. Past the call's event
    /// limits the call fails.
    pub fn socket_send(
        &mut self,
        conn: &str,
        data: &[u8],
        binary: bool,
    ) -> Result<(), ActionError> {
        self.check_socket(conn)?;
        if !binary && std::str::from_utf8(data).is_err() {
            return Err(ActionError::new(
                "actor",
                "invalid_websocket_message",
                "a text message must be UTF-8",
            ));
        }
        self.effects.frame(conn.into(), data.to_vec(), binary);
        match &self.effects.overflow {
            Some(err) => Err(err.clone()),
            None => Ok(()),
        }
    }

    /// Closes raw WebSocket `conn` with `code` (1000, or 3000 to 4999) and `reason` after the
    /// call commits and what it sent has left; [`Actor::on_websocket_close`] and
    /// [`Actor::on_disconnect`] then run for it.
    pub fn socket_close(&mut self, conn: &str, code: u16, reason: &str) -> Result<(), ActionError> {
        self.check_socket(conn)?;
        if code != 1000 && !(3000..=4999).contains(&code) {
            return Err(ActionError::new(
                "actor",
                "invalid_close_code",
                format!("a WebSocket is closed with 1000 or 3000 to 4999, not {code}"),
            ));
        }
        self.effects
            .close_with(conn.into(), code, reason.to_owned());
        Ok(())
    }

    fn check_socket(&self, conn: &str) -> Result<(), ActionError> {
        if self.conns.is_socket(conn) {
            return Ok(());
        }
        Err(ActionError::new(
            "actor",
            "not_a_websocket",
            format!("`{conn}` is not an open raw WebSocket of this actor"),
        ))
    }

    /// Asks the engine to destroy this actor once the action commits (RivetKit's `c.destroy()`):
    /// it stops, [`Actor::on_destroy`] runs, and its data is deleted everywhere. Rolled back with
    /// a failed action.
    pub fn destroy(&mut self) {
        self.effects.destroy_requested = true;
    }

    /// Asks the engine to put this actor to sleep once the action completes.
    pub fn sleep(&mut self) {
        self.effects.sleep_requested = true;
    }
}

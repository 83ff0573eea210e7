//! The instance's side of client connections: opening one through the actor's connection hooks,
//! the short-lived connection of an HTTP call, subscriptions, disconnects, and delivering what a
//! call sent to whom it was for.

use std::sync::Arc;

use crate::actor::behavior::{Behavior, Scope};
use crate::actor::conns::{Conn, ConnId, ConnTable, MAX_CONN_PARAMS_BYTES, new_conn_id};
use crate::actor::context::{Effects, Outgoing, To};
use crate::actor::definition::{ActionError, RawRequest};
use crate::actor::gate::Deliver;
use crate::actor::mailbox::{Caller, ConnSink};
use crate::rt::Instant;

use super::Instance;

/// What one call's events may add up to once copied to every subscribed connection.
const MAX_FANOUT_BYTES_PER_CALL: usize = 64 << 20;
/// Client connections one actor holds at once.
const MAX_CONNECTIONS: usize = 1_000;
/// Events one connection subscribes to.
const MAX_SUBSCRIPTIONS: usize = 128;
/// The longest event name a connection may subscribe to.
const MAX_EVENT_NAME_BYTES: usize = 256;
/// What one recipient of an event costs beyond its bytes (its id held until delivery, the
/// frame queued), counted against [`MAX_FANOUT_BYTES_PER_CALL`].
const RECIPIENT_OVERHEAD_BYTES: usize = 64;

/// The transport of an HTTP call's connection: there is none to send to.
struct NoTransport;

impl ConnSink for NoTransport {
    fn event(&self, _name: &str, _args: &[u8]) {}
    fn close(&self, _reason: &str) {}
}

impl Instance {
    /// Runs `f` for `caller`, with the connection it is for (`c.conn`): its own, none, or for an
    /// HTTP call one opened for it (the hooks may refuse it) and closed after it.
    pub(super) fn as_caller<R>(
        &mut self,
        caller: Caller,
        f: impl FnOnce(&mut Self, Option<ConnId>) -> Result<R, ActionError>,
    ) -> Result<R, ActionError> {
        match caller {
            Caller::Runner => f(self, None),
            Caller::Conn(id) if self.conns.contains(&id) => f(self, Some(id)),
            Caller::Conn(_) => Err(ActionError::new(
                "actor",
                "connection_closed",
                "the connection was closed",
            )),
            Caller::Http { params } => {
                // Outside the connection limit: it lives for this call alone, and sockets held
                // open by strangers must not lock out every HTTP call.
                let id = self.admit(Conn::new(Arc::new(NoTransport), params), false)?;
                let result = f(self, Some(id.clone()));
                self.drop_conn(&id, false);
                result
            }
        }
    }

    /// Opens a connection: RivetKit's `onBeforeConnect(c, params)`, then its first state
    /// (`connState`/`createConnState`), then it is listed and `onConnect(c, conn)` runs, all in
    /// one transaction. Any of them failing refuses the connection with its error.
    pub(super) fn open_conn(
        &mut self,
        sink: Arc<dyn ConnSink>,
        params: Vec<u8>,
    ) -> Result<ConnId, ActionError> {
        self.admit(Conn::new(sink, params), true)
    }

    /// Opens a raw WebSocket: a connection as [`Self::open_conn`] opens one, then RivetKit's
    /// `onWebSocket(c, websocket)` in a transaction of its own. A handler that fails closes it
    /// again (the client sees 1011 and the error's `group.code`).
    pub(super) fn open_socket(
        &mut self,
        sink: Arc<dyn ConnSink>,
        params: Vec<u8>,
        request: &RawRequest,
    ) -> Result<ConnId, ActionError> {
        if !self.behavior.has_socket_handler() {
            return Err(ActionError::new(
                "actor",
                "not_found",
                "this actor has no WebSocket handler (onWebSocket)",
            ));
        }
        let id = self.admit(Conn::socket(sink, params), true)?;
        let opened = self.transact_as(Some(id.clone()), |code, scope| {
            code.socket_opened(scope, request)
        });
        if let Err(error) = opened {
            self.drop_conn(&id, false);
            return Err(error);
        }
        Ok(id)
    }

    /// A message from raw WebSocket `id`'s client, handled in a transaction for that
    /// connection. A handler's failure is logged; a socket the code no longer knows (its
    /// sandbox was replaced after a limit) is closed.
    pub(super) fn socket_message(&mut self, id: ConnId, data: &[u8], binary: bool) {
        if !self.conns.is_socket(&id) {
            return;
        }
        let handled = self.transact_as(Some(id.clone()), |code, scope| {
            code.socket_message(scope, data, binary)
        });
        match handled {
            Ok(true) => {}
            Ok(false) => {
                if let Some(conn) = self.conns.get(&id) {
                    conn.sink.close_with(1011, "actor.websocket_lost");
                }
                self.drop_conn(&id, false);
            }
            Err(error) => tracing::warn!(error = %error, "a WebSocket message handler failed"),
        }
    }

    /// Raw WebSocket `id`'s client closed it: its `close` event, then `onDisconnect`.
    pub(super) fn close_socket(&mut self, id: ConnId, code: u16, reason: String) {
        if let Some(socket) = self
            .conns
            .get_mut(&id)
            .and_then(|conn| conn.socket.as_mut())
        {
            socket.closed.get_or_insert((code, reason));
        }
        self.drop_conn(&id, false);
    }

    /// Lists `conn` through the connection hooks (see [`Self::open_conn`]); `counted` against
    /// the connection limit.
    fn admit(&mut self, conn: Conn, counted: bool) -> Result<ConnId, ActionError> {
        if counted && self.conns.len() >= MAX_CONNECTIONS {
            return Err(ActionError::new(
                "actor",
                "too_many_connections",
                format!("this actor already has {MAX_CONNECTIONS} connections"),
            ));
        }
        if conn.params.len() > MAX_CONN_PARAMS_BYTES {
            return Err(ActionError::new(
                "actor",
                "conn_params_too_large",
                format!("connection params are at most {MAX_CONN_PARAMS_BYTES} bytes"),
            ));
        }
        let id = new_conn_id();
        if !self.behavior.has_conn_hooks() {
            self.conns.insert(id.clone(), conn);
            self.conns.commit();
            return Ok(id);
        }
        let new_id = id.clone();
        self.transact_as(Some(id.clone()), move |code, scope| {
            code.before_connect(scope, &conn.params)?;
            let state = code.create_conn_state(scope, &conn.params)?;
            scope.conns.insert(new_id.clone(), conn);
            scope.conns.set_state(&new_id, state)?;
            code.connected(scope)
        })?;
        Ok(id)
    }

    /// Ends connection `id` (its transport closed, or the actor disconnected it): it leaves
    /// `c.conns`, then `onDisconnect(c, conn)` runs, its writes discarded if `discard` (the
    /// actor is being destroyed). Unknown ids (already gone) are ignored.
    pub(super) fn drop_conn(&mut self, id: &str, discard: bool) {
        if self.conns.begin_leave(id).is_some() {
            self.run_disconnect_hook(discard);
            self.conns.end_leave();
        }
    }

    /// A raw WebSocket's `close` event, then `onDisconnect`, for the connection that is
    /// leaving, each in a transaction of its own.
    fn run_disconnect_hook(&mut self, discard: bool) {
        let socket_close = self.conns.leaving_socket().map(|socket| {
            // Closed by the actor's stop: a normal closure.
            socket.closed.clone().unwrap_or((1000, String::new()))
        });
        let leaving = self.conns.leaving_id();
        if let Some((code, reason)) = socket_close {
            self.run_leaving(
                leaving.clone(),
                discard,
                "the WebSocket close handler",
                |c, s| c.socket_closed(s, code, &reason),
            );
        }
        if self.behavior.has_conn_hooks() {
            self.run_leaving(leaving, discard, "on_disconnect", |c, s| c.disconnected(s));
        }
    }

    /// Runs `hook` for the leaving connection `leaving`: discarded on destroy, else committed
    /// (a failure is logged).
    fn run_leaving(
        &mut self,
        leaving: Option<ConnId>,
        discard: bool,
        what: &'static str,
        hook: impl FnOnce(&mut dyn Behavior, &mut Scope<'_>) -> Result<(), ActionError>,
    ) {
        if discard {
            self.conns.set_current(leaving);
            self.run_discarded(what, hook);
            self.conns.set_current(None);
        } else if let Err(err) = self.transact_as(leaving, hook) {
            tracing::warn!(error = %err, "{what} failed");
        }
    }

    /// Runs `onDisconnect` for the connections the actor disconnected, in order; what they
    /// disconnect in turn is handled too.
    pub(super) fn finish_closing(&mut self) {
        let mut next = 0;
        while next < self.closing.len() {
            let id = self.closing[next].clone();
            next += 1;
            self.drop_conn(&id, false);
        }
        self.closing.clear();
    }

    /// Disconnects every connection because the actor stops (none hibernates): `onDisconnect`
    /// runs for each until the stop's `deadline` (past it the rest close without one); on
    /// destroy in transactions that are rolled back, as `onDestroy`'s is. The connections stay
    /// reachable for what was sent to them before, until the stop closes them.
    pub(super) fn disconnect_all(&mut self, destroy: bool, deadline: Instant) {
        let mut skipped = 0usize;
        // Those the actor itself disconnected first, then the others.
        let mut order = std::mem::take(&mut self.closing);
        order.extend(self.conns.ids());
        for id in order {
            if self.conns.begin_leave(&id).is_none() {
                continue;
            }
            if Instant::now() < deadline {
                self.run_disconnect_hook(destroy);
            } else {
                skipped += 1;
            }
            self.conns.retire_leaving();
            // What a hook disconnected is in `order` already (every connection is).
            self.closing.clear();
        }
        if skipped > 0 {
            tracing::warn!(
                skipped,
                "the stop's time for on_disconnect ran out; the other connections closed without it"
            );
        }
    }

    /// Subscribes connection `id` to `event` (or unsubscribes it), within the limits; a
    /// declared event's `canSubscribe` runs first, in a transaction for that connection, and
    /// `false` refuses with RivetKit's `auth.forbidden`.
    pub(super) fn subscribe(
        &mut self,
        id: ConnId,
        event: String,
        on: bool,
    ) -> Result<(), ActionError> {
        let Some(conn) = self.conns.get_mut(&id) else {
            return Ok(());
        };
        if !on {
            conn.subscriptions.remove(&event);
            return Ok(());
        }
        if event.len() > MAX_EVENT_NAME_BYTES {
            return Err(ActionError::new(
                "actor",
                "invalid_event_name",
                format!("event names are at most {MAX_EVENT_NAME_BYTES} bytes"),
            ));
        }
        if conn.subscriptions.len() >= MAX_SUBSCRIPTIONS && !conn.subscriptions.contains(&event) {
            return Err(ActionError::new(
                "actor",
                "too_many_subscriptions",
                format!("a connection subscribes to at most {MAX_SUBSCRIPTIONS} events"),
            ));
        }
        // Asked again for an event it has, the hook does not run again.
        if self.behavior.has_subscribe_hooks() && !conn.subscriptions.contains(&event) {
            let allowed = self.transact_as(Some(id.clone()), |code, scope| {
                code.can_subscribe(scope, &event)
            })?;
            if !allowed {
                return Err(ActionError::new("auth", "forbidden", "Forbidden"));
            }
        }
        // The hook may have disconnected it.
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.subscriptions.insert(event);
        }
        Ok(())
    }
}

/// Sends what a call produced: broadcasts to the subscribed connections, direct sends to their
/// connection, disconnects by closing the transport (their `onDisconnect` runs next, from
/// `closing`).
pub(super) struct Delivery<'a> {
    conns: &'a mut ConnTable,
    closing: &'a mut Vec<ConnId>,
}

impl<'a> Delivery<'a> {
    pub(super) fn new(conns: &'a mut ConnTable, closing: &'a mut Vec<ConnId>) -> Self {
        Self { conns, closing }
    }
}

impl Deliver for Delivery<'_> {
    fn deliver(&mut self, outgoing: Outgoing) {
        match outgoing {
            Outgoing::Event {
                to: To::Subscribers,
                name,
                args,
            } => {
                for (_, conn) in self.conns.iter() {
                    if conn.subscriptions.contains(&name) {
                        conn.sink.event(&name, &args);
                    }
                }
            }
            Outgoing::Event {
                to: To::Conns(ids),
                name,
                args,
            } => {
                for id in ids {
                    if let Some(conn) = self.conns.reachable(&id) {
                        conn.sink.event(&name, &args);
                    }
                }
            }
            Outgoing::Frame {
                conn: id,
                data,
                binary,
            } => {
                if let Some(conn) = self.conns.reachable(&id) {
                    conn.sink.frame(&data, binary);
                }
            }
            Outgoing::Disconnect {
                conn: id,
                code,
                reason,
            } => {
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.sink.close_with(code, &reason);
                    if let Some(socket) = &mut conn.socket {
                        socket.closed.get_or_insert((code, reason));
                    }
                    if !self.closing.contains(&id) {
                        self.closing.push(id);
                    }
                }
            }
        }
    }

    fn abandoned(&mut self, conn: ConnId) {
        if !self.closing.contains(&conn) {
            self.closing.push(conn);
        }
    }
}

/// Turns each broadcast into the connections subscribed to it now, at the commit: an event is
/// for the audience its call saw (and [`check_fanout`] counted), not one that subscribed while
/// it waited for durability.
pub(super) fn address(conns: &ConnTable, events: &mut [Outgoing]) {
    for outgoing in events {
        if let Outgoing::Event { to, name, .. } = outgoing
            && matches!(to, To::Subscribers)
        {
            *to = To::Conns(subscribers(conns, name).cloned().collect());
        }
    }
}

fn subscribers<'a>(conns: &'a ConnTable, name: &'a str) -> impl Iterator<Item = &'a ConnId> {
    conns
        .iter()
        .filter(move |(_, conn)| conn.subscriptions.contains(name))
        .map(|(id, _)| id)
}

/// Each event is encoded and queued once per connection it goes to: what a call sends, times
/// its audience, is bounded too.
pub(super) fn check_fanout(conns: &ConnTable, effects: &Effects) -> Result<(), ActionError> {
    let mut total = 0usize;
    for outgoing in &effects.events {
        let Outgoing::Event { to, name, args } = outgoing else {
            continue;
        };
        let audience = match to {
            To::Conns(ids) => ids.len(),
            To::Subscribers => subscribers(conns, name).count(),
        };
        let each = name.len() + args.len() + RECIPIENT_OVERHEAD_BYTES;
        total = total.saturating_add(each.saturating_mul(audience));
    }
    if total > MAX_FANOUT_BYTES_PER_CALL {
        return Err(ActionError::new(
            "actor",
            "too_many_events",
            format!(
                "a call's events, sent to each connection they are for, add up to {total} bytes; the limit is {MAX_FANOUT_BYTES_PER_CALL}"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::conns::Conn;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Client(Mutex<Vec<String>>);
    impl ConnSink for Client {
        fn event(&self, name: &str, _: &[u8]) {
            self.0.lock().unwrap().push(name.to_owned());
        }
        fn close(&self, reason: &str) {
            self.0.lock().unwrap().push(format!("close:{reason}"));
        }
    }

    fn subscribed(table: &mut ConnTable, id: &str, event: &str) -> Arc<Client> {
        let client = Arc::new(Client::default());
        let mut conn = Conn::new(client.clone(), Vec::new());
        conn.subscriptions.insert(event.to_owned());
        table.insert(id.into(), conn);
        table.commit();
        client
    }

    #[test]
    fn a_broadcast_goes_to_the_audience_of_its_commit() {
        let mut table = ConnTable::default();
        let early = subscribed(&mut table, "early", "news");
        let mut effects = Effects::default();
        effects.broadcast("news".into(), vec![0x80]);
        effects.disconnect("early".into(), "x".repeat(500));
        address(&table, &mut effects.events);
        // While the event waits for durability, another connection subscribes.
        let late = subscribed(&mut table, "late", "news");
        let mut closing = Vec::new();
        for outgoing in effects.events {
            Delivery::new(&mut table, &mut closing).deliver(outgoing);
        }
        let seen = early.0.lock().unwrap().clone();
        assert_eq!(seen[0], "news");
        assert_eq!(
            seen[1].len(),
            "close:".len() + 123,
            "a close reason fits its frame"
        );
        assert!(
            late.0.lock().unwrap().is_empty(),
            "not in the commit's audience"
        );
        assert_eq!(closing, [ConnId::from("early")]);
    }

    #[test]
    fn every_recipient_counts_against_the_fanout_limit() {
        let mut table = ConnTable::default();
        for i in 0..1000 {
            subscribed(&mut table, &format!("c{i}"), "tick");
        }
        let mut effects = Effects::default();
        // Small events, but each of the 1 000 subscribers holds a copy.
        for _ in 0..2000 {
            effects.broadcast("tick".into(), vec![0x80]);
        }
        assert_eq!(
            check_fanout(&table, &effects).unwrap_err().code,
            "too_many_events"
        );
        effects.events.truncate(100);
        check_fanout(&table, &effects).unwrap();
    }
}

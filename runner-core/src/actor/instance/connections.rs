//! The instance's side of client connections: opening one through the actor's connection hooks,
//! the short-lived connection of an HTTP call, subscriptions, disconnects, and delivering what a
//! call sent to whom it was for.

use std::sync::Arc;

use crate::actor::conns::{Conn, ConnId, ConnTable, MAX_CONN_PARAMS_BYTES, new_conn_id};
use crate::actor::context::{Effects, Outgoing};
use crate::actor::definition::ActionError;
use crate::actor::gate::Deliver;
use crate::actor::mailbox::{Caller, ConnSink};

use super::Instance;

/// What one call's events may add up to once copied to every subscribed connection.
const MAX_FANOUT_BYTES_PER_CALL: usize = 64 << 20;
/// Client connections one actor holds at once.
const MAX_CONNECTIONS: usize = 1_000;
/// Events one connection subscribes to.
const MAX_SUBSCRIPTIONS: usize = 128;
/// The longest event name a connection may subscribe to.
const MAX_EVENT_NAME_BYTES: usize = 256;

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
                let id = self.open_conn(Arc::new(NoTransport), params)?;
                let result = f(self, Some(id.clone()));
                self.drop_conn(&id);
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
        if self.conns.len() >= MAX_CONNECTIONS {
            return Err(ActionError::new(
                "actor",
                "too_many_connections",
                format!("this actor already has {MAX_CONNECTIONS} connections"),
            ));
        }
        if params.len() > MAX_CONN_PARAMS_BYTES {
            return Err(ActionError::new(
                "actor",
                "conn_params_too_large",
                format!("connection params are at most {MAX_CONN_PARAMS_BYTES} bytes"),
            ));
        }
        let id = new_conn_id();
        let conn = Conn::new(sink, params);
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
    /// `c.conns`, then `onDisconnect(c, conn)` runs. Unknown ids (already gone) are ignored.
    pub(super) fn drop_conn(&mut self, id: &str) {
        let Some(id) = self.conns.begin_leave(id) else {
            return;
        };
        if self.behavior.has_conn_hooks()
            && let Err(err) = self.transact_as(Some(id), |code, scope| code.disconnected(scope))
        {
            tracing::warn!(error = %err, "on_disconnect failed");
        }
        self.conns.end_leave();
    }

    /// Runs `onDisconnect` for the connections the actor disconnected, in order; what they
    /// disconnect in turn is handled too.
    pub(super) fn finish_closing(&mut self) {
        while !self.closing.is_empty() {
            let id = self.closing.remove(0);
            self.drop_conn(&id);
        }
    }

    /// Disconnects every connection because the actor stops. On destroy their `onDisconnect`
    /// runs in a transaction that is rolled back, as `onDestroy` does.
    pub(super) fn disconnect_all(&mut self, destroy: bool) {
        self.finish_closing();
        for id in self.conns.ids() {
            let Some(id) = self.conns.begin_leave(&id) else {
                continue;
            };
            let hooks = self.behavior.has_conn_hooks();
            if hooks && destroy {
                self.conns.set_current(Some(id));
                self.run_discarded("on_disconnect", |code, scope| code.disconnected(scope));
                self.conns.set_current(None);
            } else if hooks
                && let Err(err) = self.transact_as(Some(id), |code, scope| code.disconnected(scope))
            {
                tracing::warn!(error = %err, "on_disconnect failed");
            }
            self.conns.retire_leaving();
        }
        // What the hooks disconnected is already leaving.
        self.closing.clear();
    }

    pub(super) fn subscribe(
        &mut self,
        conn: ConnId,
        event: String,
        on: bool,
    ) -> Result<(), ActionError> {
        let Some(conn) = self.conns.get_mut(&conn) else {
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
        conn.subscriptions.insert(event);
        Ok(())
    }
}

/// Sends what a call produced: broadcasts to the subscribed connections, direct sends to their
/// connection, disconnects by closing the transport (their `onDisconnect` runs next, from
/// `closing`).
pub(super) struct Delivery<'a> {
    conns: &'a ConnTable,
    closing: &'a mut Vec<ConnId>,
}

impl<'a> Delivery<'a> {
    pub(super) fn new(conns: &'a ConnTable, closing: &'a mut Vec<ConnId>) -> Self {
        Self { conns, closing }
    }
}

impl Deliver for Delivery<'_> {
    fn deliver(&mut self, outgoing: Outgoing) {
        match outgoing {
            Outgoing::Event {
                to: None,
                name,
                args,
            } => {
                for conn in self.conns.all_reachable() {
                    if conn.subscriptions.contains(&name) {
                        conn.sink.event(&name, &args);
                    }
                }
            }
            Outgoing::Event {
                to: Some(to),
                name,
                args,
            } => {
                if let Some(conn) = self.conns.reachable(&to) {
                    conn.sink.event(&name, &args);
                }
            }
            Outgoing::Disconnect { conn: id, reason } => {
                if let Some(conn) = self.conns.get(&id) {
                    conn.sink.close(&reason);
                    if !self.closing.contains(&id) {
                        self.closing.push(id);
                    }
                }
            }
        }
    }
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
            Some(_) => 1,
            None => conns
                .iter()
                .filter(|(_, conn)| conn.subscriptions.contains(name))
                .count(),
        };
        total = total.saturating_add((name.len() + args.len()).saturating_mul(audience));
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

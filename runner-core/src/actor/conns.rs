//! Client connections (RivetKit's `Conn`): how the instance reaches each one, and what actor code
//! sees of it: an id, the params the client sent, a state of its own, and `c.conn` (the
//! connection the current call runs for).
//!
//! Connection state lives in memory only, as in RivetKit for connections that do not hibernate:
//! a connection ends when the actor stops. A failed call's changes to it are undone with the
//! call's other writes (the table keeps a journal for the call).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::cbor::from_cbor;
use super::definition::ActionError;
use super::mailbox::ConnSink;

/// Identifies a client connection: a UUID v4, as RivetKit's connection ids.
pub type ConnId = Arc<str>;

/// The most a client's connection params may take, JSON-encoded (RivetKit's limit).
pub(crate) const MAX_CONN_PARAMS_BYTES: usize = 4 << 10;
/// The most one connection's state may take, encoded.
pub(crate) const MAX_CONN_STATE_BYTES: usize = 64 << 10;

/// A new connection id.
pub(crate) fn new_conn_id() -> ConnId {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Ids only need to be unique within the instance; the clock is enough then.
        let nanos = web_time::SystemTime::now()
            .duration_since(web_time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes = nanos.to_le_bytes();
    }
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    id.hyphenated().to_string().into()
}

/// One open connection.
pub(crate) struct Conn {
    pub(crate) sink: Arc<dyn ConnSink>,
    pub(crate) subscriptions: HashSet<String>,
    /// The client's params as CBOR; empty when it sent none.
    pub(crate) params: Vec<u8>,
    /// The connection's state as CBOR; empty while undefined.
    pub(crate) state: Vec<u8>,
    /// Set for a raw WebSocket (RivetKit's `onWebSocket`) rather than a client connection.
    pub(crate) socket: Option<SocketEnd>,
}

/// A raw WebSocket's side of a connection: how it closed, once it has.
#[derive(Debug, Default)]
pub(crate) struct SocketEnd {
    /// How it closed, once it has: the code and reason of whichever side closed it first
    /// (the client, or the actor's `close`); `None` while open.
    pub(crate) closed: Option<(u16, String)>,
}

impl Conn {
    pub(crate) fn new(sink: Arc<dyn ConnSink>, params: Vec<u8>) -> Self {
        Self {
            sink,
            subscriptions: HashSet::new(),
            params,
            state: Vec::new(),
            socket: None,
        }
    }

    /// A raw WebSocket's connection.
    pub(crate) fn socket(sink: Arc<dyn ConnSink>, params: Vec<u8>) -> Self {
        Self {
            socket: Some(SocketEnd::default()),
            ..Self::new(sink, params)
        }
    }
}

/// What to undo if the current call fails.
enum Undo {
    Inserted(ConnId),
    State(ConnId, Vec<u8>),
}

/// The instance's open connections.
#[derive(Default)]
pub(crate) struct ConnTable {
    open: HashMap<ConnId, Conn>,
    /// The connection the current call runs for.
    current: Option<ConnId>,
    /// A connection being disconnected: no longer listed, still `c.conn` in `onDisconnect`.
    leaving: Option<(ConnId, Conn)>,
    /// Connections disconnected by the actor's stop: no longer listed, but what was sent to
    /// them before still reaches them, until [`ConnTable::close_all`].
    retired: HashMap<ConnId, Conn>,
    journal: Vec<Undo>,
    /// Where the journal stood at the last [`ConnTable::mark`]: a state's value before it is
    /// kept once after it, so the journal grows with the connections a call touches, not with
    /// its writes.
    marked: usize,
}

/// A point in the current call's connection changes to undo back to.
pub(crate) struct ConnMark(usize);

impl ConnTable {
    pub(crate) fn len(&self) -> usize {
        self.open.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.open.contains_key(id)
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Conn> {
        self.open.get(id)
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut Conn> {
        self.open.get_mut(id)
    }

    /// Connection `id`, open or leaving.
    #[cfg_attr(
        not(feature = "js"),
        allow(dead_code, reason = "JavaScript's conn objects look up by id")
    )]
    pub(crate) fn find(&self, id: &str) -> Option<&Conn> {
        match &self.leaving {
            Some((leaving, conn)) if &**leaving == id => Some(conn),
            _ => self.open.get(id),
        }
    }

    /// The open connections (not one that is leaving).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&ConnId, &Conn)> {
        self.open.iter()
    }

    pub(crate) fn ids(&self) -> Vec<ConnId> {
        self.open.keys().cloned().collect()
    }

    /// The connection the current call runs for (RivetKit's `c.conn`), leaving or not.
    pub(crate) fn current(&self) -> Option<(&ConnId, &Conn)> {
        let id = self.current.as_ref()?;
        match &self.leaving {
            Some((leaving, conn)) if leaving == id => Some((leaving, conn)),
            _ => self.open.get_key_value(id),
        }
    }

    pub(crate) fn current_id(&self) -> Option<&ConnId> {
        self.current.as_ref()
    }

    pub(crate) fn set_current(&mut self, id: Option<ConnId>) {
        self.current = id;
    }

    /// Adds a connection; undone if the current call fails.
    pub(crate) fn insert(&mut self, id: ConnId, conn: Conn) {
        self.journal.push(Undo::Inserted(id.clone()));
        self.open.insert(id, conn);
    }

    /// Sets a connection's state (CBOR); undone if the current call fails. A connection that is
    /// gone (or leaving) takes no state.
    pub(crate) fn set_state(&mut self, id: &str, state: Vec<u8>) -> Result<(), ActionError> {
        if state.len() > MAX_CONN_STATE_BYTES {
            return Err(ActionError::new(
                "actor",
                "conn_state_too_large",
                format!(
                    "a connection's state is at most {MAX_CONN_STATE_BYTES} bytes encoded; keep \
                     larger data in the actor's state or database"
                ),
            ));
        }
        let Some((key, conn)) = self.open.get_key_value(id) else {
            return Ok(());
        };
        if conn.state == state {
            return Ok(());
        }
        let key = key.clone();
        let Some(conn) = self.open.get_mut(id) else {
            return Ok(());
        };
        let before = std::mem::replace(&mut conn.state, state);
        let kept = self.journal[self.marked..]
            .iter()
            .any(|undo| matches!(undo, Undo::State(known, _) if *known == key));
        if !kept {
            self.journal.push(Undo::State(key, before));
        }
        Ok(())
    }

    /// Takes `id` out of the listed connections for its `onDisconnect`; `None` if not open.
    pub(crate) fn begin_leave(&mut self, id: &str) -> Option<ConnId> {
        let (id, conn) = self.open.remove_entry(id)?;
        self.leaving = Some((id.clone(), conn));
        Some(id)
    }

    /// The connection that is leaving, if any.
    pub(crate) fn leaving_id(&self) -> Option<ConnId> {
        self.leaving.as_ref().map(|(id, _)| id.clone())
    }

    /// Whether `id` is an open raw WebSocket.
    pub(crate) fn is_socket(&self, id: &str) -> bool {
        self.open.get(id).is_some_and(|conn| conn.socket.is_some())
    }

    /// The socket side of the connection that is leaving, if it is a raw WebSocket.
    pub(crate) fn leaving_socket(&self) -> Option<&SocketEnd> {
        self.leaving
            .as_ref()
            .and_then(|(_, conn)| conn.socket.as_ref())
    }

    /// Forgets the connection that was leaving.
    pub(crate) fn end_leave(&mut self) -> Option<Conn> {
        self.leaving.take().map(|(_, conn)| conn)
    }

    /// Keeps the connection that was leaving reachable for what is already on its way to it
    /// (the actor is stopping, and its outputs wait for the last upload).
    pub(crate) fn retire_leaving(&mut self) {
        if let Some((id, conn)) = self.leaving.take() {
            self.retired.insert(id, conn);
        }
    }

    /// Where an output for `id` goes: an open connection, or one retired by the stop.
    pub(crate) fn reachable(&self, id: &str) -> Option<&Conn> {
        self.open.get(id).or_else(|| self.retired.get(id))
    }

    /// Closes every connection's transport (the actor stopped).
    pub(crate) fn close_all(&mut self, reason: &str) {
        for conn in self.open.values().chain(self.retired.values()) {
            conn.sink.close(reason);
        }
        self.open.clear();
        self.retired.clear();
    }

    /// The current call committed: its changes stay.
    pub(crate) fn commit(&mut self) {
        self.journal.clear();
        self.marked = 0;
    }

    /// The current call failed: its changes are undone, newest first.
    pub(crate) fn rollback(&mut self) {
        self.undo_to(ConnMark(0));
    }

    /// A point to undo back to within the current call (a hook that may fail on its own).
    pub(crate) fn mark(&mut self) -> ConnMark {
        self.marked = self.journal.len();
        ConnMark(self.marked)
    }

    /// Undoes what the current call changed since `mark`, newest first.
    pub(crate) fn undo_to(&mut self, mark: ConnMark) {
        while self.journal.len() > mark.0 {
            let Some(undo) = self.journal.pop() else {
                break;
            };
            match undo {
                Undo::Inserted(id) => {
                    self.open.remove(&id);
                }
                Undo::State(id, before) => {
                    if let Some(conn) = self.open.get_mut(&id) {
                        conn.state = before;
                    }
                }
            }
        }
        self.marked = self.marked.min(mark.0);
    }
}

/// A connection as native actor code reads it.
#[derive(Clone, Copy)]
pub struct ConnRef<'a> {
    id: &'a ConnId,
    conn: &'a Conn,
}

impl std::fmt::Debug for ConnRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnRef").field("id", &self.id).finish()
    }
}

impl<'a> ConnRef<'a> {
    pub(crate) fn new(id: &'a ConnId, conn: &'a Conn) -> Self {
        Self { id, conn }
    }

    /// The connection's id (a UUID).
    pub fn id(&self) -> &'a str {
        self.id
    }

    /// The params the client connected with, decoded; `None` if it sent none.
    pub fn params<T: DeserializeOwned>(&self) -> Result<Option<T>, ActionError> {
        decode_optional(&self.conn.params, "connection params")
    }

    /// The connection's state, decoded; `None` until one is set.
    pub fn state<T: DeserializeOwned>(&self) -> Result<Option<T>, ActionError> {
        decode_optional(&self.conn.state, "connection state")
    }
}

/// The params a client sent to connect, before the connection exists
/// ([`crate::actor::Actor::on_before_connect`]).
#[derive(Debug, Clone, Copy)]
pub struct ConnParams<'a>(pub(crate) &'a [u8]);

impl ConnParams<'_> {
    /// The params, decoded; `None` if the client sent none.
    pub fn get<T: DeserializeOwned>(&self) -> Result<Option<T>, ActionError> {
        decode_optional(self.0, "connection params")
    }
}

fn decode_optional<T: DeserializeOwned>(
    bytes: &[u8],
    what: &str,
) -> Result<Option<T>, ActionError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    from_cbor(bytes)
        .map(Some)
        .map_err(|e| ActionError::new("actor", "invalid_request", format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nowhere;
    impl ConnSink for Nowhere {
        fn event(&self, _: &str, _: &[u8]) {}
        fn close(&self, _: &str) {}
    }

    fn conn() -> Conn {
        Conn::new(Arc::new(Nowhere), Vec::new())
    }

    #[test]
    fn a_failed_call_undoes_its_connections_and_their_states() {
        let mut table = ConnTable::default();
        table.insert("kept".into(), conn());
        table.set_state("kept", vec![1]).unwrap();
        table.commit();

        table.set_state("kept", vec![2]).unwrap();
        table.set_state("kept", vec![3]).unwrap();
        table.insert("new".into(), conn());
        table.rollback();
        assert!(!table.contains("new"));
        assert_eq!(table.get("kept").unwrap().state, vec![1]);
    }

    #[test]
    fn a_hook_undone_to_its_mark_keeps_what_the_call_did_before() {
        let mut table = ConnTable::default();
        table.insert("a".into(), conn());
        table.commit();
        for n in 1..=100 {
            table.set_state("a", vec![n]).unwrap();
        }
        assert_eq!(table.journal.len(), 1, "one value before per connection");
        let mark = table.mark();
        table.set_state("a", vec![200]).unwrap();
        table.set_state("a", vec![201]).unwrap();
        table.undo_to(mark);
        assert_eq!(table.get("a").unwrap().state, vec![100]);
        table.rollback();
        assert!(table.get("a").unwrap().state.is_empty());
    }

    #[test]
    fn a_leaving_connection_is_current_but_not_listed() {
        let mut table = ConnTable::default();
        let id: ConnId = "a".into();
        table.insert(id.clone(), conn());
        table.commit();
        table.begin_leave("a").unwrap();
        table.set_current(Some(id.clone()));
        assert_eq!(table.current().map(|(id, _)| id.clone()), Some(id));
        assert!(table.is_empty());
        assert!(table.end_leave().is_some());
        assert!(table.current().is_none());
    }

    #[test]
    fn oversized_state_is_refused() {
        let mut table = ConnTable::default();
        table.insert("a".into(), conn());
        let error = table
            .set_state("a", vec![0; MAX_CONN_STATE_BYTES + 1])
            .unwrap_err();
        assert_eq!(error.code, "conn_state_too_large");
    }

    #[test]
    fn ids_are_uuid_v4() {
        let id = new_conn_id();
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_ne!(new_conn_id(), id);
    }
}

//! The actor's WebSockets: `/connect`, a stateful client connection that calls actions and
//! receives events it subscribed to, and on any other path a raw WebSocket for the actor's own
//! `onWebSocket` handler (as RivetKit routes them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rivet_envoy_client::config::{WebSocketHandler, WebSocketMessage, WebSocketSender};

use crate::actor::{ActionError, ActorHandle, ConnId, ConnSink, cut_close_reason};
use crate::client::params;
use crate::client::{
    ActorRoute, ConnectMessage, Encoding, ToClient, decode_to_server, encode_to_client, route_path,
};

/// Frames the sink holds until the connection is open, at most (the connect hooks and other
/// calls may send to the connection before then). Past it the connection closes.
const MAX_FRAMES_BEFORE_OPEN: usize = 1024;

/// A close frame: code and reason.
type Close = (u16, String);

/// Where the socket is. Until it is open (and the `Init` frame sent) frames wait, in order, and
/// so does a close: the engine drops what arrives before its open. After a close nothing is
/// sent.
enum Phase {
    Opening {
        frames: Vec<(Vec<u8>, bool)>,
        close: Option<Close>,
    },
    Open,
    Closed,
}

/// Sends frames to one client in its encoding.
pub(super) struct WsSink {
    sender: WebSocketSender,
    encoding: Encoding,
    phase: Mutex<Phase>,
}

impl WsSink {
    pub(super) fn new(sender: WebSocketSender, encoding: Encoding) -> Self {
        Self {
            sender,
            encoding,
            phase: Mutex::new(Phase::Opening {
                frames: Vec::new(),
                close: None,
            }),
        }
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, message: &ToClient<'_>) {
        let (data, binary) = match encode_to_client(self.encoding, message) {
            Ok(frame) => frame,
            Err(err) => return tracing::error!(error = %err, "encode websocket frame"),
        };
        self.send_frame(data, binary);
    }

    /// Sends a frame as is, once the socket is open.
    fn send_frame(&self, data: Vec<u8>, binary: bool) {
        let mut phase = self.phase();
        match &mut *phase {
            Phase::Opening { close: Some(_), .. } | Phase::Closed => {}
            Phase::Opening { frames, close } if frames.len() >= MAX_FRAMES_BEFORE_OPEN => {
                tracing::warn!("too many frames before the connection opened: closing it");
                *close = Some((1011, "actor.send_failed".to_owned()));
            }
            Phase::Opening { frames, .. } => frames.push((data, binary)),
            // Sent under the lock, so frames leave in the order they were made.
            Phase::Open => self.sender.send(data, binary),
        }
    }

    /// The socket is open: `first` goes out, then what waited, then a close that waited.
    fn open(&self, first: &ToClient<'_>) {
        match encode_to_client(self.encoding, first) {
            Ok(frame) => self.flush(Some(frame)),
            Err(err) => tracing::error!(error = %err, "encode websocket frame"),
        }
    }

    /// The socket is open: `first` (if any) goes out, then what waited, then a close that
    /// waited.
    pub(super) fn flush(&self, first: Option<(Vec<u8>, bool)>) {
        let mut phase = self.phase();
        let Phase::Opening { frames, close } = std::mem::replace(&mut *phase, Phase::Open) else {
            return;
        };
        for (data, binary) in first.into_iter().chain(frames) {
            self.sender.send(data, binary);
        }
        if let Some((code, reason)) = close {
            self.sender.close(Some(code), Some(reason));
            *phase = Phase::Closed;
        }
    }

    /// Closes the socket, after what was sent before; at once if it is open. The reason is cut
    /// to what a close frame holds.
    pub(super) fn close_with(&self, code: u16, mut reason: String) {
        cut_close_reason(&mut reason);
        let mut phase = self.phase();
        match &mut *phase {
            Phase::Opening { close, .. } => {
                close.get_or_insert((code, reason));
            }
            Phase::Open => {
                self.sender.close(Some(code), Some(reason));
                *phase = Phase::Closed;
            }
            Phase::Closed => {}
        }
    }

    /// An error frame, for the action `action_id` or for the connection.
    fn error(&self, error: &ActionError, action_id: Option<u64>) {
        self.send(&ToClient::Error { error, action_id });
    }
}

impl ConnSink for WsSink {
    fn event(&self, name: &str, args: &[u8]) {
        self.send(&ToClient::Event { name, args });
    }

    fn close(&self, reason: &str) {
        self.close_with(1000, reason.to_owned());
    }

    fn frame(&self, data: &[u8], binary: bool) {
        self.send_frame(data.to_vec(), binary);
    }

    fn close_with(&self, code: u16, reason: &str) {
        WsSink::close_with(self, code, reason.to_owned());
    }
}

pub(super) async fn open(
    actor: Option<ActorHandle>,
    path: &str,
    headers: &HashMap<String, String>,
    sender: WebSocketSender,
) -> anyhow::Result<WebSocketHandler> {
    let actor = actor.ok_or_else(|| anyhow::anyhow!("actor not found on this runner"))?;
    if route_path(path) != ActorRoute::Connect {
        return Ok(super::raw_socket::open(actor, path, headers, sender).await);
    }
    let encoding = Encoding::from_name(subprotocol_value(headers, "rivet_encoding."));
    let sink = Arc::new(WsSink::new(sender, encoding));
    let opened = match conn_params(headers) {
        Ok(params) => actor.open_conn(sink.clone(), params).await,
        Err(error) => Err(error),
    };
    let conn = match opened {
        Ok(conn) => conn,
        Err(error) => return Ok(refused(sink, error)),
    };

    let init_sink = sink.clone();
    let init_actor_id = actor.actor_id().to_owned();
    let init_conn = conn.clone();
    let on_message_actor = actor.clone();
    let on_message_sink = sink.clone();
    let on_message_conn = conn.clone();
    Ok(WebSocketHandler {
        on_open: Some(Box::new(move |_sender| {
            Box::pin(async move {
                init_sink.open(&ToClient::Init {
                    actor_id: &init_actor_id,
                    connection_id: &init_conn,
                });
            })
        })),
        on_message: Box::new(move |message: WebSocketMessage| {
            let actor = on_message_actor.clone();
            let sink = on_message_sink.clone();
            let conn = on_message_conn.clone();
            Box::pin(async move { on_frame(&actor, conn, &sink, &message.data).await })
        }),
        on_close: Box::new(move |_code, _reason| {
            let actor = actor.clone();
            let conn = conn.clone();
            Box::pin(async move { actor.close_conn(conn).await })
        }),
    })
}

/// A connection the actor refused: as RivetKit does, the socket opens, carries one `Error`
/// frame for no action, and closes with 1011 and `group.code`.
fn refused(sink: Arc<WsSink>, error: ActionError) -> WebSocketHandler {
    WebSocketHandler {
        on_open: Some(Box::new(move |_sender| {
            Box::pin(async move {
                sink.close_with(1011, format!("{}.{}", error.group, error.code));
                sink.open(&ToClient::Error {
                    error: &error,
                    action_id: None,
                });
            })
        })),
        on_message: Box::new(|_| Box::pin(async {})),
        on_close: Box::new(|_, _| Box::pin(async {})),
    }
}

/// The client's connection params: the `rivet_conn_params.` subprotocol entry, the
/// percent-encoded JSON RivetKit's clients send, as CBOR (empty when absent).
pub(super) fn conn_params(headers: &HashMap<String, String>) -> Result<Vec<u8>, ActionError> {
    let Some(encoded) = subprotocol_value(headers, "rivet_conn_params.") else {
        return Ok(Vec::new());
    };
    params::from_subprotocol(encoded)
}

async fn on_frame(actor: &ActorHandle, conn: ConnId, sink: &WsSink, data: &[u8]) {
    let limit = super::fetch::MAX_INCOMING_MESSAGE;
    if data.len() > limit {
        let error = ActionError::new(
            "message",
            "incoming_too_long",
            format!("the message is larger than {limit} bytes"),
        );
        return sink.error(&error, None);
    }
    match decode_to_server(sink.encoding, data) {
        Ok(ConnectMessage::Action { id, name, args }) => {
            match actor.conn_action(conn, &name, args).await {
                Ok(output) => sink.send(&ToClient::ActionResponse {
                    id,
                    output: &output,
                }),
                Err(error) => sink.error(&error, Some(id)),
            }
        }
        // A subscription refused (RivetKit's `canSubscribe`, or a limit) closes the connection
        // with 1011 and `group.code`, as RivetKit does; the client fails its pending actions
        // with that error.
        Ok(ConnectMessage::Subscribe { event, subscribe }) => {
            if let Err(error) = actor.subscribe(conn.clone(), event, subscribe).await {
                sink.close_with(1011, format!("{}.{}", error.group, error.code));
                // Gone for the actor at once, not when the gateway echoes the close.
                actor.close_conn(conn).await;
            }
        }
        Err(detail) => {
            let error = ActionError::new(
                "message",
                "invalid",
                format!("could not decode message: {detail}"),
            );
            sink.error(&error, None);
        }
    }
}

/// Finds `prefix<value>` among the `sec-websocket-protocol` entries.
fn subprotocol_value<'a>(headers: &'a HashMap<String, String>, prefix: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("sec-websocket-protocol"))
        .and_then(|(_, value)| {
            value
                .split(',')
                .map(str::trim)
                .find_map(|entry| entry.strip_prefix(prefix))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_comes_from_the_subprotocol_list() {
        let headers = HashMap::from([(
            "Sec-WebSocket-Protocol".to_owned(),
            "rivet, rivet_encoding.bare, rivet_conn_params.%7B%7D".to_owned(),
        )]);
        assert_eq!(subprotocol_value(&headers, "rivet_encoding."), Some("bare"));
        assert_eq!(subprotocol_value(&HashMap::new(), "rivet_encoding."), None);
    }

    #[test]
    fn params_come_percent_encoded_in_the_subprotocol() {
        let headers = HashMap::from([(
            "sec-websocket-protocol".to_owned(),
            "rivet, rivet_encoding.json, rivet_conn_params.%7B%22name%22%3A%22ada%22%7D".to_owned(),
        )]);
        let params = conn_params(&headers).unwrap();
        assert_eq!(
            crate::actor::cbor_to_json(&params).unwrap(),
            serde_json::json!({"name": "ada"})
        );
        assert!(conn_params(&HashMap::new()).unwrap().is_empty());
        let broken = HashMap::from([(
            "sec-websocket-protocol".to_owned(),
            "rivet_conn_params.%7Bnope".to_owned(),
        )]);
        assert_eq!(conn_params(&broken).unwrap_err().code, "invalid_request");
        let huge = format!("\"{}\"", "x".repeat(5000));
        assert_eq!(
            params::from_json(&huge).unwrap_err().code,
            "conn_params_too_large"
        );
    }
}

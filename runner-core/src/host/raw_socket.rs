//! Raw WebSockets: any actor WebSocket path but `/connect` goes to the actor's own
//! `onWebSocket` handler, as in RivetKit. The socket is a connection of the actor's (its
//! `onBeforeConnect` may refuse it); its messages reach the handler in order, each in a
//! transaction, and what the actor sends leaves through the output gate like events do.

use std::collections::HashMap;
use std::sync::Arc;

use rivet_envoy_client::config::{WebSocketHandler, WebSocketMessage, WebSocketSender};

use super::websocket::{WsSink, conn_params};
use crate::actor::{ActionError, ActorHandle, RawRequest};
use crate::client::Encoding;

/// The largest message a client may send on a raw WebSocket; past it the socket closes with
/// 1009 (message too big). A text message that is not UTF-8 closes it with 1007.
const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// Opens a raw WebSocket on `path` to `actor`; a refusal (its connection hooks, no handler,
/// the handler failing) opens the socket and closes it with 1011 and `group.code`, as RivetKit
/// does.
pub(super) async fn open(
    actor: ActorHandle,
    path: &str,
    headers: &HashMap<String, String>,
    sender: WebSocketSender,
) -> WebSocketHandler {
    // Frames go out as the actor made them; the encoding is not used.
    let sink = Arc::new(WsSink::new(sender, Encoding::Json));
    let request = RawRequest {
        method: "GET".to_owned(),
        path: path.to_owned(),
        headers: headers.clone(),
        body: Vec::new(),
    };
    let opened = match conn_params(headers) {
        Ok(params) => actor.open_socket(sink.clone(), params, request).await,
        Err(error) => Err(error),
    };
    match opened {
        Ok(conn) => {
            let on_message_actor = actor.clone();
            let on_message_sink = sink.clone();
            let on_message_conn = conn.clone();
            WebSocketHandler {
                on_open: Some(Box::new(move |_sender| {
                    Box::pin(async move { sink.flush(None) })
                })),
                on_message: Box::new(move |message: WebSocketMessage| {
                    let actor = on_message_actor.clone();
                    let sink = on_message_sink.clone();
                    let conn = on_message_conn.clone();
                    Box::pin(async move {
                        let refusal = if message.data.len() > MAX_MESSAGE_BYTES {
                            Some((1009, "message.incoming_too_long"))
                        } else if !message.binary && std::str::from_utf8(&message.data).is_err() {
                            Some((1007, "message.invalid_utf8"))
                        } else {
                            None
                        };
                        if let Some((code, reason)) = refusal {
                            sink.close_with(code, reason.to_owned());
                            // Gone for the actor at once, not when the gateway echoes the close.
                            actor.close_socket(conn, code, reason.to_owned()).await;
                            return;
                        }
                        actor
                            .socket_message(conn, message.data, message.binary)
                            .await;
                    })
                }),
                on_close: Box::new(move |code, reason| {
                    let actor = actor.clone();
                    let conn = conn.clone();
                    Box::pin(async move { actor.close_socket(conn, code, reason).await })
                }),
            }
        }
        Err(error) => refused(sink, &error),
    }
}

fn refused(sink: Arc<WsSink>, error: &ActionError) -> WebSocketHandler {
    let reason = format!("{}.{}", error.group, error.code);
    tracing::debug!(error = %error, "raw websocket refused");
    WebSocketHandler {
        on_open: Some(Box::new(move |_sender| {
            Box::pin(async move {
                sink.close_with(1011, reason);
                sink.flush(None);
            })
        })),
        on_message: Box::new(|_| Box::pin(async {})),
        on_close: Box::new(|_, _| Box::pin(async {})),
    }
}

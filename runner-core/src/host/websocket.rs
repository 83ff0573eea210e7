//! The `/connect` WebSocket: a stateful client connection that calls actions and receives
//! events it subscribed to.

use std::collections::HashMap;
use std::sync::Arc;

use rivet_envoy_client::config::{WebSocketHandler, WebSocketMessage, WebSocketSender};

use crate::actor::{ActionError, ActorHandle, ConnSink};
use crate::client::{
    ActorRoute, ConnectMessage, Encoding, ToClient, decode_to_server, encode_to_client, route_path,
};

/// Sends frames to one client in its encoding.
struct WsSink {
    sender: WebSocketSender,
    encoding: Encoding,
}

impl WsSink {
    fn send(&self, message: &ToClient<'_>) {
        match encode_to_client(self.encoding, message) {
            Ok((data, binary)) => self.sender.send(data, binary),
            Err(err) => tracing::error!(error = %err, "encode websocket frame"),
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
        self.sender.close(Some(1000), Some(reason.to_owned()));
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
        anyhow::bail!("no websocket route for `{path}`; only /connect is supported");
    }
    let encoding = Encoding::from_name(subprotocol_value(headers, "rivet_encoding."));
    let sink = Arc::new(WsSink { sender, encoding });
    let conn = actor.open_conn(sink.clone()).await?;
    let connection_id = format!("{}-{conn}", actor.generation());

    let init_sink = sink.clone();
    let init_actor_id = actor.actor_id().to_owned();
    let on_message_actor = actor.clone();
    let on_message_sink = sink.clone();
    Ok(WebSocketHandler {
        on_open: Some(Box::new(move |_sender| {
            Box::pin(async move {
                init_sink.send(&ToClient::Init {
                    actor_id: &init_actor_id,
                    connection_id: &connection_id,
                });
            })
        })),
        on_message: Box::new(move |message: WebSocketMessage| {
            let actor = on_message_actor.clone();
            let sink = on_message_sink.clone();
            Box::pin(async move { on_frame(&actor, conn, &sink, &message.data).await })
        }),
        on_close: Box::new(move |_code, _reason| {
            let actor = actor.clone();
            Box::pin(async move { actor.close_conn(conn).await })
        }),
    })
}

async fn on_frame(actor: &ActorHandle, conn: u64, sink: &WsSink, data: &[u8]) {
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
        Ok(ConnectMessage::Action { id, name, args }) => match actor.action(&name, args).await {
            Ok(output) => sink.send(&ToClient::ActionResponse {
                id,
                output: &output,
            }),
            Err(error) => sink.error(&error, Some(id)),
        },
        Ok(ConnectMessage::Subscribe { event, subscribe }) => {
            if let Err(error) = actor.subscribe(conn, event, subscribe).await {
                sink.error(&error, None);
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
}

//! A client of actors through the engine gateway, speaking RivetKit's client protocol.

use anyhow::{Context as _, bail};
use futures_util::{SinkExt, StreamExt};
use rivetkit_client_protocol as proto;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use vbare::OwnedVersionedData;

/// The answer to an HTTP action.
#[derive(Debug, Clone)]
pub struct ActionReply {
    /// HTTP status.
    pub status: u16,
    /// The generation that answered (`x-rivet-actor-generation`).
    pub generation: Option<u32>,
    /// `output` on success, the error object otherwise.
    pub body: Value,
}

/// Calls actors through `/gateway/{actorId}/...`.
#[derive(Debug, Clone)]
pub struct Gateway {
    base: String,
    http: reqwest::Client,
}

impl Gateway {
    pub(crate) fn new(base: String) -> Self {
        Self {
            base,
            http: reqwest::Client::new(),
        }
    }

    /// Calls an action with JSON encoding; `Ok(output)` on 200.
    pub async fn action(&self, actor_id: &str, name: &str, args: Value) -> anyhow::Result<Value> {
        let reply = self.action_reply(actor_id, name, args).await?;
        if reply.status != 200 {
            bail!("action {name} → {}: {}", reply.status, reply.body);
        }
        Ok(reply.body)
    }

    /// Calls an action with JSON encoding and returns status, generation and body.
    pub async fn action_reply(
        &self,
        actor_id: &str,
        name: &str,
        args: Value,
    ) -> anyhow::Result<ActionReply> {
        let body = serde_json::to_vec(&json!({ "args": args }))?;
        let (status, generation, bytes) = self.post_action(actor_id, name, "json", body).await?;
        let value: Value = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "action reply is not JSON: {}",
                String::from_utf8_lossy(&bytes)
            )
        })?;
        let body = if status == 200 {
            value["output"].clone()
        } else {
            value
        };
        Ok(ActionReply {
            status,
            generation,
            body,
        })
    }

    /// Calls an action with the `cbor` or `bare` encoding; returns the output as JSON.
    pub async fn action_encoded(
        &self,
        actor_id: &str,
        name: &str,
        args: Value,
        encoding: &str,
    ) -> anyhow::Result<Value> {
        let args_cbor = to_cbor(&args)?;
        let body = match encoding {
            "cbor" => to_cbor(&json!({ "args": args }))?,
            "bare" => proto::versioned::HttpActionRequest::wrap_latest(proto::HttpActionRequest {
                args: args_cbor,
            })
            .serialize_with_embedded_version(proto::PROTOCOL_VERSION)?,
            other => bail!("unknown encoding {other}"),
        };
        let (status, _, bytes) = self.post_action(actor_id, name, encoding, body).await?;
        if status != 200 {
            bail!("action {name} ({encoding}) → {status}: {bytes:?}");
        }
        match encoding {
            "cbor" => {
                let value: Value = ciborium::from_reader(&bytes[..])?;
                Ok(value["output"].clone())
            }
            _ => {
                let response =
                    proto::versioned::HttpActionResponse::deserialize_with_embedded_version(
                        &bytes,
                    )?;
                Ok(ciborium::from_reader(&response.output[..])?)
            }
        }
    }

    async fn post_action(
        &self,
        actor_id: &str,
        name: &str,
        encoding: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<(u16, Option<u32>, bytes::Bytes)> {
        let response = self
            .http
            .post(format!("{}/gateway/{actor_id}/action/{name}", self.base))
            .header("x-rivet-encoding", encoding)
            .header(
                "content-type",
                if encoding == "json" {
                    "application/json"
                } else {
                    "application/octet-stream"
                },
            )
            .body(body)
            .send()
            .await
            .with_context(|| format!("POST action {name}"))?;
        let status = response.status().as_u16();
        let generation = response
            .headers()
            .get("x-rivet-actor-generation")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        Ok((status, generation, response.bytes().await?))
    }

    /// A raw GET to the actor's `/request/*` handler.
    pub async fn raw_get(&self, actor_id: &str, path: &str) -> anyhow::Result<(u16, String)> {
        let response = self
            .http
            .get(format!("{}/gateway/{actor_id}/request{path}", self.base))
            .send()
            .await?;
        Ok((response.status().as_u16(), response.text().await?))
    }

    /// Opens a `/connect` WebSocket in `encoding` (`json`, `cbor` or `bare`).
    pub async fn connect(&self, actor_id: &str, encoding: &str) -> anyhow::Result<Connection> {
        let url = format!(
            "{}/gateway/{actor_id}/connect",
            self.base.replacen("http", "ws", 1)
        );
        let mut request = url.into_client_request()?;
        request.headers_mut().insert(
            "sec-websocket-protocol",
            format!("rivet, rivet_encoding.{encoding}").parse()?,
        );
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .context("open /connect websocket")?;
        Ok(Connection {
            socket,
            encoding: encoding.to_owned(),
        })
    }
}

/// A `/connect` connection; messages are exchanged as the JSON shape `{"tag", "val"}`.
pub struct Connection {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    encoding: String,
}

impl Connection {
    /// Sends `ActionRequest` or `SubscriptionRequest` (given as `{"tag", "val"}` JSON).
    pub async fn send(&mut self, body: Value) -> anyhow::Result<()> {
        let message = match self.encoding.as_str() {
            "json" => Message::text(json!({ "body": body }).to_string()),
            "cbor" => Message::binary(to_cbor(&json!({ "body": body }))?),
            _ => Message::binary(encode_bare_to_server(&body)?),
        };
        self.socket.send(message).await?;
        Ok(())
    }

    /// The next message as `{"tag", "val"}` JSON (ids as numbers).
    pub async fn recv(&mut self) -> anyhow::Result<Value> {
        loop {
            let message =
                tokio::time::timeout(std::time::Duration::from_secs(15), self.socket.next())
                    .await
                    .context("no websocket message within 15 s")?
                    .context("websocket closed")??;
            let value = match message {
                Message::Text(text) => serde_json::from_str::<Value>(&text)?["body"].clone(),
                Message::Binary(data) if self.encoding == "cbor" => {
                    let value: Value = ciborium::from_reader(&data[..])?;
                    value["body"].clone()
                }
                Message::Binary(data) => decode_bare_to_client(&data)?,
                Message::Close(frame) => bail!("websocket closed: {frame:?}"),
                _ => continue,
            };
            return Ok(normalize_ids(value));
        }
    }
}

fn to_cbor(value: &Value) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out)?;
    Ok(out)
}

fn encode_bare_to_server(body: &Value) -> anyhow::Result<Vec<u8>> {
    let val = &body["val"];
    let body = match body["tag"].as_str() {
        Some("ActionRequest") => proto::ToServerBody::ActionRequest(proto::ActionRequest {
            id: serde_bare::Uint(val["id"].as_u64().context("id")?),
            name: val["name"].as_str().context("name")?.to_owned(),
            args: to_cbor(&val["args"])?,
        }),
        Some("SubscriptionRequest") => {
            proto::ToServerBody::SubscriptionRequest(proto::SubscriptionRequest {
                event_name: val["eventName"].as_str().context("eventName")?.to_owned(),
                subscribe: val["subscribe"].as_bool().context("subscribe")?,
            })
        }
        other => bail!("unknown tag {other:?}"),
    };
    proto::versioned::ToServer::wrap_latest(proto::ToServer { body })
        .serialize_with_embedded_version(proto::PROTOCOL_VERSION)
}

fn decode_bare_to_client(data: &[u8]) -> anyhow::Result<Value> {
    let message = proto::versioned::ToClient::deserialize_with_embedded_version(data)?;
    let cbor = |bytes: &[u8]| -> anyhow::Result<Value> { Ok(ciborium::from_reader(bytes)?) };
    Ok(match message.body {
        proto::ToClientBody::Init(init) => {
            json!({"tag": "Init", "val": {"actorId": init.actor_id, "connectionId": init.connection_id}})
        }
        proto::ToClientBody::Error(error) => {
            json!({"tag": "Error", "val": {"group": error.group, "code": error.code, "message": error.message, "actionId": error.action_id.map(|id| id.0)}})
        }
        proto::ToClientBody::ActionResponse(response) => {
            json!({"tag": "ActionResponse", "val": {"id": response.id.0, "output": cbor(&response.output)?}})
        }
        proto::ToClientBody::Event(event) => {
            json!({"tag": "Event", "val": {"name": event.name, "args": cbor(&event.args)?}})
        }
    })
}

/// Turns `["$BigInt", "n"]` ids into numbers so every encoding compares the same.
fn normalize_ids(mut value: Value) -> Value {
    for field in ["id", "actionId"] {
        if let Some(id) = value["val"]
            .get(field)
            .and_then(|v| v.as_array())
            .and_then(|a| a.get(1))
            .and_then(|v| v.as_str())
        {
            let id: u64 = id.parse().unwrap_or_default();
            value["val"][field] = json!(id);
        }
    }
    value
}

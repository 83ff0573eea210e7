//! Messages on the `/connect` WebSocket, in the three encodings.

use rivetkit_client_protocol as proto;
use serde_json::{Value as Json, json};
use vbare::OwnedVersionedData;

use crate::actor::{ActionError, cbor_from_json, cbor_to_json};

use super::cbor_writer::CborWriter;
use super::encoding::Encoding;

/// Client → actor.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ConnectMessage {
    Action {
        id: u64,
        name: String,
        args: Vec<u8>,
    },
    Subscribe {
        event: String,
        subscribe: bool,
    },
}

/// Actor → client.
#[derive(Debug)]
pub(crate) enum ToClient<'a> {
    Init {
        actor_id: &'a str,
        connection_id: &'a str,
    },
    Error {
        error: &'a ActionError,
        action_id: Option<u64>,
    },
    ActionResponse {
        id: u64,
        output: &'a [u8],
    },
    Event {
        name: &'a str,
        args: &'a [u8],
    },
}

/// Decodes a client frame.
pub(crate) fn decode_to_server(encoding: Encoding, data: &[u8]) -> Result<ConnectMessage, String> {
    match encoding {
        Encoding::Json => {
            let value: Json = serde_json::from_slice(data).map_err(|e| e.to_string())?;
            from_json_envelope(&value)
        }
        Encoding::Cbor => {
            let value: ciborium::Value = ciborium::from_reader(data).map_err(|e| e.to_string())?;
            let value = serde_json::to_value(value).map_err(|e| e.to_string())?;
            from_json_envelope(&value)
        }
        Encoding::Bare => {
            let message = proto::versioned::ToServer::deserialize_with_embedded_version(data)
                .map_err(|e| e.to_string())?;
            Ok(match message.body {
                proto::ToServerBody::ActionRequest(request) => ConnectMessage::Action {
                    id: request.id.0,
                    name: request.name,
                    args: request.args,
                },
                proto::ToServerBody::SubscriptionRequest(request) => ConnectMessage::Subscribe {
                    event: request.event_name,
                    subscribe: request.subscribe,
                },
            })
        }
    }
}

fn from_json_envelope(value: &Json) -> Result<ConnectMessage, String> {
    let body = value.get("body").ok_or("missing `body`")?;
    let tag = body
        .get("tag")
        .and_then(Json::as_str)
        .ok_or("missing `tag`")?;
    let val = body.get("val").ok_or("missing `val`")?;
    match tag {
        "ActionRequest" => Ok(ConnectMessage::Action {
            id: parse_id(val.get("id").ok_or("missing `id`")?)?,
            name: val
                .get("name")
                .and_then(Json::as_str)
                .ok_or("missing `name`")?
                .to_owned(),
            args: cbor_from_json(val.get("args").unwrap_or(&Json::Array(Vec::new())))?,
        }),
        "SubscriptionRequest" => Ok(ConnectMessage::Subscribe {
            event: val
                .get("eventName")
                .and_then(Json::as_str)
                .ok_or("missing `eventName`")?
                .to_owned(),
            subscribe: val
                .get("subscribe")
                .and_then(Json::as_bool)
                .ok_or("missing `subscribe`")?,
        }),
        other => Err(format!("unknown message tag `{other}`")),
    }
}

/// Ids are numbers, or `["$BigInt", "n"]` as RivetKit's JSON encodes 64-bit integers.
fn parse_id(value: &Json) -> Result<u64, String> {
    if let Some(id) = value.as_u64() {
        return Ok(id);
    }
    match value.as_array().map(Vec::as_slice) {
        Some([tag, raw]) if tag == "$BigInt" => raw
            .as_str()
            .and_then(|raw| raw.parse().ok())
            .ok_or_else(|| "invalid bigint id".to_owned()),
        _ => Err("invalid id".to_owned()),
    }
}

fn bigint(value: u64) -> Json {
    json!(["$BigInt", value.to_string()])
}

/// Encodes a frame for the client; the flag says whether it is a binary frame.
pub(crate) fn encode_to_client(
    encoding: Encoding,
    message: &ToClient<'_>,
) -> Result<(Vec<u8>, bool), String> {
    match encoding {
        Encoding::Json => {
            let text = serde_json::to_vec(&to_json(message)?).map_err(|e| e.to_string())?;
            Ok((text, false))
        }
        Encoding::Cbor => Ok((to_cbor(message), true)),
        Encoding::Bare => {
            let body = to_bare(message);
            let bytes = proto::versioned::ToClient::wrap_latest(proto::ToClient { body })
                .serialize_with_embedded_version(proto::PROTOCOL_VERSION)
                .map_err(|e| e.to_string())?;
            Ok((bytes, true))
        }
    }
}

fn to_json(message: &ToClient<'_>) -> Result<Json, String> {
    let body = match message {
        ToClient::Init {
            actor_id,
            connection_id,
        } => json!({"tag": "Init", "val": {"actorId": actor_id, "connectionId": connection_id}}),
        ToClient::Error { error, action_id } => {
            let mut val = json!({
                "group": error.group, "code": error.code, "message": error.message,
                "actionId": action_id.map(bigint),
            });
            // Metadata JSON cannot carry (a map with non-string keys) is left out, not the frame.
            if let Some(metadata) = error.metadata.as_deref().and_then(|m| cbor_to_json(m).ok()) {
                val["metadata"] = metadata;
            }
            json!({"tag": "Error", "val": val})
        }
        ToClient::ActionResponse { id, output } => json!({"tag": "ActionResponse", "val": {
            "id": bigint(*id), "output": cbor_to_json(output)?,
        }}),
        ToClient::Event { name, args } => json!({"tag": "Event", "val": {
            "name": name, "args": cbor_to_json(args)?,
        }}),
    };
    Ok(json!({ "body": body }))
}

fn to_cbor(message: &ToClient<'_>) -> Vec<u8> {
    let mut w = CborWriter::new();
    w.map(1).text("body").map(2).text("tag");
    match message {
        ToClient::Init {
            actor_id,
            connection_id,
        } => {
            w.text("Init").text("val").map(2);
            w.text("actorId").text(actor_id);
            w.text("connectionId").text(connection_id);
        }
        ToClient::Error { error, action_id } => {
            let metadata = error.metadata.as_deref();
            w.text("Error")
                .text("val")
                .map(4 + usize::from(metadata.is_some()));
            w.text("group").text(&error.group);
            w.text("code").text(&error.code);
            w.text("message").text(&error.message);
            if let Some(metadata) = metadata {
                w.text("metadata").raw(metadata);
            }
            w.text("actionId");
            match action_id {
                Some(id) => w.u64_wide(*id),
                None => w.null(),
            };
        }
        ToClient::ActionResponse { id, output } => {
            w.text("ActionResponse").text("val").map(2);
            w.text("id").u64_wide(*id);
            w.text("output").raw(output);
        }
        ToClient::Event { name, args } => {
            w.text("Event").text("val").map(2);
            w.text("name").text(name);
            w.text("args").raw(args);
        }
    }
    w.finish()
}

fn to_bare(message: &ToClient<'_>) -> proto::ToClientBody {
    match message {
        ToClient::Init {
            actor_id,
            connection_id,
        } => proto::ToClientBody::Init(proto::Init {
            actor_id: (*actor_id).to_owned(),
            connection_id: (*connection_id).to_owned(),
        }),
        ToClient::Error { error, action_id } => proto::ToClientBody::Error(proto::Error {
            group: error.group.clone(),
            code: error.code.clone(),
            message: error.message.clone(),
            metadata: error.metadata.clone(),
            action_id: action_id.map(serde_bare::Uint),
            actor: None,
        }),
        ToClient::ActionResponse { id, output } => {
            proto::ToClientBody::ActionResponse(proto::ActionResponse {
                id: serde_bare::Uint(*id),
                output: output.to_vec(),
            })
        }
        ToClient::Event { name, args } => proto::ToClientBody::Event(proto::Event {
            name: (*name).to_owned(),
            args: args.to_vec(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_action_request_accepts_number_and_bigint_ids() {
        let plain = br#"{"body":{"tag":"ActionRequest","val":{"id":3,"name":"inc","args":[1]}}}"#;
        let big = br#"{"body":{"tag":"ActionRequest","val":{"id":["$BigInt","3"],"name":"inc","args":[1]}}}"#;
        let a = decode_to_server(Encoding::Json, plain).unwrap();
        let b = decode_to_server(Encoding::Json, big).unwrap();
        assert_eq!(a, b);
        let ConnectMessage::Action { id, name, args } = a else {
            panic!("expected an action")
        };
        assert_eq!((id, name.as_str()), (3, "inc"));
        assert_eq!(cbor_to_json(&args).unwrap(), json!([1]));
    }

    #[test]
    fn bare_subscription_round_trips() {
        let frame = proto::versioned::ToServer::wrap_latest(proto::ToServer {
            body: proto::ToServerBody::SubscriptionRequest(proto::SubscriptionRequest {
                event_name: "newCount".into(),
                subscribe: true,
            }),
        })
        .serialize_with_embedded_version(proto::PROTOCOL_VERSION)
        .unwrap();
        assert_eq!(
            decode_to_server(Encoding::Bare, &frame).unwrap(),
            ConnectMessage::Subscribe {
                event: "newCount".into(),
                subscribe: true
            }
        );
    }

    #[test]
    fn every_encoding_encodes_an_event_the_client_can_read() {
        let args = cbor_from_json(&json!([5])).unwrap();
        let event = ToClient::Event {
            name: "newCount",
            args: &args,
        };
        let (json_frame, binary) = encode_to_client(Encoding::Json, &event).unwrap();
        assert!(!binary);
        let value: Json = serde_json::from_slice(&json_frame).unwrap();
        assert_eq!(value["body"]["val"]["args"], json!([5]));

        let (cbor_frame, _) = encode_to_client(Encoding::Cbor, &event).unwrap();
        let value: Json = ciborium::from_reader(&cbor_frame[..]).unwrap();
        assert_eq!(value["body"]["tag"], "Event");
        assert_eq!(value["body"]["val"]["args"], json!([5]));

        let (bare_frame, _) = encode_to_client(Encoding::Bare, &event).unwrap();
        let decoded =
            proto::versioned::ToClient::deserialize_with_embedded_version(&bare_frame).unwrap();
        assert!(matches!(decoded.body, proto::ToClientBody::Event(e) if e.name == "newCount"));
    }

    #[test]
    fn error_frames_carry_metadata_in_every_encoding() {
        let metadata = json!({"reason": "too many", "limit": 3});
        let error = ActionError::user("refused", "no").with_metadata(&metadata);
        let frame = ToClient::Error {
            error: &error,
            action_id: Some(7),
        };
        let (json_frame, _) = encode_to_client(Encoding::Json, &frame).unwrap();
        let value: Json = serde_json::from_slice(&json_frame).unwrap();
        assert_eq!(value["body"]["val"]["metadata"], metadata);
        let (cbor_frame, _) = encode_to_client(Encoding::Cbor, &frame).unwrap();
        let value: Json = crate::actor::cbor_to_json(&cbor_frame).unwrap();
        assert_eq!(value["body"]["val"]["metadata"], metadata);
        assert_eq!(value["body"]["val"]["code"], "refused");
        let (bare_frame, _) = encode_to_client(Encoding::Bare, &frame).unwrap();
        let decoded =
            proto::versioned::ToClient::deserialize_with_embedded_version(&bare_frame).unwrap();
        let proto::ToClientBody::Error(bare) = decoded.body else {
            panic!("not an error frame");
        };
        let bytes = bare.metadata.expect("metadata in the bare frame");
        assert_eq!(crate::actor::cbor_to_json(&bytes).unwrap(), metadata);
        // Without metadata the field is absent, as RivetKit sends it.
        let plain = ActionError::user("refused", "no");
        let (json_frame, _) = encode_to_client(
            Encoding::Json,
            &ToClient::Error {
                error: &plain,
                action_id: None,
            },
        )
        .unwrap();
        let value: Json = serde_json::from_slice(&json_frame).unwrap();
        assert!(value["body"]["val"].get("metadata").is_none(), "{value}");
    }

    #[test]
    fn action_response_ids_are_bigints_in_json() {
        let output = cbor_from_json(&json!(1)).unwrap();
        let (frame, _) = encode_to_client(
            Encoding::Json,
            &ToClient::ActionResponse {
                id: 9,
                output: &output,
            },
        )
        .unwrap();
        let value: Json = serde_json::from_slice(&frame).unwrap();
        assert_eq!(value["body"]["val"]["id"], json!(["$BigInt", "9"]));
    }
}

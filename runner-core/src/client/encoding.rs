//! The three client encodings, and the HTTP action request/response/error bodies.

use rivetkit_client_protocol as proto;
use serde_json::{Value as Json, json};
use vbare::OwnedVersionedData;

use crate::actor::{ActionError, cbor_from_json, cbor_to_json};

/// A client encoding, chosen by `x-rivet-encoding` (HTTP) or `rivet_encoding.*` (WebSocket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// JSON text; the default.
    Json,
    /// CBOR, same shape as JSON.
    Cbor,
    /// BARE with an embedded protocol version; what the official JavaScript client uses.
    Bare,
}

impl Encoding {
    /// Parses an encoding name; unknown or absent names mean JSON, as RivetKit does.
    pub fn from_name(name: Option<&str>) -> Self {
        match name {
            Some("cbor") => Self::Cbor,
            Some("bare") => Self::Bare,
            _ => Self::Json,
        }
    }

    /// The response content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Cbor | Self::Bare => "application/octet-stream",
        }
    }
}

/// Which actor instance answered, for error bodies and response headers.
#[derive(Debug, Clone)]
pub(crate) struct ActorSpec {
    pub(crate) actor_id: String,
    pub(crate) generation: u32,
    pub(crate) key: Option<String>,
}

/// Decodes an HTTP action request body into the CBOR argument list.
pub(crate) fn decode_action_args(encoding: Encoding, body: &[u8]) -> Result<Vec<u8>, String> {
    match encoding {
        Encoding::Json => {
            let request: Json = serde_json::from_slice(body).map_err(|e| e.to_string())?;
            cbor_from_json(&normalize_args(request.get("args").cloned()))
        }
        Encoding::Cbor => {
            let request: ciborium::Value =
                ciborium::from_reader(body).map_err(|e| e.to_string())?;
            let args = request
                .as_map()
                .and_then(|m| m.iter().find(|(k, _)| k.as_text() == Some("args")))
                .map(|(_, v)| v.clone());
            let args = match args {
                Some(ciborium::Value::Array(items)) => ciborium::Value::Array(items),
                None | Some(ciborium::Value::Null) => ciborium::Value::Array(Vec::new()),
                Some(other) => ciborium::Value::Array(vec![other]),
            };
            let mut out = Vec::new();
            ciborium::into_writer(&args, &mut out).map_err(|e| e.to_string())?;
            Ok(out)
        }
        Encoding::Bare => {
            proto::versioned::HttpActionRequest::deserialize_with_embedded_version(body)
                .map(|request| request.args)
                .map_err(|e| e.to_string())
        }
    }
}

/// Wraps RivetKit's leniency: `args` may be a list, a single value, or absent.
fn normalize_args(args: Option<Json>) -> Json {
    match args {
        Some(Json::Array(items)) => Json::Array(items),
        None | Some(Json::Null) => Json::Array(Vec::new()),
        Some(other) => Json::Array(vec![other]),
    }
}

/// Encodes an action's CBOR output as an HTTP response body.
pub(crate) fn encode_action_output(encoding: Encoding, output: &[u8]) -> Result<Vec<u8>, String> {
    match encoding {
        Encoding::Json => {
            let body = json!({ "output": cbor_to_json(output)? });
            serde_json::to_vec(&body).map_err(|e| e.to_string())
        }
        Encoding::Cbor => {
            let mut w = super::cbor_writer::CborWriter::new();
            w.map(1).text("output").raw(output);
            Ok(w.finish())
        }
        Encoding::Bare => {
            proto::versioned::HttpActionResponse::wrap_latest(proto::HttpActionResponse {
                output: output.to_vec(),
            })
            .serialize_with_embedded_version(proto::PROTOCOL_VERSION)
            .map_err(|e| e.to_string())
        }
    }
}

/// Encodes an error in RivetKit's `{group, code, message, actor}` shape.
pub(crate) fn encode_http_error(
    encoding: Encoding,
    error: &ActionError,
    actor: Option<&ActorSpec>,
) -> Vec<u8> {
    let mut body = json!({
        "group": error.group,
        "code": error.code,
        "message": error.message,
    });
    if let Some(metadata) = error.metadata.as_deref() {
        match cbor_to_json(metadata) {
            Ok(value) => body["metadata"] = value,
            Err(err) => tracing::warn!(error = %err, "error metadata left out of the body"),
        }
    }
    if let Some(actor) = actor {
        body["actor"] = json!({
            "actorId": actor.actor_id,
            "generation": actor.generation,
            "key": actor.key,
        });
    }
    let encoded = match encoding {
        Encoding::Json => serde_json::to_vec(&body).map_err(|e| e.to_string()),
        Encoding::Cbor => {
            let mut out = Vec::new();
            ciborium::into_writer(&body, &mut out)
                .map(|()| out)
                .map_err(|e| e.to_string())
        }
        Encoding::Bare => {
            proto::versioned::HttpResponseError::wrap_latest(proto::HttpResponseError {
                group: error.group.clone(),
                code: error.code.clone(),
                message: error.message.clone(),
                metadata: error.metadata.clone(),
                actor: actor.map(|actor| proto::ActorSpecifier {
                    actor_id: actor.actor_id.clone(),
                    generation: serde_bare::Uint(u64::from(actor.generation)),
                    key: actor.key.clone(),
                }),
            })
            .serialize_with_embedded_version(proto::PROTOCOL_VERSION)
            .map_err(|e| e.to_string())
        }
    };
    encoded.unwrap_or_else(|err| {
        tracing::error!(error = %err, "encode error body");
        br#"{"group":"actor","code":"internal_error","message":"An internal error occurred"}"#
            .to_vec()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::cbor_to_json;

    #[test]
    fn json_args_accept_list_single_and_missing() {
        let list = decode_action_args(Encoding::Json, br#"{"args":[1,2]}"#).unwrap();
        assert_eq!(cbor_to_json(&list).unwrap(), json!([1, 2]));
        let single = decode_action_args(Encoding::Json, br#"{"args":5}"#).unwrap();
        assert_eq!(cbor_to_json(&single).unwrap(), json!([5]));
        let missing = decode_action_args(Encoding::Json, b"{}").unwrap();
        assert_eq!(cbor_to_json(&missing).unwrap(), json!([]));
    }

    #[test]
    fn cbor_request_and_response_round_trip() {
        let mut body = Vec::new();
        ciborium::into_writer(&json!({"args": [3]}), &mut body).unwrap();
        let args = decode_action_args(Encoding::Cbor, &body).unwrap();
        assert_eq!(cbor_to_json(&args).unwrap(), json!([3]));

        let output = cbor_from_json(&json!(42)).unwrap();
        let encoded = encode_action_output(Encoding::Cbor, &output).unwrap();
        let decoded: Json = ciborium::from_reader(&encoded[..]).unwrap();
        assert_eq!(decoded, json!({"output": 42}));
    }

    #[test]
    fn bare_request_and_response_round_trip() {
        let args = cbor_from_json(&json!([7])).unwrap();
        let body = proto::versioned::HttpActionRequest::wrap_latest(proto::HttpActionRequest {
            args: args.clone(),
        })
        .serialize_with_embedded_version(proto::PROTOCOL_VERSION)
        .unwrap();
        // Golden prefix: u16 LE version 4, then the `data` length.
        assert_eq!(&body[..3], &[4, 0, args.len() as u8]);
        assert_eq!(decode_action_args(Encoding::Bare, &body).unwrap(), args);

        let encoded = encode_action_output(Encoding::Bare, &args).unwrap();
        let response =
            proto::versioned::HttpActionResponse::deserialize_with_embedded_version(&encoded)
                .unwrap();
        assert_eq!(response.output, args);
    }

    #[test]
    fn errors_carry_group_code_and_actor() {
        let error = ActionError::user("too_big", "n must be small");
        let actor = ActorSpec {
            actor_id: "abc".into(),
            generation: 2,
            key: Some("k".into()),
        };
        let body = encode_http_error(Encoding::Json, &error, Some(&actor));
        let value: Json = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["group"], "user");
        assert_eq!(value["code"], "too_big");
        assert_eq!(value["actor"]["generation"], 2);

        let bare = encode_http_error(Encoding::Bare, &error, Some(&actor));
        let decoded =
            proto::versioned::HttpResponseError::deserialize_with_embedded_version(&bare).unwrap();
        assert_eq!(decoded.code, "too_big");
        assert_eq!(decoded.actor.unwrap().generation.0, 2);
        assert!(decoded.metadata.is_none());
    }

    #[test]
    fn error_bodies_carry_metadata_in_every_encoding() {
        let metadata = json!({"limit": 3, "tags": ["a"]});
        let error = ActionError::user("refused", "no").with_metadata(&metadata);
        let body = encode_http_error(Encoding::Json, &error, None);
        let value: Json = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["metadata"], metadata);
        let body = encode_http_error(Encoding::Cbor, &error, None);
        assert_eq!(cbor_to_json(&body).unwrap()["metadata"], metadata);
        let bare = encode_http_error(Encoding::Bare, &error, None);
        let decoded =
            proto::versioned::HttpResponseError::deserialize_with_embedded_version(&bare).unwrap();
        assert_eq!(cbor_to_json(&decoded.metadata.unwrap()).unwrap(), metadata);
        // Metadata past the limit is left out; the error itself is kept.
        let huge = ActionError::user("refused", "no").with_metadata(&"x".repeat(100_000));
        assert!(huge.metadata.is_none());
        assert_eq!(huge.code, "refused");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for encoding in [Encoding::Json, Encoding::Cbor, Encoding::Bare] {
            assert!(decode_action_args(encoding, &[0xff, 0x00, 0x13]).is_err());
        }
    }
}

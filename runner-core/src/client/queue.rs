//! RivetKit's `POST /queue/{name}` bodies: `{body, wait?, timeout?}` in json and cbor (the
//! body as a value), `HttpQueueSendRequest` in bare (the body as CBOR); the answer
//! `{status, response?}` (`HttpQueueSendResponse`).

use rivetkit_client_protocol as proto;
use serde_json::{Map, Value as Json};
use vbare::OwnedVersionedData;

use super::Encoding;
use crate::actor::{QueueSendOutcome, cbor_from_json, cbor_to_json};

/// A decoded queue send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueueSend {
    /// The message body, CBOR.
    pub(crate) body: Vec<u8>,
    pub(crate) wait: bool,
    /// How long a waiting sender waits, in milliseconds.
    pub(crate) timeout_ms: Option<u64>,
}

/// Decodes a queue send's body in `encoding`.
pub(crate) fn decode_queue_send(encoding: Encoding, body: &[u8]) -> Result<QueueSend, String> {
    match encoding {
        Encoding::Json => {
            let request: Json = serde_json::from_slice(body).map_err(|e| e.to_string())?;
            from_value(&request)
        }
        Encoding::Cbor => {
            let request: ciborium::Value =
                ciborium::from_reader(body).map_err(|e| e.to_string())?;
            let request = cbor_to_json(&{
                let mut out = Vec::new();
                ciborium::into_writer(&request, &mut out).map_err(|e| e.to_string())?;
                out
            })?;
            from_value(&request)
        }
        Encoding::Bare => {
            let request =
                proto::versioned::HttpQueueSendRequest::deserialize_with_embedded_version(body)
                    .map_err(|e| e.to_string())?;
            Ok(QueueSend {
                body: request.body,
                wait: request.wait.unwrap_or(false),
                timeout_ms: request.timeout,
            })
        }
    }
}

fn from_value(request: &Json) -> Result<QueueSend, String> {
    let request = request.as_object().ok_or("a queue send is an object")?;
    let body = request.get("body").cloned().unwrap_or(Json::Null);
    let timeout_ms = match request.get("timeout") {
        None | Some(Json::Null) => None,
        Some(value) => Some(value.as_u64().ok_or("`timeout` is a whole number of ms")?),
    };
    Ok(QueueSend {
        body: cbor_from_json(&body)?,
        wait: request.get("wait").and_then(Json::as_bool).unwrap_or(false),
        timeout_ms,
    })
}

/// Encodes what a queue send came to.
pub(crate) fn encode_queue_outcome(
    encoding: Encoding,
    outcome: &QueueSendOutcome,
) -> Result<Vec<u8>, String> {
    let (status, response) = match outcome {
        QueueSendOutcome::Completed(response) => ("completed", response.as_deref()),
        QueueSendOutcome::TimedOut => ("timedOut", None),
    };
    match encoding {
        Encoding::Json | Encoding::Cbor => {
            let mut value = Map::new();
            value.insert("status".to_owned(), Json::from(status));
            if let Some(response) = response {
                value.insert("response".to_owned(), cbor_to_json(response)?);
            }
            if encoding == Encoding::Json {
                serde_json::to_vec(&Json::Object(value)).map_err(|e| e.to_string())
            } else {
                cbor_from_json(&Json::Object(value))
            }
        }
        Encoding::Bare => {
            proto::versioned::HttpQueueSendResponse::wrap_latest(proto::HttpQueueSendResponse {
                status: status.to_owned(),
                response: response.map(<[u8]>::to_vec),
            })
            .serialize_with_embedded_version(proto::PROTOCOL_VERSION)
            .map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_sends_decode_in_every_encoding_and_answers_encode() {
        let json = decode_queue_send(
            Encoding::Json,
            br#"{"body":{"v":1},"wait":true,"timeout":50}"#,
        )
        .unwrap();
        assert_eq!((json.wait, json.timeout_ms), (true, Some(50)));
        assert_eq!(
            cbor_to_json(&json.body).unwrap(),
            serde_json::json!({"v": 1})
        );
        let cbor_body = cbor_from_json(&serde_json::json!({"body": [1, 2]})).unwrap();
        let cbor = decode_queue_send(Encoding::Cbor, &cbor_body).unwrap();
        assert_eq!((cbor.wait, cbor.timeout_ms), (false, None));
        assert_eq!(cbor_to_json(&cbor.body).unwrap(), serde_json::json!([1, 2]));
        assert!(decode_queue_send(Encoding::Json, b"[]").is_err());

        let answer = encode_queue_outcome(
            Encoding::Json,
            &QueueSendOutcome::Completed(Some(cbor_from_json(&serde_json::json!("ok")).unwrap())),
        )
        .unwrap();
        assert_eq!(answer, br#"{"response":"ok","status":"completed"}"#);
        let timed_out = encode_queue_outcome(Encoding::Json, &QueueSendOutcome::TimedOut).unwrap();
        assert_eq!(timed_out, br#"{"status":"timedOut"}"#);
    }
}

//! Connection params as RivetKit's clients send them: JSON, in the `x-rivet-conn-params` header
//! of an HTTP call, or percent-encoded in the `rivet_conn_params.` subprotocol entry of the
//! `/connect` WebSocket. The actor gets them as CBOR.

use crate::actor::{ActionError, MAX_CONN_PARAMS_BYTES, cbor_from_json};

/// Params as JSON text, as CBOR; refused past RivetKit's 4 KiB.
pub(crate) fn from_json(json: &str) -> Result<Vec<u8>, ActionError> {
    if json.len() > MAX_CONN_PARAMS_BYTES {
        return Err(ActionError::new(
            "actor",
            "conn_params_too_large",
            format!("connection params are at most {MAX_CONN_PARAMS_BYTES} bytes"),
        ));
    }
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| invalid(&e.to_string()))?;
    cbor_from_json(&value).map_err(|e| invalid(&e))
}

/// Params from the subprotocol entry (after its prefix), as CBOR.
pub(crate) fn from_subprotocol(encoded: &str) -> Result<Vec<u8>, ActionError> {
    let json = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .map_err(|e| invalid(&e.to_string()))?;
    from_json(&json)
}

fn invalid(detail: &str) -> ActionError {
    ActionError::new(
        "actor",
        "invalid_request",
        format!("invalid connection params: {detail}"),
    )
}

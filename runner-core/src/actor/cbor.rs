//! CBOR helpers: action args and outputs travel as CBOR on every client encoding.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes a value as CBOR.
pub(crate) fn to_cbor<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).map_err(|err| err.to_string())?;
    Ok(out)
}

/// Decodes a CBOR value.
pub(crate) fn from_cbor<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    ciborium::from_reader(bytes).map_err(|err| err.to_string())
}

/// Converts CBOR bytes to JSON (for the json encoding).
pub(crate) fn cbor_to_json(bytes: &[u8]) -> Result<serde_json::Value, String> {
    if bytes.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    let value: ciborium::Value = from_cbor(bytes)?;
    serde_json::to_value(value).map_err(|err| err.to_string())
}

/// Converts JSON to CBOR bytes.
pub(crate) fn cbor_from_json(value: &serde_json::Value) -> Result<Vec<u8>, String> {
    to_cbor(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_cbor_round_trip() {
        let json = serde_json::json!({"a": [1, -2, 3.5, "x", null, true]});
        let cbor = cbor_from_json(&json).unwrap();
        assert_eq!(cbor_to_json(&cbor).unwrap(), json);
    }

    #[test]
    fn empty_bytes_are_null() {
        assert_eq!(cbor_to_json(&[]).unwrap(), serde_json::Value::Null);
    }
}

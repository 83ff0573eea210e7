//! The `/api/rivet` endpoint the engine calls: `metadata`, `start` and `health`.

mod body;
mod envoys;
mod headers;
mod payload;
mod sse;

pub use body::{BodyError, read_body};
pub(crate) use envoys::Envoys;
pub use headers::secrets_match;
pub(crate) use headers::{StartHeaders, authorize, check_secret};
pub(crate) use payload::decode as decode_start;
pub(crate) use sse::stream as start_stream;

#[cfg(test)]
pub(crate) use payload::tests::golden_start;

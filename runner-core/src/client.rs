//! RivetKit's client protocol (v4) as seen by an actor behind the engine gateway: HTTP actions,
//! the `/connect` WebSocket, raw `/request/*`, in the json, cbor and bare encodings.
//!
//! Argument and output payloads are CBOR internally whatever the wire encoding; json converts at
//! the edge, bare carries the CBOR bytes as-is.

mod cbor_writer;
mod connect;
mod encoding;
pub(crate) mod params;
mod queue;
mod route;

pub(crate) use connect::{ConnectMessage, ToClient, decode_to_server, encode_to_client};
pub use encoding::Encoding;
pub(crate) use encoding::{ActorSpec, decode_action_args, encode_action_output, encode_http_error};
pub(crate) use queue::{decode_queue_send, encode_queue_outcome};
pub(crate) use route::{ActorRoute, route_path};

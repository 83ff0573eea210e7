//! The runner on Cloudflare Workers: `runner-core` compiled to `wasm32-unknown-unknown` behind a
//! Worker's `fetch` handler, hosting the native Rust actors compiled into it.
//!
//! Everything is the core's. This file turns the Worker's request into an [`http::Request`],
//! runs [`Runner::handle`] on a tokio `LocalSet` (the core and the envoy client spawn their
//! tasks there), and streams the core's body back. Each request has its own `LocalSet`, kept
//! running as long as its response streams: in a Worker, I/O belongs to the request that started
//! it, so one `/start`'s envoy socket and actor must only ever run inside that request.
//!
//! Only `wasm32` builds the handler; native builds exist for the configuration's unit tests.

#[cfg_attr(
    not(target_arch = "wasm32"),
    allow(dead_code, reason = "natively only the unit tests use it")
)]
mod config;
#[cfg(target_arch = "wasm32")]
mod entry;
#[cfg(target_arch = "wasm32")]
mod fetch;
#[cfg_attr(
    not(target_arch = "wasm32"),
    allow(dead_code, reason = "natively only the unit tests use it")
)]
mod js_error;
#[cfg(target_arch = "wasm32")]
mod logging;

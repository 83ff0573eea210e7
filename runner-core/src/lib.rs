//! # runner-core
//!
//! A platform-agnostic serverless runner for [Rivet Actors](https://rivet.dev). It serves the
//! endpoint the Rivet engine calls (`GET /metadata`, `POST /start` as a server-sent-event stream,
//! `GET /health`, under a base path such as `/api/rivet`), keeps one envoy WebSocket per engine
//! to host actors, and handles the end of each request's lifespan without losing state.
//!
//! What it is not: an HTTP server or a platform integration. Adapters (container, Lambda,
//! Workers) turn their platform's requests into [`http::Request`]s, call [`Runner::handle`], and
//! write the [`Body`] back. The core never names a platform.
//!
//! ```no_run
//! use runner_core::{Runner, RunnerConfig, StartAccess, actor::Registry};
//! # struct Counter;
//! # impl runner_core::actor::Actor for Counter {
//! #     const NAME: &'static str = "counter"; type State = i64; type Input = ();
//! #     fn create_state(_: Option<()>) -> i64 { 0 }
//! #     fn actions(_: &mut runner_core::actor::Actions<Self>) {}
//! # }
//! let access = StartAccess::new("http://127.0.0.1:6420", Some("secret".into()));
//! let runner = Runner::new(RunnerConfig::new(access, "/tmp/actors"), Registry::new().with_actor::<Counter>());
//! // adapter: runner.handle(request, deadline).await
//! ```
//!
//! Adapters usually let [`Runner::builder`] assemble it instead: from the shared `RUNNER_*`
//! [`Settings`] to the object store, the sandboxed actors and the persistence they configure
//! (see [`assembly`]).

pub mod actor;
pub mod assembly;
pub mod bundle;
mod client;
pub mod config;
mod disk;
pub mod error;
mod host;
pub mod object_store;
pub mod persist;
pub mod rt;
mod runner;
pub mod runner_config;
#[cfg(any(feature = "wasmtime", feature = "js"))]
pub mod sandbox;
pub mod serverless;
pub mod storage;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(test)]
mod fuzz;

pub use assembly::{RunnerBuilder, Settings};
pub use client::Encoding;
pub use config::{EnvoySharing, RunnerConfig, StartAccess};
pub use error::{ActorStartError, StartError, StorageError};
pub use host::LifecycleError;
pub use runner::{Body, Deadline, Runner};

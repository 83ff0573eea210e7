//! # runner-container
//!
//! Serves the runner core over HTTP/1.1 with hyper: for ECS, Cloud Run, Fly, Kubernetes or a
//! VM. Configuration comes from `RUNNER_*` environment variables (see the README). On SIGTERM
//! it refuses new `/start`s, tells the engine it is stopping, lets actors drain and persist, and
//! exits.
//!
//! The crate is a library too, so any crate can host its own actors the way `rivet-runner`
//! hosts the example counter: [`run()`] with the crate's [`Registry`](runner_core::actor::Registry)
//! does all of the above.

pub mod admin;
#[cfg(feature = "js")]
pub mod bundle;
mod config;
#[cfg(any(feature = "wasm", feature = "js"))]
pub mod deploy;
mod run;
mod server;

pub use config::{ConfigError, ContainerConfig};
pub use run::{RunError, run};
pub use server::serve;

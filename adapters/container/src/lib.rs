//! # runner-container
//!
//! Serves the runner core over HTTP/1.1 with hyper: for ECS, Cloud Run, Fly, Kubernetes or a
//! VM. Configuration comes from `RUNNER_*` environment variables (see the README). On SIGTERM
//! it refuses new `/start`s, tells the engine it is stopping, lets actors drain and persist, and
//! exits.

mod config;
mod server;

pub use config::{ConfigError, ContainerConfig};
pub use server::{StreamingBody, serve};

use runner_core::Runner;
use runner_core::actor::Registry;

/// The actors the container hosts by default: the examples.
pub fn default_registry() -> Registry {
    Registry::new().with_actor::<example_counter::Counter>()
}

/// Builds the runner for `config` with the default actors.
pub fn build_runner(config: &ContainerConfig) -> Runner {
    Runner::new(config.runner.clone(), default_registry())
}

//! # runner-container
//!
//! Serves the runner core over HTTP/1.1 with hyper: for ECS, Cloud Run, Fly, Kubernetes or a
//! VM. Configuration comes from `RUNNER_*` environment variables (see the README). On SIGTERM
//! it refuses new `/start`s, tells the engine it is stopping, lets actors drain and persist, and
//! exits.

pub mod admin;
mod config;
mod server;

pub use config::{ConfigError, ContainerConfig, StoreConfig};
pub use server::serve;

use std::sync::Arc;

use runner_core::Runner;
use runner_core::actor::Registry;
use runner_core::object_store::{LocalStore, ObjectStore, S3Store};
use runner_core::persist::Persistence;

/// The actors the container hosts by default: the examples.
pub fn default_registry() -> Registry {
    Registry::new().with_actor::<example_counter::Counter>()
}

/// Builds the runner for `config` with the default actors.
pub async fn build_runner(config: &ContainerConfig) -> Runner {
    let store: Arc<dyn ObjectStore> = match &config.store {
        StoreConfig::None => return Runner::new(config.runner.clone(), default_registry()),
        StoreConfig::Local(dir) => Arc::new(LocalStore::new(dir)),
        StoreConfig::S3(s3) => Arc::new(S3Store::new(s3.clone()).await),
    };
    build_runner_with_store(config, store)
}

/// Builds the runner for `config` persisting to `store` instead of the configured one.
pub fn build_runner_with_store(config: &ContainerConfig, store: Arc<dyn ObjectStore>) -> Runner {
    let persistence =
        Persistence::new(store, config.store_prefix.clone()).with_options(config.persist);
    Runner::with_persistence(config.runner.clone(), default_registry(), persistence)
}

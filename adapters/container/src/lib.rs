//! # runner-container
//!
//! Serves the runner core over HTTP/1.1 with hyper: for ECS, Cloud Run, Fly, Kubernetes or a
//! VM. Configuration comes from `RUNNER_*` environment variables (see the README). On SIGTERM
//! it refuses new `/start`s, tells the engine it is stopping, lets actors drain and persist, and
//! exits.

pub mod admin;
mod config;
#[cfg(any(feature = "wasm", feature = "js"))]
pub mod deploy;
mod sandbox;
mod server;

pub use config::{
    BundleNamespaces, ConfigError, ContainerConfig, OutboundGrant, SandboxConfig, StoreConfig,
};
pub use server::serve;

use std::sync::Arc;

use runner_core::Runner;
use runner_core::actor::Registry;
use runner_core::object_store::{LocalStore, ObjectStore, S3Store};
use runner_core::persist::Persistence;

/// Why the runner could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A configured component could not be read.
    #[error("read the wasm actor `{name}` from {path}: {source}")]
    ReadComponent {
        /// Actor name.
        name: String,
        /// Component file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A configured component could not be loaded.
    #[error("load the wasm actor `{name}`: {reason}")]
    LoadComponent {
        /// Actor name.
        name: String,
        /// Why.
        reason: String,
    },
    /// Published code was enabled but there is no object store to publish it to.
    #[error("RUNNER_BUNDLE_NAMESPACES needs an object store (RUNNER_OBJECT_STORE=local or s3)")]
    BundlesWithoutStore,
    /// An outbound HTTP grant is not valid.
    #[error("RUNNER_OUTBOUND for namespace `{namespace}`: {reason}")]
    Outbound {
        /// The namespace of the grant.
        namespace: String,
        /// Why.
        reason: String,
    },
    /// Published code was enabled in a build without any sandbox runtime.
    #[error(
        "RUNNER_BUNDLE_NAMESPACES is set but this build has no sandbox (features `wasm`, `js`)"
    )]
    NoSandbox,
}

/// The actors the container hosts: the native examples, the operator's wasm components
/// (compiled components cached on disk and, with a `store`, in the object store), and, with a
/// `store`, code published per namespace.
pub async fn registry(
    config: &ContainerConfig,
    store: Option<Arc<dyn ObjectStore>>,
) -> Result<Registry, BuildError> {
    let registry = Registry::new().with_actor::<example_counter::Counter>();
    sandbox::with_sandboxed_actors(registry, &config.sandbox, store).await
}

/// Builds the runner for `config`.
pub async fn build_runner(config: &ContainerConfig) -> Result<Runner, BuildError> {
    let store: Arc<dyn ObjectStore> = match &config.store {
        StoreConfig::None => {
            return Ok(Runner::new(
                config.runner.clone(),
                registry(config, None).await?,
            ));
        }
        StoreConfig::Local(dir) => Arc::new(LocalStore::new(dir)),
        StoreConfig::S3(s3) => Arc::new(S3Store::new(s3.clone()).await),
    };
    build_runner_with_store(config, store).await
}

/// Builds the runner for `config` persisting to `store` instead of the configured one.
pub async fn build_runner_with_store(
    config: &ContainerConfig,
    store: Arc<dyn ObjectStore>,
) -> Result<Runner, BuildError> {
    let registry = registry(config, Some(store.clone())).await?;
    let persistence =
        Persistence::new(store, config.store_prefix.clone()).with_options(config.persist);
    Ok(Runner::with_persistence(
        config.runner.clone(),
        registry,
        persistence,
    ))
}

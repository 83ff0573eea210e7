//! [`RunnerBuilder`]: settings and the adapter's actors in, a [`Runner`] out.

use std::sync::Arc;

use super::store::{self, Clients};
use super::{BuildError, Settings, sandbox};
use crate::Runner;
use crate::actor::Registry;
#[cfg(feature = "s3-http")]
use crate::object_store::HttpClient;
use crate::object_store::ObjectStore;
use crate::persist::Persistence;

/// Builds a [`Runner`] from [`Settings`]: opens the object store they name (or the one given),
/// adds the sandboxed actors they configure to the adapter's [`Registry`], and persists to the
/// store when there is one.
#[must_use = "a builder does nothing until `build` is awaited"]
pub struct RunnerBuilder {
    settings: Settings,
    registry: Registry,
    store: Option<Arc<dyn ObjectStore>>,
    clients: Clients,
}

impl std::fmt::Debug for RunnerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunnerBuilder")
            .field("settings", &self.settings)
            .field("registry", &self.registry)
            .field("store", &self.store.as_ref().map(|_| "given"))
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// A builder for a runner configured by `settings` (see [`crate::assembly`]).
    pub fn builder(settings: Settings) -> RunnerBuilder {
        RunnerBuilder::new(settings)
    }
}

impl RunnerBuilder {
    /// A builder for `settings`, hosting no native actors until [`Self::registry`] names them.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            registry: Registry::new(),
            store: None,
            clients: Clients::default(),
        }
    }

    /// The adapter's actors: the sandboxed ones the settings configure are added to them.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }

    /// Persists to `store` instead of the store the settings name (a fault-injecting store in
    /// tests, a store the adapter built itself).
    pub fn object_store(mut self, store: Arc<dyn ObjectStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Reaches a configured S3 bucket through `client` (the S3 store over HTTP, signed with
    /// SigV4), even in a build that also has the SDK's store.
    #[cfg(feature = "s3-http")]
    pub fn http_client(mut self, client: Arc<dyn HttpClient>) -> Self {
        self.clients.http = Some(client);
        self
    }

    /// Opens the store, loads the sandboxed actors (a bad component fails here, with its
    /// name), and builds the runner.
    pub async fn build(self) -> Result<Runner, BuildError> {
        let Self {
            settings,
            registry,
            store: given,
            clients,
        } = self;
        let store = match given {
            Some(given) => Some(given),
            None => store::open(&settings.store, &clients).await?,
        };
        let registry =
            sandbox::with_sandboxed_actors(registry, &settings.sandbox, store.clone()).await?;
        let Some(store) = store else {
            return Ok(Runner::new(settings.runner, registry));
        };
        let persistence =
            Persistence::new(store, settings.store_prefix).with_options(settings.persist);
        Ok(Runner::with_persistence(
            settings.runner,
            registry,
            persistence,
        ))
    }
}

//! Envoy connections: by default one per (endpoint, namespace, pool, token), shared by every
//! `/start` that names it, as RivetKit does; or one per `/start` ([`EnvoySharing::PerStart`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rivet_envoy_client::config::{ActorName, EnvoyConfig};
use rivet_envoy_client::envoy::start_envoy_sync;
use rivet_envoy_client::handle::EnvoyHandle;

use crate::config::EnvoySharing;
use crate::error::StartError;
use crate::host::{ActorHost, HostCallbacks};
use crate::rt::{self, Instant};

use super::headers::StartHeaders;

/// The envoy one `/start` runs on. An envoy the start owns ([`EnvoySharing::PerStart`]) ends
/// with it; a shared one outlives it.
pub(crate) struct StartEnvoy {
    handle: EnvoyHandle,
    owned: bool,
}

impl StartEnvoy {
    /// The connection.
    pub(crate) fn handle(&self) -> &EnvoyHandle {
        &self.handle
    }

    /// The start failed: an owned envoy is closed at once; a shared one serves other starts.
    pub(crate) fn abandon(&self) {
        if self.owned {
            self.handle.shutdown(true);
        }
    }

    /// The start's actor stopped: an owned envoy gets `grace` to tell the engine it is going,
    /// then is closed; a shared one is left running.
    pub(crate) async fn release(&self, grace: Duration) {
        if self.owned
            && rt::timeout(grace, self.handle.shutdown_and_wait(false))
                .await
                .is_err()
        {
            self.handle.shutdown(true);
        }
    }
}

/// How long an envoy may go without an engine ping before `/health` reports it (the envoy
/// client's own threshold).
const PING_STALE_AFTER: Duration =
    Duration::from_millis(EnvoyHandle::PING_HEALTHY_THRESHOLD_MS as u64);

struct Entry {
    handle: EnvoyHandle,
    created: Instant,
}

pub(crate) struct Envoys {
    entries: Mutex<HashMap<StartHeaders, Entry>>,
    callbacks: Arc<HostCallbacks>,
    host: Arc<ActorHost>,
    deploy_version: u32,
    connect_timeout: Duration,
    sharing: EnvoySharing,
}

/// What `/health` reports about the engine connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvoyHealth {
    pub(crate) connected: usize,
    pub(crate) stale: usize,
}

impl Envoys {
    pub(crate) fn new(
        host: Arc<ActorHost>,
        deploy_version: u32,
        connect_timeout: Duration,
        sharing: EnvoySharing,
    ) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            callbacks: Arc::new(HostCallbacks(host.clone())),
            host,
            deploy_version,
            connect_timeout,
            sharing,
        }
    }

    /// The envoy for these headers, connecting it first if needed. With
    /// [`EnvoySharing::PerStart`] it is always a new one, owned by the start.
    pub(crate) async fn get_or_connect(
        &self,
        key: &StartHeaders,
    ) -> Result<StartEnvoy, StartError> {
        let envoy = if self.per_start() {
            tracing::info!(endpoint = %key.endpoint, namespace = %key.namespace, pool = %key.pool, "connecting envoy for this start");
            StartEnvoy {
                handle: start_envoy_sync(self.envoy_config(key)),
                owned: true,
            }
        } else {
            StartEnvoy {
                handle: self.shared(key),
                owned: false,
            }
        };
        match rt::timeout(self.connect_timeout, envoy.handle.started()).await {
            Ok(Ok(())) => Ok(envoy),
            Ok(Err(_)) | Err(_) => {
                if envoy.owned {
                    envoy.abandon();
                } else {
                    self.discard(key, &envoy.handle);
                }
                Err(StartError::EngineUnreachable {
                    endpoint: key.endpoint.clone(),
                    seconds: self.connect_timeout.as_secs(),
                })
            }
        }
    }

    /// The shared envoy for these headers, started if there is none (or it has stopped).
    fn shared(&self, key: &StartHeaders) -> EnvoyHandle {
        let mut entries = self.lock();
        entries.retain(|_, entry| !entry.handle.is_stopped());
        entries
            .entry(key.clone())
            .or_insert_with(|| {
                tracing::info!(endpoint = %key.endpoint, namespace = %key.namespace, pool = %key.pool, "connecting envoy");
                Entry {
                    handle: start_envoy_sync(self.envoy_config(key)),
                    created: Instant::now(),
                }
            })
            .handle
            .clone()
    }

    /// Whether each `/start` owns its envoy, to close once its actor has stopped.
    pub(crate) fn per_start(&self) -> bool {
        self.sharing == EnvoySharing::PerStart
    }

    fn envoy_config(&self, key: &StartHeaders) -> EnvoyConfig {
        let actor_names = self
            .host
            .registry()
            .names()
            .map(|name| {
                let metadata = serde_json::json!({});
                (name.to_owned(), ActorName { metadata })
            })
            .collect();
        EnvoyConfig {
            version: self.deploy_version,
            endpoint: key.endpoint.clone(),
            token: key.token.clone(),
            namespace: key.namespace.clone(),
            pool_name: key.pool.clone(),
            prepopulate_actor_names: actor_names,
            metadata: None,
            not_global: true,
            debug_latency_ms: None,
            callbacks: self.callbacks.clone(),
        }
    }

    /// Drops an envoy that failed to connect, unless another caller replaced it already.
    fn discard(&self, key: &StartHeaders, handle: &EnvoyHandle) {
        let mut entries = self.lock();
        if entries
            .get(key)
            .is_some_and(|e| e.handle.get_envoy_key() == handle.get_envoy_key())
        {
            entries.remove(key);
        }
        drop(entries);
        handle.shutdown(true);
    }

    pub(crate) fn health(&self) -> EnvoyHealth {
        let entries = self.lock();
        let live = entries.values().filter(|e| !e.handle.is_stopped());
        let (mut connected, mut stale) = (0, 0);
        for entry in live {
            connected += 1;
            if !entry.handle.is_ping_healthy() && entry.created.elapsed() > PING_STALE_AFTER {
                stale += 1;
            }
        }
        EnvoyHealth { connected, stale }
    }

    /// Graceful shutdown: every envoy tells the engine it is stopping (the engine then stops its
    /// actors, which persist), waits up to `grace`, then closes.
    pub(crate) async fn shutdown(&self, grace: Duration) {
        let handles: Vec<EnvoyHandle> = self.lock().values().map(|e| e.handle.clone()).collect();
        for handle in &handles {
            handle.shutdown(false);
        }
        let all_stopped =
            futures_util::future::join_all(handles.iter().map(EnvoyHandle::wait_stopped));
        if rt::timeout(grace, all_stopped).await.is_err() {
            tracing::warn!(
                grace_s = grace.as_secs(),
                "envoys did not drain in time; closing"
            );
            for handle in &handles {
                handle.shutdown(true);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StartHeaders, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

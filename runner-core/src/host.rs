//! The actor host: implements the envoy client's callbacks. It starts and stops actor instances
//! when the engine says so, and hands tunnelled HTTP and WebSocket traffic to them.

mod callbacks;
mod control;
mod fetch;
mod lifecycle;
mod raw_socket;
mod websocket;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::actor::{ActorHandle, Registry};
use crate::persist::Persistence;
use crate::storage::ActorStore;

pub(crate) use callbacks::HostCallbacks;
pub(crate) use lifecycle::ActorStart;
pub use lifecycle::LifecycleError;

/// Running actor instances, by actor id (one generation runs at a time).
pub(crate) struct ActorHost {
    registry: Registry,
    store: ActorStore,
    idle_sleep: Duration,
    action_timeout: Duration,
    /// Where actor data goes between invocations; `None` keeps it on local disk only.
    persistence: Option<Arc<Persistence>>,
    actors: Mutex<HashMap<String, ActorHandle>>,
}

impl ActorHost {
    pub(crate) fn new(
        registry: Registry,
        store: ActorStore,
        (idle_sleep, action_timeout): (Duration, Duration),
        persistence: Option<Arc<Persistence>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            registry,
            store,
            idle_sleep,
            action_timeout,
            persistence,
            actors: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    fn get(&self, actor_id: &str) -> Option<ActorHandle> {
        self.lock().get(actor_id).cloned()
    }

    fn insert(&self, handle: ActorHandle) {
        self.lock().insert(handle.actor_id().to_owned(), handle);
    }

    /// Removes the instance if it is still `generation` (a newer one may have replaced it).
    fn remove(&self, actor_id: &str, generation: u32) -> Option<ActorHandle> {
        let mut actors = self.lock();
        match actors.get(actor_id) {
            Some(handle) if handle.generation() == generation => actors.remove(actor_id),
            _ => None,
        }
    }

    /// Number of actor instances running in this process.
    pub(crate) fn running(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ActorHandle>> {
        // A panic while holding this lock cannot leave the map half-updated (single inserts and
        // removes), so a poisoned lock is still consistent.
        self.actors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

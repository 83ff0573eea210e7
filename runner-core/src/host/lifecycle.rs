//! Starting and stopping actor instances, whichever way the engine's command arrived: the
//! envoy callbacks call these, and so does [`crate::testing`] without an engine.

use std::sync::Arc;

use crate::actor::{ActorControl, ActorHandle, ActorInit, StopError};
use crate::error::ActorStartError;
use crate::persist::{PersistError, Replica};
use crate::rt::BlockingError;
use crate::storage::ActorKey;

use super::ActorHost;

/// What the engine says about an actor it starts.
#[derive(Debug, Clone)]
pub(crate) struct ActorStart {
    /// The actor's namespace.
    pub(crate) namespace: String,
    /// Rivet actor id.
    pub(crate) actor_id: String,
    /// The allocation's generation.
    pub(crate) generation: u32,
    /// The registered actor name.
    pub(crate) name: String,
    /// The actor's key.
    pub(crate) key: Option<String>,
    /// Create input (CBOR).
    pub(crate) input: Option<Vec<u8>>,
}

/// Why an actor did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// Its code could not be found or loaded, its data opened, or a start hook failed.
    #[error(transparent)]
    Start(#[from] ActorStartError),
    /// Its persisted data could not be claimed or restored.
    #[error("restore actor data: {0}")]
    Restore(#[from] PersistError),
    /// The blocking start task failed.
    #[error("actor start task: {0}")]
    Task(#[from] BlockingError),
}

impl ActorHost {
    /// Claims and restores the actor's data, opens it, runs its start hooks, and registers the
    /// running instance, whose handle it returns. `control` is how it reaches the engine.
    pub(crate) async fn start(
        &self,
        start: ActorStart,
        control: Arc<dyn ActorControl>,
    ) -> Result<ActorHandle, LifecycleError> {
        let factory = self.registry.resolve(&start.namespace, &start.name).await?;
        let key = ActorKey {
            namespace: start.namespace.clone(),
            actor_id: start.actor_id.clone(),
        };
        let replica = match &self.persistence {
            Some(persistence) => {
                persistence
                    .restore(&key, start.generation, &self.store.actor_dir(&key))
                    .await?
            }
            None => Replica::local(),
        };
        let store = self.store.clone();
        let (idle_sleep, action_timeout) = (self.idle_sleep, self.action_timeout);
        // Opening SQLite and running start hooks block: keep them off the async workers.
        let handle = crate::rt::run_blocking(move || {
            let files = store.open(&key, replica.is_replicated())?;
            factory.start(ActorInit {
                namespace: start.namespace,
                actor_id: start.actor_id,
                generation: start.generation,
                key: start.key,
                input: start.input,
                files,
                idle_sleep,
                action_timeout,
                control,
                replica,
            })
        })
        .await??;
        self.insert(handle.clone());
        Ok(handle)
    }

    /// Stops generation `generation` of the actor if it runs here: it saves its data (or, on
    /// `destroy`, its data is deleted, locally and in the object store). Stopping an actor that
    /// is not running is not an error: the engine may repeat a stop.
    pub(crate) async fn stop(
        &self,
        key: &ActorKey,
        generation: u32,
        destroy: bool,
    ) -> Result<(), StopError> {
        if let Some(actor) = self.remove(&key.actor_id, generation) {
            actor.stop(destroy).await?;
        }
        if destroy {
            self.after_destroy(key).await
        } else {
            self.after_sleep(key)
        }
    }

    /// Deletes a destroyed actor's data, locally and in the object store. (A stopping actor
    /// ships its own last writes before it closes.)
    async fn after_destroy(&self, key: &ActorKey) -> Result<(), StopError> {
        if let Some(persistence) = &self.persistence {
            persistence
                .destroy(key)
                .await
                .map_err(StopError::DeleteStored)?;
        }
        self.store.destroy(key).map_err(StopError::DeleteLocal)
    }

    /// Drops a persisted actor's local copy after it stopped, where the local disk is memory
    /// ([`crate::disk::KEEPS_STOPPED_ACTORS`]). Its data is in the object store, and the next
    /// start downloads it.
    fn after_sleep(&self, key: &ActorKey) -> Result<(), StopError> {
        if crate::disk::KEEPS_STOPPED_ACTORS || self.persistence.is_none() {
            return Ok(());
        }
        self.store.destroy(key).map_err(StopError::DeleteLocal)
    }
}

#[cfg(test)]
mod conn_tests;
#[cfg(test)]
mod tests;

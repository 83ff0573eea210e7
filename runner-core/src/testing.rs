//! Hosting actors without an engine, for tests and benchmarks: the same start and stop the
//! envoy callbacks run, with a control that records what the actor asked of the engine.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::actor::{ActorControl, ActorHandle, Registry, StopError};
use crate::host::{ActorHost, ActorStart, LifecycleError};
use crate::persist::Persistence;
use crate::storage::{ActorKey, ActorStore};

/// The namespace actors started through a [`TestHost`] live in.
pub const NAMESPACE: &str = "default";

/// An actor host with no engine: actors start and stop when the test says so.
pub struct TestHost {
    host: Arc<ActorHost>,
    control: Arc<RecordingControl>,
}

impl std::fmt::Debug for TestHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestHost")
            .field("running", &self.host.running())
            .finish_non_exhaustive()
    }
}

/// How long an actor idles before it asks to sleep, and how long one action may run.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// Idle time before the actor asks to sleep.
    pub idle_sleep: Duration,
    /// The action timeout.
    pub action_timeout: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            idle_sleep: Duration::from_secs(3600),
            action_timeout: Duration::from_secs(60),
        }
    }
}

impl TestHost {
    /// Hosts `registry`'s actors with their data under `store`, persisted through
    /// `persistence` if given.
    pub fn new(
        registry: Registry,
        store: ActorStore,
        persistence: Option<Persistence>,
        timings: Timings,
    ) -> Self {
        let host = ActorHost::new(
            registry,
            store,
            (timings.idle_sleep, timings.action_timeout),
            persistence.map(Arc::new),
        );
        Self {
            host,
            control: Arc::new(RecordingControl::default()),
        }
    }

    /// Starts actor `actor_id` of kind `name` at `generation`, as the engine's start command
    /// would, and returns its handle.
    pub async fn start(
        &self,
        name: &str,
        actor_id: &str,
        generation: u32,
    ) -> Result<ActorHandle, LifecycleError> {
        let start = ActorStart {
            namespace: NAMESPACE.to_owned(),
            actor_id: actor_id.to_owned(),
            generation,
            name: name.to_owned(),
            key: None,
            input: None,
        };
        self.host.start(start, self.control.clone()).await
    }

    /// Stops generation `generation` of the actor, saving its data, or deleting it on
    /// `destroy`, as the engine's stop command would.
    pub async fn stop(
        &self,
        actor_id: &str,
        generation: u32,
        destroy: bool,
    ) -> Result<(), StopError> {
        self.host.stop(&key(actor_id), generation, destroy).await
    }

    /// Actor instances running.
    pub fn running(&self) -> usize {
        self.host.running()
    }

    /// What the actors asked of the engine.
    pub fn control(&self) -> &RecordingControl {
        &self.control
    }
}

/// The key of `actor_id` in [`NAMESPACE`].
pub fn key(actor_id: &str) -> ActorKey {
    ActorKey {
        namespace: NAMESPACE.to_owned(),
        actor_id: actor_id.to_owned(),
    }
}

/// Records an actor's requests to the engine instead of sending them.
#[derive(Debug, Default)]
pub struct RecordingControl {
    sleeps: AtomicU32,
    destroys: AtomicU32,
    alarm: Mutex<Option<i64>>,
}

impl RecordingControl {
    /// How many times an actor asked to sleep.
    pub fn sleep_requests(&self) -> u32 {
        self.sleeps.load(Ordering::Relaxed)
    }

    /// How many times an actor asked to be destroyed.
    pub fn destroy_requests(&self) -> u32 {
        self.destroys.load(Ordering::Relaxed)
    }

    /// The alarm last set, in ms since the Unix epoch.
    pub fn alarm(&self) -> Option<i64> {
        *self
            .alarm
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ActorControl for RecordingControl {
    fn request_sleep(&self) {
        self.sleeps.fetch_add(1, Ordering::Relaxed);
    }

    fn request_destroy(&self) {
        self.destroys.fetch_add(1, Ordering::Relaxed);
    }

    fn set_alarm(&self, at_ms: Option<i64>) {
        *self
            .alarm
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = at_ms;
    }
}

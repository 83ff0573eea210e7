//! Actor definitions by name, and how an instance is started from one.

use std::collections::BTreeMap;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::error::ActorStartError;
use crate::persist::Replica;
use crate::storage::ActorFiles;

use super::behavior::Native;
use super::definition::Actor;
use super::instance;
use super::mailbox::ActorHandle;

/// What the host lets an actor ask of the engine.
pub trait ActorControl: Send + Sync {
    /// Asks the engine to put the actor to sleep (intent Sleep).
    fn request_sleep(&self);
    /// Sets (or clears) the time the engine wakes the actor, in ms since the Unix epoch.
    fn set_alarm(&self, at_ms: Option<i64>);
    /// Asks the engine to destroy the actor (intent Stop): it stops it, and the runner deletes
    /// its data everywhere.
    fn request_destroy(&self);
}

/// Everything needed to start one actor instance.
pub struct ActorInit {
    /// The engine namespace the actor lives in.
    pub namespace: String,
    /// Rivet actor id.
    pub actor_id: String,
    /// Generation of this allocation.
    pub generation: u32,
    /// The actor's key.
    pub key: Option<String>,
    /// Create input (CBOR bytes), sent with every start.
    pub input: Option<Vec<u8>>,
    /// The actor's opened local data.
    pub files: ActorFiles,
    /// Idle time after which the actor asks to sleep.
    pub idle_sleep: Duration,
    /// How long one action may run (RivetKit's `actionTimeout`). An action that returns later
    /// is rolled back and fails with `actor.action_timed_out`: synchronous code cannot be
    /// interrupted, but its effects can be refused.
    pub action_timeout: Duration,
    /// Engine-side controls.
    pub control: Arc<dyn ActorControl>,
    /// Ships the actor's writes to the object store ([`Replica::local`] without one).
    pub replica: Replica,
}

impl std::fmt::Debug for ActorInit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorInit")
            .field("namespace", &self.namespace)
            .field("actor_id", &self.actor_id)
            .field("generation", &self.generation)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Starts instances of one kind of actor. Native Rust actors use [`NativeFactory`]; sandboxed
/// runtimes implement this trait too.
pub trait ActorFactory: Send + Sync + 'static {
    /// The actor name.
    fn name(&self) -> &str;
    /// Loads the actor's data, runs its start hooks and spawns its task. Blocking: call it from a
    /// blocking context.
    fn start(&self, init: ActorInit) -> Result<ActorHandle, ActorStartError>;
}

/// The factory for a native Rust actor type.
pub struct NativeFactory<A>(PhantomData<fn() -> A>);

impl<A> Default for NativeFactory<A> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<A> std::fmt::Debug for NativeFactory<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NativeFactory")
    }
}

impl<A: Actor> ActorFactory for NativeFactory<A> {
    fn name(&self) -> &str {
        A::NAME
    }

    fn start(&self, init: ActorInit) -> Result<ActorHandle, ActorStartError> {
        instance::start(A::NAME, Box::new(Native::<A>::new()), init)
    }
}

/// What [`ActorResolver::resolve`] returns.
pub type ResolveFuture<'a> = Pin<
    Box<dyn Future<Output = Result<Option<Arc<dyn ActorFactory>>, ActorStartError>> + Send + 'a>,
>;

/// Finds the factory for an actor name the registry does not list: code published per
/// namespace after the runner was deployed (see `crate::sandbox::Catalog`).
pub trait ActorResolver: Send + Sync + 'static {
    /// The factory for `name` in `namespace`, `None` if there is no such actor there.
    fn resolve<'a>(&'a self, namespace: &'a str, name: &'a str) -> ResolveFuture<'a>;
}

/// The actors a runner hosts: factories registered by name, and an optional resolver consulted
/// first.
#[derive(Clone, Default)]
pub struct Registry {
    factories: BTreeMap<String, Arc<dyn ActorFactory>>,
    resolver: Option<Arc<dyn ActorResolver>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("actors", &self.factories.keys().collect::<Vec<_>>())
            .field("resolver", &self.resolver.is_some())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a native Rust actor type.
    pub fn with_actor<A: Actor>(self) -> Self {
        self.with_factory(Arc::new(NativeFactory::<A>::default()))
    }

    /// Registers any factory under its name.
    pub fn with_factory(mut self, factory: Arc<dyn ActorFactory>) -> Self {
        self.factories.insert(factory.name().to_owned(), factory);
        self
    }

    /// Asks `resolver` for names not registered here.
    pub fn with_resolver(mut self, resolver: Arc<dyn ActorResolver>) -> Self {
        self.resolver = Some(resolver);
        self
    }

    /// The registered factory for `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn ActorFactory>> {
        self.factories.get(name).cloned()
    }

    /// The factory for `name` in `namespace`: the resolver's, if it has one there (code a
    /// namespace published replaces a built-in actor of the same name, in that namespace only),
    /// else the registered one.
    pub async fn resolve(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<dyn ActorFactory>, ActorStartError> {
        if let Some(resolver) = &self.resolver
            && let Some(factory) = resolver.resolve(namespace, name).await?
        {
            return Ok(factory);
        }
        self.get(name)
            .ok_or_else(|| ActorStartError::UnknownActor(name.to_owned()))
    }

    /// Registered actor names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }
}

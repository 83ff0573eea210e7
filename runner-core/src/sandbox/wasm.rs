//! WebAssembly component actors on wasmtime.
//!
//! - One [`WasmRuntime`] per process: the engine (pooling allocator, epoch interruption), the
//!   linker with WASI and the `rivet:actor` host, and a ticker thread that advances the epoch.
//! - A [`WasmCode`] per component: compiled once (or loaded precompiled) and pre-instantiated,
//!   so starting an actor is an instantiation from the pool.
//! - A [`WasmFactory`] registers a component under an actor name; each actor instance gets its
//!   own store, its own memory limit, WASI with only its files mount preopened at `/data` (no
//!   environment, no arguments, no sockets), and a time limit per call.

mod behavior;
mod cache;
mod guest_log;
mod host;
mod sleeps;

pub use cache::{ArtifactKey, CacheTier, ComponentCache};

use std::sync::{Arc, Weak};
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::actor::Behavior;

use super::SandboxLimits;
use super::outbound::Outbound;
use behavior::WasmBehavior;
use host::HostState;

/// How often the epoch advances: the granularity of the per-call time limit.
const EPOCH_TICK: Duration = Duration::from_millis(10);

wasmtime::component::bindgen!({
    path: "wit",
    world: "actor",
});

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WasmError {
    /// The engine could not be configured.
    #[error("configure wasmtime: {0}")]
    Engine(String),
    /// The bytes are not a valid component, or it does not implement the `rivet:actor` world.
    #[error("load component: {0}")]
    Component(String),
}

/// The process-wide WebAssembly engine and linker.
#[derive(Clone)]
pub struct WasmRuntime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: Engine,
    linker: Linker<HostState>,
    limits: SandboxLimits,
}

impl std::fmt::Debug for WasmRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmRuntime")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl WasmRuntime {
    /// An engine whose instances run under `limits`, pooling up to `max_instances` at once.
    pub fn new(limits: SandboxLimits, max_instances: u32) -> Result<Self, WasmError> {
        let engine = Engine::new(&engine_config(limits, max_instances))
            .map_err(|e| WasmError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .and_then(|()| sleeps::bound_sleeps(&mut linker))
            .map_err(|e| WasmError::Engine(format!("{e:#}")))?;
        Actor::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|e| WasmError::Engine(format!("{e:#}")))?;
        let inner = Arc::new(RuntimeInner {
            engine,
            linker,
            limits,
        });
        spawn_epoch_ticker(Arc::downgrade(&inner));
        Ok(Self { inner })
    }

    /// Compiles a component and checks it implements the `rivet:actor` world.
    pub fn compile(&self, wasm: &[u8]) -> Result<WasmCode, WasmError> {
        let component = Component::new(&self.inner.engine, wasm)
            .map_err(|e| WasmError::Component(format!("{e:#}")))?;
        self.prepare(component)
    }

    fn prepare(&self, component: Component) -> Result<WasmCode, WasmError> {
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| WasmError::Component(format!("{e:#}")))?;
        let pre = ActorPre::new(pre).map_err(|e| WasmError::Component(format!("{e:#}")))?;
        Ok(WasmCode {
            runtime: self.clone(),
            pre,
        })
    }
}

fn engine_config(limits: SandboxLimits, max_instances: u32) -> Config {
    let mut pool = PoolingAllocationConfig::default();
    // A std-using component has several core instances and memories; size for a few each.
    pool.total_component_instances(max_instances)
        .total_core_instances(max_instances.saturating_mul(4))
        .total_memories(max_instances.saturating_mul(4))
        .total_tables(max_instances.saturating_mul(4))
        .max_memory_size(limits.memory_bytes);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// Advances the engine's epoch every [`EPOCH_TICK`] while the runtime lives.
fn spawn_epoch_ticker(runtime: Weak<RuntimeInner>) {
    let spawned = std::thread::Builder::new()
        .name("wasm-epoch".to_owned())
        .spawn(move || {
            while let Some(runtime) = runtime.upgrade() {
                runtime.engine.increment_epoch();
                drop(runtime);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(err) = spawned {
        tracing::error!(error = %err, "could not start the wasm epoch ticker: calls have no time limit");
    }
}

/// A compiled, pre-instantiated component.
#[derive(Clone)]
pub struct WasmCode {
    runtime: WasmRuntime,
    pre: ActorPre<HostState>,
}

impl WasmCode {
    /// Instantiates the component once, runs none of its exports, and drops the instance: a
    /// load-time check that it links and starts, and what each new actor pays in the sandbox.
    pub fn check_instantiates(&self) -> Result<(), WasmError> {
        behavior::instantiate(self, None, Arc::default())
            .map(drop)
            .map_err(|e| WasmError::Component(e.message))
    }
}

impl std::fmt::Debug for WasmCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WasmCode")
    }
}

/// Starts actors of one name from WebAssembly code: the one sandbox factory.
pub type WasmFactory = super::SandboxFactory;

impl WasmCode {
    /// The behaviour of a new instance: its files under `files_dir`, its outbound HTTP what
    /// `outbound` grants its namespace.
    pub(crate) fn behavior(
        &self,
        files_dir: &std::path::Path,
        outbound: Option<Outbound>,
    ) -> Box<dyn Behavior> {
        Box::new(WasmBehavior::new(self.clone(), files_dir, outbound))
    }
}

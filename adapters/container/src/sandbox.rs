//! The operator's WebAssembly actors (`RUNNER_WASM_ACTORS`), compiled at startup so a bad
//! component stops the runner with its name instead of failing its first actor.

use std::sync::Arc;

use runner_core::actor::Registry;
use runner_core::object_store::ObjectStore;

use crate::{BuildError, SandboxConfig};

/// Where compiled components are shared in the object store, beside the actors' data.
#[cfg(feature = "wasm")]
const CACHE_PREFIX: &str = "component-cache";

#[cfg(feature = "wasm")]
pub(crate) async fn with_wasm_actors(
    mut registry: Registry,
    config: &SandboxConfig,
    store: Option<Arc<dyn ObjectStore>>,
) -> Result<Registry, BuildError> {
    use runner_core::sandbox::SandboxLimits;
    use runner_core::sandbox::wasm::{ComponentCache, WasmFactory, WasmRuntime};

    if config.wasm_actors.is_empty() {
        return Ok(registry);
    }
    let limits = SandboxLimits {
        memory_bytes: config.memory_bytes,
        call_time: config.call_time,
    };
    let runtime =
        WasmRuntime::new(limits, config.max_instances).map_err(|e| BuildError::LoadComponent {
            name: "(runtime)".to_owned(),
            reason: e.to_string(),
        })?;
    let mut cache = ComponentCache::new().with_dir(&config.cache_dir);
    if let Some(store) = store {
        cache = cache.with_object_store(store, CACHE_PREFIX);
    }
    for (name, path) in &config.wasm_actors {
        let wasm = std::fs::read(path).map_err(|source| BuildError::ReadComponent {
            name: name.clone(),
            path: path.display().to_string(),
            source,
        })?;
        let load_error = |e: runner_core::sandbox::wasm::WasmError| BuildError::LoadComponent {
            name: name.clone(),
            reason: e.to_string(),
        };
        let (code, tier) = runtime.load(&wasm, &cache).await.map_err(load_error)?;
        code.check_instantiates().map_err(load_error)?;
        tracing::info!(actor = %name, path = %path.display(), ?tier, "loaded wasm actor");
        registry = registry.with_factory(Arc::new(WasmFactory::new(name.clone(), code)));
    }
    Ok(registry)
}

#[cfg(not(feature = "wasm"))]
pub(crate) async fn with_wasm_actors(
    registry: Registry,
    config: &SandboxConfig,
    _store: Option<Arc<dyn ObjectStore>>,
) -> Result<Registry, BuildError> {
    match config.wasm_actors.first() {
        None => Ok(registry),
        Some((name, _)) => Err(BuildError::LoadComponent {
            name: name.clone(),
            reason: "this build has no WebAssembly runtime (feature `wasm`)".to_owned(),
        }),
    }
}

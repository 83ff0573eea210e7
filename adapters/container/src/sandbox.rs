//! The operator's WebAssembly actors (`RUNNER_WASM_ACTORS`), compiled at startup so a bad
//! component stops the runner with its name instead of failing its first actor.

use runner_core::actor::Registry;

use crate::{BuildError, SandboxConfig};

#[cfg(feature = "wasm")]
pub(crate) fn with_wasm_actors(
    mut registry: Registry,
    config: &SandboxConfig,
) -> Result<Registry, BuildError> {
    use std::sync::Arc;

    use runner_core::sandbox::SandboxLimits;
    use runner_core::sandbox::wasm::{WasmFactory, WasmRuntime};

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
    for (name, path) in &config.wasm_actors {
        let wasm = std::fs::read(path).map_err(|source| BuildError::ReadComponent {
            name: name.clone(),
            path: path.display().to_string(),
            source,
        })?;
        let code = runtime
            .compile(&wasm)
            .and_then(|code| code.check_instantiates().map(|()| code))
            .map_err(|e| BuildError::LoadComponent {
                name: name.clone(),
                reason: e.to_string(),
            })?;
        tracing::info!(actor = %name, path = %path.display(), "loaded wasm actor");
        registry = registry.with_factory(Arc::new(WasmFactory::new(name.clone(), code)));
    }
    Ok(registry)
}

#[cfg(not(feature = "wasm"))]
pub(crate) fn with_wasm_actors(
    registry: Registry,
    config: &SandboxConfig,
) -> Result<Registry, BuildError> {
    match config.wasm_actors.first() {
        None => Ok(registry),
        Some((name, _)) => Err(BuildError::LoadComponent {
            name: name.clone(),
            reason: "this build has no WebAssembly runtime (feature `wasm`)".to_owned(),
        }),
    }
}

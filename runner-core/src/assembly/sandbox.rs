//! Sandboxed actors: the operator's WebAssembly components (`RUNNER_WASM_ACTORS`), compiled at
//! startup so a bad component stops the runner with its name instead of failing its first
//! actor; and code published per namespace (`RUNNER_BUNDLE_NAMESPACES`), resolved from the
//! object store when an actor starts (and, with `RUNNER_PUBLISH_KEY`, checked to be signed
//! with its namespace's publish token).

use std::sync::Arc;

use super::{BuildError, SandboxSettings};
use crate::actor::Registry;
use crate::object_store::ObjectStore;

#[cfg(any(feature = "wasmtime", feature = "js"))]
pub(super) async fn with_sandboxed_actors(
    registry: Registry,
    config: &SandboxSettings,
    store: Option<Arc<dyn ObjectStore>>,
) -> Result<Registry, BuildError> {
    use crate::bundle::BundleStore;
    use crate::sandbox::{Catalog, NamespaceAllow, SandboxLimits};

    use super::BundleNamespaces;

    let limits = SandboxLimits {
        memory_bytes: config.memory_bytes,
        call_time: config.call_time,
    };
    let outbound = Arc::new(outbound_policy(config)?);
    let namespaces = match &config.bundle_namespaces {
        BundleNamespaces::Off => None,
        BundleNamespaces::Any => Some(NamespaceAllow::Any),
        BundleNamespaces::Only(list) => Some(NamespaceAllow::Only(list.clone())),
    };
    if config.wasm_actors.is_empty() && namespaces.is_none() {
        return Ok(registry);
    }
    #[cfg(feature = "wasmtime")]
    let (registry, wasm, cache) = {
        let (wasm, cache) = wasm_runtime(config, limits, store.clone())?;
        let registry = with_wasm_actors(registry, config, &wasm, &cache, &outbound).await?;
        (registry, wasm, cache)
    };
    #[cfg(not(feature = "wasmtime"))]
    refuse_wasm_actors(config)?;
    let Some(namespaces) = namespaces else {
        return Ok(registry);
    };
    let store = store.ok_or(BuildError::BundlesWithoutStore)?;
    let catalog = Catalog::new(BundleStore::new(store, &config.bundle_prefix), namespaces)
        .with_outbound(outbound);
    let catalog = with_publish_key(catalog, config);
    #[cfg(feature = "wasmtime")]
    let catalog = catalog.with_wasm(wasm, cache);
    #[cfg(feature = "js")]
    let catalog = catalog.with_js(crate::sandbox::js::JsRuntime::new(limits).map_err(|e| {
        BuildError::LoadComponent {
            name: "(javascript runtime)".to_owned(),
            reason: e.to_string(),
        }
    })?);
    tracing::info!(namespaces = ?config.bundle_namespaces, prefix = %config.bundle_prefix, "running published actor code");
    Ok(registry.with_resolver(Arc::new(catalog)))
}

/// Makes the catalog verify each pointer under its namespace's token, or says (once, at
/// startup) that without `RUNNER_PUBLISH_KEY` the bucket's writers decide what runs.
#[cfg(any(feature = "wasmtime", feature = "js"))]
fn with_publish_key(
    catalog: crate::sandbox::Catalog,
    config: &SandboxSettings,
) -> crate::sandbox::Catalog {
    match &config.publish_key {
        Some(secret) => {
            catalog.with_publish_key(crate::bundle::PublishKey::new(secret.0.as_bytes()))
        }
        None => {
            tracing::warn!(
                "no RUNNER_PUBLISH_KEY: published code is not verified, so anyone who can write the bucket can publish code for any namespace"
            );
            catalog
        }
    }
}

#[cfg(any(feature = "wasmtime", feature = "js"))]
fn outbound_policy(config: &SandboxSettings) -> Result<crate::sandbox::OutboundPolicy, BuildError> {
    use crate::sandbox::{OutboundPolicy, OutboundRule};

    let mut policy = OutboundPolicy::new();
    for grant in &config.outbound {
        let bad = |e: crate::sandbox::OutboundRuleError| BuildError::Outbound {
            namespace: grant.namespace.clone(),
            reason: e.to_string(),
        };
        let mut rule = OutboundRule::new(&grant.origin).map_err(bad)?;
        for (name, value) in &grant.headers {
            rule = rule.with_header(name, value).map_err(bad)?;
        }
        if grant.private_addresses {
            rule = rule.allowing_private_addresses();
        }
        policy = policy.allow(grant.namespace.clone(), rule);
    }
    Ok(policy)
}

/// Where compiled components are shared in the object store, beside the actors' data.
#[cfg(feature = "wasmtime")]
const CACHE_PREFIX: &str = "component-cache";

#[cfg(feature = "wasmtime")]
fn wasm_runtime(
    config: &SandboxSettings,
    limits: crate::sandbox::SandboxLimits,
    store: Option<Arc<dyn ObjectStore>>,
) -> Result<
    (
        crate::sandbox::wasm::WasmRuntime,
        crate::sandbox::wasm::ComponentCache,
    ),
    BuildError,
> {
    use crate::sandbox::wasm::{ArtifactKey, ComponentCache, WasmRuntime};

    let runtime =
        WasmRuntime::new(limits, config.max_instances).map_err(|e| BuildError::LoadComponent {
            name: "(runtime)".to_owned(),
            reason: e.to_string(),
        })?;
    let mut cache = ComponentCache::new().with_dir(&config.cache_dir);
    match &config.cache_secret {
        Some(secret) => cache = cache.with_key(ArtifactKey::derive(secret.0.as_bytes())),
        None => tracing::info!(
            "no RUNNER_CACHE_KEY: compiled components cached by other processes are recompiled"
        ),
    }
    if let Some(store) = store {
        cache = cache.with_object_store(store, CACHE_PREFIX);
    }
    Ok((runtime, cache))
}

#[cfg(feature = "wasmtime")]
async fn with_wasm_actors(
    mut registry: Registry,
    config: &SandboxSettings,
    runtime: &crate::sandbox::wasm::WasmRuntime,
    cache: &crate::sandbox::wasm::ComponentCache,
    outbound: &Arc<crate::sandbox::OutboundPolicy>,
) -> Result<Registry, BuildError> {
    use crate::sandbox::wasm::WasmFactory;

    for (name, path) in &config.wasm_actors {
        let wasm = std::fs::read(path).map_err(|source| BuildError::ReadComponent {
            name: name.clone(),
            path: path.display().to_string(),
            source,
        })?;
        let load_error = |e: crate::sandbox::wasm::WasmError| BuildError::LoadComponent {
            name: name.clone(),
            reason: e.to_string(),
        };
        let (code, tier) = runtime.load(&wasm, cache).await.map_err(load_error)?;
        code.check_instantiates().map_err(load_error)?;
        tracing::info!(actor = %name, path = %path.display(), ?tier, "loaded wasm actor");
        let factory = WasmFactory::new(name.clone(), code).with_outbound(outbound.clone());
        registry = registry.with_factory(Arc::new(factory));
    }
    Ok(registry)
}

#[cfg(not(feature = "wasmtime"))]
fn refuse_wasm_actors(config: &SandboxSettings) -> Result<(), BuildError> {
    match config.wasm_actors.first() {
        None => Ok(()),
        Some((name, _)) => Err(BuildError::LoadComponent {
            name: name.clone(),
            reason: "this build has no WebAssembly runtime (feature `wasm`)".to_owned(),
        }),
    }
}

#[cfg(not(any(feature = "wasmtime", feature = "js")))]
pub(super) async fn with_sandboxed_actors(
    registry: Registry,
    config: &SandboxSettings,
    _store: Option<Arc<dyn ObjectStore>>,
) -> Result<Registry, BuildError> {
    refuse_wasm_actors(config)?;
    if config.bundle_namespaces != super::BundleNamespaces::Off {
        return Err(BuildError::NoSandbox);
    }
    Ok(registry)
}

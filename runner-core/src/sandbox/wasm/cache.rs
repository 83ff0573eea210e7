//! Compiled components, so each component is compiled once rather than once per process.
//!
//! Three tiers, tried in order: this process's memory, a local directory, and the object store
//! (shared by every runner, so a cold instance on a new machine skips compilation too). A miss
//! compiles and fills every tier. Cache failures are logged and fall through to the next tier;
//! only a component that does not compile is an error.
//!
//! Keys are `{sha256 of the component}-{engine compatibility hash}`, so a runner with another
//! wasmtime version or configuration never loads an artifact it did not produce. A precompiled
//! artifact is machine code the runner will execute: whoever can write the cache directory or
//! the bucket prefix can run code in the runner, and must be trusted like the runner's binary.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::object_store::{ObjectStore, ObjectStoreError, PutMode};

use super::{WasmCode, WasmError, WasmRuntime};

/// Where a component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheTier {
    /// Already loaded in this process.
    Memory,
    /// Precompiled, from the local directory.
    Disk,
    /// Precompiled, from the object store.
    ObjectStore,
    /// Compiled now: no tier had it.
    Compiled,
}

/// The precompiled-component cache. Cheap to share: clone the `Arc` it is kept in.
#[derive(Default)]
pub struct ComponentCache {
    memory: Mutex<HashMap<String, WasmCode>>,
    dir: Option<PathBuf>,
    remote: Option<(Arc<dyn ObjectStore>, String)>,
}

impl std::fmt::Debug for ComponentCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentCache")
            .field("dir", &self.dir)
            .field("remote_prefix", &self.remote.as_ref().map(|(_, p)| p))
            .finish_non_exhaustive()
    }
}

impl ComponentCache {
    /// A cache in memory only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also keeps precompiled components in `dir`.
    pub fn with_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Also keeps precompiled components in `store` under `prefix`.
    pub fn with_object_store(mut self, store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        self.remote = Some((store, prefix.trim_end_matches('/').to_owned()));
        self
    }

    fn remembered(&self, key: &str) -> Option<WasmCode> {
        self.lock().get(key).cloned()
    }

    fn remember(&self, key: &str, code: &WasmCode) {
        self.lock().insert(key.to_owned(), code.clone());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, WasmCode>> {
        self.memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl WasmRuntime {
    /// The component `wasm`, from the fastest tier of `cache` that has it, or compiled and
    /// cached in every tier.
    pub async fn load(
        &self,
        wasm: &[u8],
        cache: &ComponentCache,
    ) -> Result<(WasmCode, CacheTier), WasmError> {
        let key = self.cache_key(wasm);
        if let Some(code) = cache.remembered(&key) {
            return Ok((code, CacheTier::Memory));
        }
        if let Some(code) = self.load_from_disk(cache, &key) {
            cache.remember(&key, &code);
            return Ok((code, CacheTier::Disk));
        }
        if let Some((code, artifact)) = self.load_from_store(cache, &key).await {
            write_disk(cache, &key, &artifact);
            cache.remember(&key, &code);
            return Ok((code, CacheTier::ObjectStore));
        }
        let engine = self.inner.engine.clone();
        let bytes = wasm.to_vec();
        let artifact = tokio::task::spawn_blocking(move || engine.precompile_component(&bytes))
            .await
            .map_err(|e| WasmError::Component(format!("compile task: {e}")))?
            .map_err(|e| WasmError::Component(format!("{e:#}")))?;
        let component = deserialize(&self.inner.engine, &artifact)
            .map_err(|e| WasmError::Component(format!("{e:#}")))?;
        let code = self.prepare(component)?;
        write_disk(cache, &key, &artifact);
        write_store(cache, &key, artifact).await;
        cache.remember(&key, &code);
        Ok((code, CacheTier::Compiled))
    }

    fn cache_key(&self, wasm: &[u8]) -> String {
        let mut engine = DefaultHasher::new();
        self.inner
            .engine
            .precompile_compatibility_hash()
            .hash(&mut engine);
        format!(
            "{}-{:016x}",
            hex::encode(Sha256::digest(wasm)),
            engine.finish()
        )
    }

    fn load_from_disk(&self, cache: &ComponentCache, key: &str) -> Option<WasmCode> {
        let path = cache.dir.as_ref()?.join(format!("{key}.cwasm"));
        let artifact = std::fs::read(&path).ok()?;
        self.revive(&artifact, &path.display().to_string())
    }

    async fn load_from_store(
        &self,
        cache: &ComponentCache,
        key: &str,
    ) -> Option<(WasmCode, Bytes)> {
        let (store, prefix) = cache.remote.as_ref()?;
        let object_key = format!("{prefix}/{key}.cwasm");
        match store.get(&object_key).await {
            Ok(Some(object)) => {
                let code = self.revive(&object.bytes, &object_key)?;
                Some((code, object.bytes))
            }
            Ok(None) => None,
            Err(err) => {
                tracing::warn!(key = %object_key, error = %err, "component cache: object store read failed");
                None
            }
        }
    }

    /// A cached artifact as code, or `None` (logged) if wasmtime refuses it.
    fn revive(&self, artifact: &[u8], from: &str) -> Option<WasmCode> {
        match deserialize(&self.inner.engine, artifact)
            .map_err(|e| WasmError::Component(format!("{e:#}")))
            .and_then(|component| self.prepare(component))
        {
            Ok(code) => Some(code),
            Err(err) => {
                tracing::warn!(%from, error = %err, "component cache: unusable artifact; recompiling");
                None
            }
        }
    }
}

/// Turns a precompiled artifact back into a component.
///
/// wasmtime marks this `unsafe` because the bytes are machine code that will run: they must
/// come from `precompile_component` or `Component::serialize` of a compatible engine. Here they
/// come only from this cache, which this module fills after compiling, under keys that include
/// the engine's compatibility hash; wasmtime also checks the artifact's version and settings
/// and refuses a mismatch. The trust this leaves (the cache's writers) is in the module docs.
#[allow(
    unsafe_code,
    reason = "loading precompiled code is what a compilation cache is for"
)]
fn deserialize(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: see the function's documentation: the artifact is one this cache produced with a
    // compatible engine, and wasmtime validates its header before use.
    unsafe { Component::deserialize(engine, artifact) }
}

/// Writes the artifact to the cache directory atomically (temporary file, then rename).
fn write_disk(cache: &ComponentCache, key: &str, artifact: &[u8]) {
    let Some(dir) = &cache.dir else { return };
    let path = dir.join(format!("{key}.cwasm"));
    let temporary = dir.join(format!(".{key}.{}.tmp", std::process::id()));
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&temporary, artifact))
        .and_then(|()| std::fs::rename(&temporary, &path));
    if let Err(err) = written {
        let _ = std::fs::remove_file(&temporary);
        tracing::warn!(path = %path.display(), error = %err, "component cache: could not write");
    }
}

/// Uploads the artifact unless another runner already did.
async fn write_store(cache: &ComponentCache, key: &str, artifact: Vec<u8>) {
    let Some((store, prefix)) = &cache.remote else {
        return;
    };
    let object_key = format!("{prefix}/{key}.cwasm");
    match store
        .put(&object_key, Bytes::from(artifact), PutMode::IfAbsent)
        .await
    {
        Ok(_) | Err(ObjectStoreError::PreconditionFailed { .. }) => {}
        Err(err) => {
            tracing::warn!(key = %object_key, error = %err, "component cache: could not upload");
        }
    }
}

//! Compiled components, so each component is compiled once rather than once per process.
//!
//! Three tiers, tried in order: this process's memory, a local directory, and the object store
//! (shared by every runner, so a cold instance on a new machine skips compilation too). A miss
//! compiles and fills every tier. Cache failures are logged and fall through to the next tier;
//! only a component that does not compile is an error.
//!
//! Keys are `{sha256 of the component}-{engine compatibility hash}`, so a runner with another
//! wasmtime version or configuration never loads an artifact it did not produce.
//!
//! A precompiled artifact is machine code the runner will execute, and the directory and the
//! bucket may be writable by others (a tenant with bucket access, another process). So every
//! artifact carries an HMAC-SHA256 under an [`ArtifactKey`] only runners hold, over its cache
//! key and its bytes, and it is checked before wasmtime sees a byte: a forged, swapped or
//! unsigned artifact is recompiled and replaced, never deserialized.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hmac::{KeyInit, Mac};
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

/// The secret that authenticates cached artifacts: runners that share a directory or a bucket
/// must share it (derive it from the runner secret, or set one). Without one, a random key for
/// this process is used, so artifacts from other processes are recompiled.
#[derive(Clone)]
pub struct ArtifactKey([u8; 32]);

impl ArtifactKey {
    /// Derives a key from any secret (the runner's shared secret, or a dedicated one).
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"rivet-runner/component-cache/v1");
        Self(mac.finalize().into_bytes().into())
    }

    /// A key known only to this process.
    pub fn for_this_process() -> Self {
        static KEY: std::sync::OnceLock<ArtifactKey> = std::sync::OnceLock::new();
        KEY.get_or_init(|| {
            let mut bytes = [0u8; 32];
            if let Err(err) = getrandom::fill(&mut bytes) {
                // No entropy: a key nobody else holds is still better than none, but it is
                // guessable, so say so.
                tracing::error!(error = %err, "no OS randomness for the component cache's key");
                let clock = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                return Self::derive(format!("{clock}-{}", std::process::id()).as_bytes());
            }
            Self(bytes)
        })
        .clone()
    }

    fn mac(&self, cache_key: &str, artifact: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(cache_key.as_bytes());
        mac.update(&[0]);
        mac.update(artifact);
        mac
    }

    /// `MAGIC ‖ tag ‖ artifact`.
    fn seal(&self, cache_key: &str, artifact: &[u8]) -> Vec<u8> {
        let tag = self.mac(cache_key, artifact).finalize().into_bytes();
        let mut sealed = Vec::with_capacity(MAGIC.len() + tag.len() + artifact.len());
        sealed.extend_from_slice(MAGIC);
        sealed.extend_from_slice(&tag);
        sealed.extend_from_slice(artifact);
        sealed
    }

    /// The artifact inside `sealed`, if its tag is this key's for `cache_key` (checked in
    /// constant time).
    fn open<'a>(&self, cache_key: &str, sealed: &'a [u8]) -> Option<&'a [u8]> {
        let rest = sealed.strip_prefix(MAGIC)?;
        let (tag, artifact) = rest.split_at_checked(TAG_LEN)?;
        self.mac(cache_key, artifact).verify_slice(tag).ok()?;
        Some(artifact)
    }
}

impl std::fmt::Debug for ArtifactKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ArtifactKey(..)")
    }
}

type HmacSha256 = hmac::Hmac<Sha256>;
/// Marks a sealed artifact (and its format).
const MAGIC: &[u8] = b"rivet-cwasm-hmac1\n";
const TAG_LEN: usize = 32;

/// The precompiled-component cache. Cheap to share: clone the `Arc` it is kept in.
pub struct ComponentCache {
    memory: Mutex<HashMap<String, WasmCode>>,
    dir: Option<PathBuf>,
    remote: Option<(Arc<dyn ObjectStore>, String)>,
    key: ArtifactKey,
}

impl Default for ComponentCache {
    fn default() -> Self {
        Self {
            memory: Mutex::default(),
            dir: None,
            remote: None,
            key: ArtifactKey::for_this_process(),
        }
    }
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

    /// Authenticates artifacts with `key` (shared by the runners that share the tiers)
    /// instead of this process's own.
    pub fn with_key(mut self, key: ArtifactKey) -> Self {
        self.key = key;
        self
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
        let remote = self.load_from_store(cache, &key).await;
        if let Remote::Found(code, sealed) = remote {
            write_disk(cache, &key, &sealed);
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
        let sealed = cache.key.seal(&key, &artifact);
        write_disk(cache, &key, &sealed);
        // A refused object is replaced; otherwise the first runner to upload wins.
        let mode = match remote {
            Remote::Refused => PutMode::Overwrite,
            _ => PutMode::IfAbsent,
        };
        write_store(cache, &key, sealed, mode).await;
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
        let sealed = std::fs::read(&path).ok()?;
        self.revive(cache, key, &sealed, &path.display().to_string())
    }

    async fn load_from_store(&self, cache: &ComponentCache, key: &str) -> Remote {
        let Some((store, prefix)) = cache.remote.as_ref() else {
            return Remote::Missing;
        };
        let object_key = format!("{prefix}/{key}.cwasm");
        match store.get(&object_key).await {
            Ok(Some(object)) => match self.revive(cache, key, &object.bytes, &object_key) {
                Some(code) => Remote::Found(code, object.bytes.to_vec()),
                None => Remote::Refused,
            },
            Ok(None) => Remote::Missing,
            Err(err) => {
                tracing::warn!(key = %object_key, error = %err, "component cache: object store read failed");
                Remote::Missing
            }
        }
    }

    /// A cached artifact as code, or `None` (logged) if its tag is not ours or wasmtime
    /// refuses it.
    fn revive(
        &self,
        cache: &ComponentCache,
        key: &str,
        sealed: &[u8],
        from: &str,
    ) -> Option<WasmCode> {
        let Some(artifact) = cache.key.open(key, sealed) else {
            tracing::warn!(
                %from,
                "component cache: artifact not authenticated by this runner's key; recompiling"
            );
            return None;
        };
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

/// What the object store had for a key.
enum Remote {
    Found(WasmCode, Vec<u8>),
    /// Nothing (or the store failed: logged).
    Missing,
    /// An object this runner's key does not authenticate, or wasmtime refused.
    Refused,
}

/// Turns a precompiled artifact back into a component.
///
/// wasmtime marks this `unsafe` because the bytes are machine code that will run: they must
/// come from `precompile_component` or `Component::serialize` of a compatible engine. Here they
/// are either just compiled, or read from a cache tier and authenticated first: their HMAC
/// under the runner's [`ArtifactKey`] proves a runner holding the key sealed them after
/// compiling them itself, under a cache key that includes the engine's compatibility hash;
/// wasmtime also checks the artifact's version and settings and refuses a mismatch.
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

/// Uploads the sealed artifact (with `IfAbsent`: unless another runner already did).
async fn write_store(cache: &ComponentCache, key: &str, sealed: Vec<u8>, mode: PutMode) {
    let Some((store, prefix)) = &cache.remote else {
        return;
    };
    let object_key = format!("{prefix}/{key}.cwasm");
    match store.put(&object_key, Bytes::from(sealed), mode).await {
        Ok(_) | Err(ObjectStoreError::PreconditionFailed { .. }) => {}
        Err(err) => {
            tracing::warn!(key = %object_key, error = %err, "component cache: could not upload");
        }
    }
}

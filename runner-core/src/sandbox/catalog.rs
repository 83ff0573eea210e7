//! Published code as actors: resolves an actor name in a namespace to the bundle published for
//! it ([`crate::bundle`]), verifies it, loads it in its runtime and caches the result.
//!
//! The operator decides which namespaces may run published code; the caller of `/start`
//! cannot widen that. Each start reads the namespace's `current.json`, so a new version is
//! picked up by the next generation without a redeploy, while running instances keep theirs.
//!
//! With the operator's [`PublishKey`], a pointer must also be signed with its namespace's
//! token: write access to the bucket alone then publishes nothing, and one tenant's token
//! cannot publish for another namespace.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::actor::{ActorFactory, ActorResolver, ResolveFuture};
use crate::bundle::{BundleError, BundleKind, BundleStore, BundleVersion, PublishKey};
use crate::error::ActorStartError;

use super::outbound::OutboundPolicy;

/// Loaded versions kept in memory; past this the cache starts over.
const MAX_LOADED: usize = 256;

/// Which namespaces may run published code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceAllow {
    /// Every namespace this runner serves.
    Any,
    /// Only these.
    Only(Vec<String>),
}

impl NamespaceAllow {
    fn allows(&self, namespace: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Only(list) => list.iter().any(|n| n == namespace),
        }
    }
}

/// Resolves actor names to published bundles, for the namespaces the operator allows.
pub struct Catalog {
    bundles: BundleStore,
    namespaces: NamespaceAllow,
    outbound: Arc<OutboundPolicy>,
    /// Verifies each pointer's signature under its namespace's token; `None` trusts the bucket.
    publish_key: Option<PublishKey>,
    #[cfg(feature = "wasmtime")]
    wasm: Option<(super::wasm::WasmRuntime, super::wasm::ComponentCache)>,
    #[cfg(feature = "js")]
    js: Option<super::js::JsRuntime>,
    /// `{namespace}/{name}/{sha256}` → its factory.
    loaded: Mutex<HashMap<String, Arc<dyn ActorFactory>>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("bundles", &self.bundles)
            .field("namespaces", &self.namespaces)
            .field("signed", &self.publish_key.is_some())
            .finish_non_exhaustive()
    }
}

impl Catalog {
    /// Published code from `bundles`, for `namespaces`. Add a runtime per language it may run.
    pub fn new(bundles: BundleStore, namespaces: NamespaceAllow) -> Self {
        Self {
            bundles,
            namespaces,
            outbound: Arc::default(),
            publish_key: None,
            #[cfg(feature = "wasmtime")]
            wasm: None,
            #[cfg(feature = "js")]
            js: None,
            loaded: Mutex::default(),
        }
    }

    /// Runs `.wasm` bundles on `runtime`, compiled components cached in `cache`.
    #[cfg(feature = "wasmtime")]
    pub fn with_wasm(
        mut self,
        runtime: super::wasm::WasmRuntime,
        cache: super::wasm::ComponentCache,
    ) -> Self {
        self.wasm = Some((runtime, cache));
        self
    }

    /// Runs `.js` bundles on `runtime`.
    #[cfg(feature = "js")]
    pub fn with_js(mut self, runtime: super::js::JsRuntime) -> Self {
        self.js = Some(runtime);
        self
    }

    /// The outbound HTTP the loaded actors may make.
    pub fn with_outbound(mut self, outbound: Arc<OutboundPolicy>) -> Self {
        self.outbound = outbound;
        self
    }

    /// Runs only code whose pointer is signed with its namespace's token under `key`
    /// ([`PublishKey::token_for`]); anything else is refused at start, never run.
    pub fn with_publish_key(mut self, key: PublishKey) -> Self {
        self.publish_key = Some(key);
        self
    }

    /// Refuses `version` unless it is signed for `name` in `namespace` (when a key is set).
    fn check_signed(
        &self,
        namespace: &str,
        name: &str,
        version: &BundleVersion,
    ) -> Result<(), BundleError> {
        match &self.publish_key {
            Some(key) => version.verify(namespace, name, &key.token_for(namespace)),
            None => Ok(()),
        }
    }

    async fn load(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Arc<dyn ActorFactory>>, ActorStartError> {
        let failed = |reason: String| ActorStartError::Code {
            name: name.to_owned(),
            reason,
        };
        if !self.namespaces.allows(namespace) {
            return Ok(None);
        }
        let version = match self.bundles.current(namespace, name).await {
            Ok(version) => version,
            Err(BundleError::NotPublished { .. }) => return Ok(None),
            Err(err) => return Err(failed(err.to_string())),
        };
        // Before the cache: a pointer re-signed or replaced since is judged as it is now.
        self.check_signed(namespace, name, &version)
            .map_err(|err| failed(err.to_string()))?;
        let cache_key = format!("{namespace}/{name}/{}", version.sha256);
        if let Some(factory) = self.cached(&cache_key) {
            return Ok(Some(factory));
        }
        let code = self
            .bundles
            .code(namespace, name, &version)
            .await
            .map_err(|err| failed(err.to_string()))?;
        let factory = self.factory(name, &version, &code).await.map_err(failed)?;
        tracing::info!(
            namespace,
            actor = name,
            kind = %version.kind,
            sha256 = %version.sha256,
            "loaded published actor code"
        );
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if loaded.len() >= MAX_LOADED {
            loaded.clear();
        }
        loaded.insert(cache_key, factory.clone());
        Ok(Some(factory))
    }

    fn cached(&self, key: &str) -> Option<Arc<dyn ActorFactory>> {
        let loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded.get(key).cloned()
    }

    async fn factory(
        &self,
        name: &str,
        version: &BundleVersion,
        code: &[u8],
    ) -> Result<Arc<dyn ActorFactory>, String> {
        match version.kind {
            #[cfg(feature = "wasmtime")]
            BundleKind::Wasm => {
                let Some((runtime, cache)) = &self.wasm else {
                    return Err(not_enabled(version.kind));
                };
                let (wasm, _tier) = runtime.load(code, cache).await.map_err(|e| e.to_string())?;
                let checked = wasm.clone();
                off_the_runtime(move || checked.check_instantiates().map_err(|e| e.to_string()))
                    .await?;
                let factory =
                    super::wasm::WasmFactory::new(name, wasm).with_outbound(self.outbound.clone());
                Ok(Arc::new(factory))
            }
            #[cfg(feature = "js")]
            BundleKind::Js => {
                let Some(runtime) = &self.js else {
                    return Err(not_enabled(version.kind));
                };
                let source = String::from_utf8(code.to_vec())
                    .map_err(|e| format!("the JavaScript bundle is not UTF-8: {e}"))?;
                let (runtime, module) = (runtime.clone(), name.to_owned());
                // Loading runs the module's top level, for up to the time limit.
                let js = off_the_runtime(move || {
                    runtime.compile(&module, &source).map_err(|e| e.to_string())
                })
                .await?;
                let factory =
                    super::js::JsFactory::new(name, js).with_outbound(self.outbound.clone());
                Ok(Arc::new(factory))
            }
            #[allow(unreachable_patterns, reason = "one arm per runtime compiled in")]
            kind => Err(not_enabled(kind)),
        }
    }
}

/// Runs a check that may take a while (it runs actor code) on the blocking pool.
async fn off_the_runtime<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, String> + Send + 'static,
) -> Result<R, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("load task: {e}"))?
}

fn not_enabled(kind: BundleKind) -> String {
    format!("this runner does not run `{kind}` actors")
}

impl ActorResolver for Catalog {
    fn resolve<'a>(&'a self, namespace: &'a str, name: &'a str) -> ResolveFuture<'a> {
        Box::pin(self.load(namespace, name))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::object_store::MemoryStore;

    async fn published(
        namespace: &str,
        token: Option<&crate::bundle::PublishToken>,
    ) -> BundleStore {
        let bundles = BundleStore::new(Arc::new(MemoryStore::new()), "bundles");
        bundles
            .publish(
                namespace,
                "counter",
                BundleKind::Js,
                Bytes::from_static(b"x"),
                token,
            )
            .await
            .expect("publish");
        bundles
    }

    /// Why `catalog` did not load `name` in `namespace`.
    async fn refusal(catalog: &Catalog, namespace: &str, name: &str) -> String {
        match catalog.load(namespace, name).await {
            Ok(Some(_)) => panic!("{namespace}/{name} loaded"),
            Ok(None) => "not found".to_owned(),
            Err(err) => err.to_string(),
        }
    }

    #[tokio::test]
    async fn with_a_publish_key_only_pointers_signed_for_their_namespace_pass() {
        let key = PublishKey::new(b"operator master");
        let catalog = |bundles: BundleStore| {
            Catalog::new(bundles, NamespaceAllow::Any).with_publish_key(key.clone())
        };
        // Signed with its own namespace's token: past the check, to the runtime (none here).
        let own = catalog(published("a", Some(&key.token_for("a"))).await);
        let err = refusal(&own, "a", "counter").await;
        assert!(err.contains("does not run `js` actors"), "{err}");

        // Namespace A's token used to publish into B, or no signature: refused, naming both.
        let forged = catalog(published("b", Some(&key.token_for("a"))).await);
        let err = refusal(&forged, "b", "counter").await;
        let expected = "published code for `b`/`counter` is not signed with this namespace's \
                        publish token";
        assert!(err.contains(expected), "{err}");
        let unsigned = catalog(published("a", None).await);
        let err = refusal(&unsigned, "a", "counter").await;
        assert!(err.contains("not signed"), "{err}");

        // Without a key, unsigned code is run as before.
        let open = Catalog::new(published("a", None).await, NamespaceAllow::Any);
        let err = refusal(&open, "a", "counter").await;
        assert!(err.contains("does not run `js` actors"), "{err}");
    }
}

//! Actor code published per namespace in the object store, so a runner deployed once can run
//! code that tenants (or their agents) publish later.
//!
//! Layout under `{prefix}/{namespace}/{actor name}/`:
//! - `code/{sha256}.{wasm|js}`: the bytes, content-addressed and never rewritten;
//! - `current.json`: which of them new actor generations run
//!   (`{"sha256": …, "kind": "wasm"|"js", "size": …}`).
//!
//! Publishing writes the code, then points `current.json` at it, so a reader never sees a
//! pointer to missing code. Readers verify the code's SHA-256 against the pointer: a bundle
//! altered after publishing is refused, never run.

use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::object_store::{ObjectStore, ObjectStoreError, PutMode, content_etag};

/// The language a bundle is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BundleKind {
    /// A WebAssembly component implementing the `rivet:actor` world.
    Wasm,
    /// A JavaScript module whose default export is an actor definition.
    Js,
}

impl BundleKind {
    /// The kind a file name implies (`.wasm`, `.js` or `.mjs`).
    pub fn from_file_name(name: &str) -> Option<Self> {
        let extension = name.rsplit_once('.')?.1;
        match extension {
            "wasm" => Some(Self::Wasm),
            "js" | "mjs" => Some(Self::Js),
            _ => None,
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Wasm => "wasm",
            Self::Js => "js",
        }
    }
}

impl std::fmt::Display for BundleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.extension())
    }
}

/// Which published code an actor name runs: the content of `current.json`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BundleVersion {
    /// SHA-256 of the code, hex.
    pub sha256: String,
    /// Its language.
    pub kind: BundleKind,
    /// Its size in bytes.
    pub size: u64,
}

/// Why a bundle could not be published or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Nothing is published under this name in this namespace.
    #[error("no code is published for actor `{name}` in namespace `{namespace}`")]
    NotPublished {
        /// Namespace.
        namespace: String,
        /// Actor name.
        name: String,
    },
    /// The code's hash is not the one its pointer names: it was altered after publishing.
    #[error("bundle `{key}` was altered after publishing: its SHA-256 is {actual}, not {expected}")]
    HashMismatch {
        /// The code's key.
        key: String,
        /// What `current.json` names.
        expected: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// `current.json` is not a bundle pointer.
    #[error("`{key}` is not a valid bundle pointer: {reason}")]
    BadPointer {
        /// The pointer's key.
        key: String,
        /// The parse error.
        reason: String,
    },
    /// A namespace or actor name that cannot be part of an object key.
    #[error("`{0}` is not a valid namespace or actor name")]
    BadName(String),
    /// The object store failed.
    #[error(transparent)]
    Store(#[from] ObjectStoreError),
}

/// Published actor code in an object store.
#[derive(Clone)]
pub struct BundleStore {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl std::fmt::Debug for BundleStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl BundleStore {
    /// Bundles under `prefix` in `store`.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: impl Into<String>) -> Self {
        Self {
            store,
            prefix: prefix.into().trim_end_matches('/').to_owned(),
        }
    }

    /// Publishes `code` as the version new generations of `name` in `namespace` run.
    /// Publishing the current version again changes nothing.
    pub async fn publish(
        &self,
        namespace: &str,
        name: &str,
        kind: BundleKind,
        code: Bytes,
    ) -> Result<BundleVersion, BundleError> {
        let version = BundleVersion {
            sha256: content_etag(&code),
            kind,
            size: code.len() as u64,
        };
        let code_key = self.code_key(namespace, name, &version)?;
        match self.store.put(&code_key, code, PutMode::IfAbsent).await {
            // Content-addressed: an existing object under this key is this code (checked on read).
            Ok(_) | Err(ObjectStoreError::PreconditionFailed { .. }) => {}
            Err(err) => return Err(err.into()),
        }
        let pointer = serde_json::to_vec(&version).map_err(|e| BundleError::BadPointer {
            key: code_key.clone(),
            reason: e.to_string(),
        })?;
        let pointer_key = self.pointer_key(namespace, name)?;
        self.store
            .put(&pointer_key, pointer.into(), PutMode::Overwrite)
            .await?;
        Ok(version)
    }

    /// The version new generations of `name` in `namespace` run.
    pub async fn current(&self, namespace: &str, name: &str) -> Result<BundleVersion, BundleError> {
        let key = self.pointer_key(namespace, name)?;
        let object = self.published(&key, namespace, name).await?;
        serde_json::from_slice(&object.bytes).map_err(|e| BundleError::BadPointer {
            key,
            reason: e.to_string(),
        })
    }

    /// The code of `version`, verified against its hash.
    pub async fn code(
        &self,
        namespace: &str,
        name: &str,
        version: &BundleVersion,
    ) -> Result<Bytes, BundleError> {
        let key = self.code_key(namespace, name, version)?;
        let object = self.published(&key, namespace, name).await?;
        let actual = content_etag(&object.bytes);
        if actual != version.sha256 {
            return Err(BundleError::HashMismatch {
                key,
                expected: version.sha256.clone(),
                actual,
            });
        }
        Ok(object.bytes)
    }

    /// The object at `key`, which publishing `name` in `namespace` writes.
    async fn published(
        &self,
        key: &str,
        namespace: &str,
        name: &str,
    ) -> Result<crate::object_store::Object, BundleError> {
        self.store
            .get(key)
            .await?
            .ok_or_else(|| BundleError::NotPublished {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })
    }

    fn pointer_key(&self, namespace: &str, name: &str) -> Result<String, BundleError> {
        Ok(format!("{}/current.json", self.dir(namespace, name)?))
    }

    fn code_key(
        &self,
        namespace: &str,
        name: &str,
        version: &BundleVersion,
    ) -> Result<String, BundleError> {
        if !version.sha256.bytes().all(|b| b.is_ascii_hexdigit()) || version.sha256.len() != 64 {
            return Err(BundleError::BadName(version.sha256.clone()));
        }
        Ok(format!(
            "{}/code/{}.{}",
            self.dir(namespace, name)?,
            version.sha256,
            version.kind.extension()
        ))
    }

    fn dir(&self, namespace: &str, name: &str) -> Result<String, BundleError> {
        for part in [namespace, name] {
            let valid = !part.is_empty()
                && part.len() <= 128
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
                && !part.starts_with('.');
            if !valid {
                return Err(BundleError::BadName(part.to_owned()));
            }
        }
        Ok(format!("{}/{namespace}/{name}", self.prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object_store::MemoryStore;

    fn bundles() -> (Arc<MemoryStore>, BundleStore) {
        let store = Arc::new(MemoryStore::new());
        (store.clone(), BundleStore::new(store, "bundles/"))
    }

    #[tokio::test]
    async fn published_code_is_read_back_and_a_new_version_replaces_it() {
        let (_, bundles) = bundles();
        let err = bundles.current("ns", "counter").await.unwrap_err();
        assert!(matches!(err, BundleError::NotPublished { .. }), "{err}");

        let v1 = bundles
            .publish("ns", "counter", BundleKind::Js, Bytes::from_static(b"v1"))
            .await
            .unwrap();
        assert_eq!(bundles.current("ns", "counter").await.unwrap(), v1);
        assert_eq!(bundles.code("ns", "counter", &v1).await.unwrap(), "v1");
        // Idempotent.
        assert_eq!(
            bundles
                .publish("ns", "counter", BundleKind::Js, Bytes::from_static(b"v1"))
                .await
                .unwrap(),
            v1
        );

        let v2 = bundles
            .publish("ns", "counter", BundleKind::Js, Bytes::from_static(b"v2"))
            .await
            .unwrap();
        assert_ne!(v1.sha256, v2.sha256);
        assert_eq!(bundles.current("ns", "counter").await.unwrap(), v2);
        // The old version stays readable for the generations still running it.
        assert_eq!(bundles.code("ns", "counter", &v1).await.unwrap(), "v1");
        // Other namespaces see nothing.
        assert!(bundles.current("other", "counter").await.is_err());
    }

    #[tokio::test]
    async fn altered_code_is_refused() {
        let (store, bundles) = bundles();
        let version = bundles
            .publish("ns", "a", BundleKind::Wasm, Bytes::from_static(b"good"))
            .await
            .unwrap();
        let key = format!("bundles/ns/a/code/{}.wasm", version.sha256);
        store
            .put(&key, Bytes::from_static(b"evil"), PutMode::Overwrite)
            .await
            .unwrap();
        let err = bundles.code("ns", "a", &version).await.unwrap_err();
        assert!(matches!(err, BundleError::HashMismatch { .. }), "{err}");
    }

    #[tokio::test]
    async fn names_that_escape_the_layout_are_refused() {
        let (_, bundles) = bundles();
        for (ns, name) in [("..", "a"), ("ns", "a/b"), ("", "a"), ("ns", ".hidden")] {
            let err = bundles
                .publish(ns, name, BundleKind::Js, Bytes::new())
                .await
                .unwrap_err();
            assert!(matches!(err, BundleError::BadName(_)), "{ns}/{name}: {err}");
        }
        assert_eq!(BundleKind::from_file_name("a.mjs"), Some(BundleKind::Js));
        assert_eq!(
            BundleKind::from_file_name("x/y.wasm"),
            Some(BundleKind::Wasm)
        );
        assert_eq!(BundleKind::from_file_name("a.txt"), None);
    }
}

//! Actor code published per namespace in the object store, so a runner deployed once can run
//! code that tenants (or their agents) publish later.
//!
//! Layout under `{prefix}/{namespace}/{actor name}/`:
//! - `code/{sha256}.{wasm|js}`: the bytes, content-addressed and never rewritten;
//! - `current.json`: which of them new actor generations run
//!   (`{"sha256": …, "kind": "wasm"|"js", "size": …, "signature": …}`).
//!
//! Publishing writes the code, then points `current.json` at it, so a reader never sees a
//! pointer to missing code. Readers verify the code's SHA-256 against the pointer: a bundle
//! altered after publishing is refused, never run.
//!
//! Whoever can write the bucket could otherwise publish code for any namespace. So the
//! operator holds a master [`PublishKey`] and hands each tenant only its namespace's
//! [`PublishToken`] (an HMAC of the namespace under the master); the pointer carries an
//! HMAC-SHA256 under that token over the namespace, actor name and version. A runner holding
//! the master key re-derives the namespace's token and refuses a pointer it does not verify,
//! so namespace A's token cannot publish for namespace B.

use std::sync::Arc;

use bytes::Bytes;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

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
    /// HMAC-SHA256 under the namespace's [`PublishToken`], hex, over
    /// `"{namespace}\n{name}\n{sha256}\n{kind}\n{size}"`; empty when published without a
    /// token (and in pointers written before signing).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signature: String,
}

impl BundleVersion {
    /// What the signature covers: every field a reader acts on, bound to where the pointer is,
    /// so a signed pointer cannot be replayed under another namespace or actor name. Names and
    /// hashes never contain a newline (the layout refuses them), so the text is unambiguous.
    fn signed_text(&self, namespace: &str, name: &str) -> String {
        format!(
            "{namespace}\n{name}\n{}\n{}\n{}",
            self.sha256, self.kind, self.size
        )
    }

    /// Checks that this pointer for `name` in `namespace` was signed with `token` (in
    /// constant time).
    pub fn verify(
        &self,
        namespace: &str,
        name: &str,
        token: &PublishToken,
    ) -> Result<(), BundleError> {
        let unsigned = || BundleError::Unsigned {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        let tag = hex::decode(&self.signature).map_err(|_| unsigned())?;
        token
            .mac(&self.signed_text(namespace, name))
            .verify_slice(&tag)
            .map_err(|_| unsigned())
    }
}

type HmacSha256 = hmac::Hmac<Sha256>;

/// Domain of the per-namespace tokens, so the master key's HMACs mean nothing elsewhere.
const TOKEN_CONTEXT: &str = "rivet-runner/publish/v1/";

/// The operator's master publishing secret (`RUNNER_PUBLISH_KEY`). Runners hold it to verify
/// pointers; tenants never do: each gets only its namespace's [`PublishToken`].
#[derive(Clone)]
pub struct PublishKey(Vec<u8>);

impl PublishKey {
    /// The master key from any secret.
    pub fn new(master: &[u8]) -> Self {
        Self(master.to_vec())
    }

    /// The token that publishes for `namespace`:
    /// `HMAC-SHA256(master, "rivet-runner/publish/v1/" + namespace)`.
    pub fn token_for(&self, namespace: &str) -> PublishToken {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(TOKEN_CONTEXT.as_bytes());
        mac.update(namespace.as_bytes());
        PublishToken(mac.finalize().into_bytes().into())
    }
}

impl std::fmt::Debug for PublishKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublishKey(..)")
    }
}

/// One namespace's publishing key (`RUNNER_PUBLISH_TOKEN`, 64 hex digits): it signs the
/// pointers of that namespace only. Never printed; compared in constant time.
#[derive(Clone)]
pub struct PublishToken([u8; 32]);

impl PublishToken {
    /// Parses the 64 hex digits [`PublishToken::to_hex`] prints.
    pub fn from_hex(text: &str) -> Result<Self, BundleError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| BundleError::BadToken)?;
        Ok(Self(bytes))
    }

    /// The token as 64 hex digits, to hand to the namespace's publisher.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Signs `version` as the pointer for `name` in `namespace`.
    fn sign(&self, namespace: &str, name: &str, version: &BundleVersion) -> String {
        let tag: [u8; 32] = self
            .mac(&version.signed_text(namespace, name))
            .finalize()
            .into_bytes()
            .into();
        hex::encode(tag)
    }

    fn mac(&self, text: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(text.as_bytes());
        mac
    }
}

impl std::str::FromStr for PublishToken {
    type Err = BundleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::from_hex(text)
    }
}

impl PartialEq for PublishToken {
    fn eq(&self, other: &Self) -> bool {
        self.0[..].ct_eq(&other.0[..]).into()
    }
}

impl Eq for PublishToken {}

impl std::fmt::Debug for PublishToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublishToken(..)")
    }
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
    /// The pointer's signature is missing or not the namespace's: someone without the
    /// namespace's publish token wrote it.
    #[error(
        "published code for `{namespace}`/`{name}` is not signed with this namespace's publish token"
    )]
    Unsigned {
        /// Namespace.
        namespace: String,
        /// Actor name.
        name: String,
    },
    /// A publish token that is not 64 hex digits (its value is not repeated: it is a secret).
    #[error("a publish token is 64 hex digits")]
    BadToken,
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

    /// Publishes `code` as the version new generations of `name` in `namespace` run, its
    /// pointer signed with `token` (the namespace's; without one, only runners that verify no
    /// signatures run it). Publishing the current version again changes nothing.
    pub async fn publish(
        &self,
        namespace: &str,
        name: &str,
        kind: BundleKind,
        code: Bytes,
        token: Option<&PublishToken>,
    ) -> Result<BundleVersion, BundleError> {
        let mut version = BundleVersion {
            sha256: content_etag(&code),
            kind,
            size: code.len() as u64,
            signature: String::new(),
        };
        if let Some(token) = token {
            version.signature = token.sign(namespace, name, &version);
        }
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
        check_name(namespace)?;
        check_name(name)?;
        Ok(format!("{}/{namespace}/{name}", self.prefix))
    }
}

/// Whether `name` may name a namespace or an actor's code: 1 to 128 ASCII letters, digits,
/// `-`, `_` or `.`, not starting with `.`.
pub fn check_name(name: &str) -> Result<(), BundleError> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.starts_with('.');
    if valid {
        Ok(())
    } else {
        Err(BundleError::BadName(name.to_owned()))
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
            .publish(
                "ns",
                "counter",
                BundleKind::Js,
                Bytes::from_static(b"v1"),
                None,
            )
            .await
            .unwrap();
        assert_eq!(bundles.current("ns", "counter").await.unwrap(), v1);
        assert_eq!(bundles.code("ns", "counter", &v1).await.unwrap(), "v1");
        // Idempotent.
        assert_eq!(
            bundles
                .publish(
                    "ns",
                    "counter",
                    BundleKind::Js,
                    Bytes::from_static(b"v1"),
                    None
                )
                .await
                .unwrap(),
            v1
        );

        let v2 = bundles
            .publish(
                "ns",
                "counter",
                BundleKind::Js,
                Bytes::from_static(b"v2"),
                None,
            )
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
            .publish(
                "ns",
                "a",
                BundleKind::Wasm,
                Bytes::from_static(b"good"),
                None,
            )
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
                .publish(ns, name, BundleKind::Js, Bytes::new(), None)
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

    #[tokio::test]
    async fn a_pointer_verifies_only_for_the_namespace_whose_token_signed_it() {
        let (store, bundles) = bundles();
        let key = PublishKey::new(b"operator master");
        let (token_a, token_b) = (key.token_for("a"), key.token_for("b"));
        let code = Bytes::from_static(b"code");
        let signed = bundles
            .publish("a", "counter", BundleKind::Js, code.clone(), Some(&token_a))
            .await
            .unwrap();
        let read = bundles.current("a", "counter").await.unwrap();
        assert_eq!(read, signed);
        read.verify("a", "counter", &token_a).unwrap();

        // Namespace B's token does not verify A's pointer, nor the same pointer read as B's.
        let err = read.verify("a", "counter", &token_b).unwrap_err();
        assert!(matches!(err, BundleError::Unsigned { .. }), "{err}");
        assert!(read.verify("b", "counter", &token_b).is_err());
        assert!(read.verify("a", "other", &token_a).is_err());

        // A holder of A's token publishing into B: refused under B's token.
        bundles
            .publish("b", "counter", BundleKind::Js, code, Some(&token_a))
            .await
            .unwrap();
        let forged = bundles.current("b", "counter").await.unwrap();
        let err = forged.verify("b", "counter", &token_b).unwrap_err();
        assert_eq!(
            err.to_string(),
            "published code for `b`/`counter` is not signed with this namespace's publish token"
        );

        // The pointer rewritten to other code, keeping the signature: refused.
        let mut tampered = read;
        tampered.sha256 = content_etag(b"evil");
        store
            .put(
                "bundles/a/counter/current.json",
                serde_json::to_vec(&tampered).unwrap().into(),
                PutMode::Overwrite,
            )
            .await
            .unwrap();
        let tampered = bundles.current("a", "counter").await.unwrap();
        assert!(tampered.verify("a", "counter", &token_a).is_err());
    }

    #[tokio::test]
    async fn unsigned_and_old_pointers_read_but_do_not_verify() {
        let (store, bundles) = bundles();
        let token = PublishKey::new(b"k").token_for("ns");
        let old = format!(
            r#"{{"sha256":"{}","kind":"js","size":2}}"#,
            content_etag(b"v1")
        );
        store
            .put("bundles/ns/a/current.json", old.into(), PutMode::Overwrite)
            .await
            .unwrap();
        let version = bundles.current("ns", "a").await.unwrap();
        assert!(version.signature.is_empty());
        let err = version.verify("ns", "a", &token).unwrap_err();
        assert!(matches!(err, BundleError::Unsigned { .. }), "{err}");
        // Unsigned publishing writes no signature field, as before.
        bundles
            .publish("ns", "b", BundleKind::Js, Bytes::from_static(b"v1"), None)
            .await
            .unwrap();
        let pointer = store
            .get("bundles/ns/b/current.json")
            .await
            .unwrap()
            .unwrap();
        assert!(!String::from_utf8_lossy(&pointer.bytes).contains("signature"));
    }

    #[test]
    fn tokens_differ_per_namespace_and_key_and_round_trip_as_hex() {
        let key = PublishKey::new(b"operator master");
        let token = key.token_for("a");
        assert_eq!(token, key.token_for("a"));
        assert_ne!(token, key.token_for("b"));
        assert_ne!(token, PublishKey::new(b"another master").token_for("a"));
        let hex = token.to_hex();
        assert_eq!(hex.len(), 64);
        assert_eq!(PublishToken::from_hex(&hex).unwrap(), token);
        assert_eq!(hex.parse::<PublishToken>().unwrap(), token);
        let not_hex = format!("{}zz", &hex[..62]);
        for bad in ["", "abc", &hex[..62], not_hex.as_str()] {
            assert!(matches!(
                PublishToken::from_hex(bad),
                Err(BundleError::BadToken)
            ));
        }
        // Secrets are never printed.
        assert_eq!(format!("{token:?}"), "PublishToken(..)");
        assert_eq!(format!("{key:?}"), "PublishKey(..)");
    }
}

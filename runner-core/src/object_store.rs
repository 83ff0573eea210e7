//! The object-store port: where actor data goes between invocations.
//!
//! Implementations: [`MemoryStore`] (tests), [`LocalStore`] (the embedded default, a directory),
//! an S3 store on the AWS SDK behind the `s3` feature, and an S3 store over any HTTP client
//! with SigV4 signing behind `s3-http` (for Workers, where the SDK does not run). All of them give the same guarantees, checked by one
//! conformance suite ([`conformance`], feature `testing`):
//! - `put` with [`PutMode::IfAbsent`] creates an object only if no object has that key, and
//!   [`PutMode::IfMatch`] replaces it only if its current ETag is the one given; of concurrent
//!   conditional writers exactly one wins, the others get [`ObjectStoreError::PreconditionFailed`];
//! - a successful `put` returns the new ETag, which the next `get` reports;
//! - reads see the last successful write.
//!
//! ETags derive from content (as S3's do for single-part uploads), so rewriting identical bytes
//! keeps the ETag: anything advanced by compare-and-swap must carry a unique version in its
//! content. The manifest does (generation and sequence number).

#[cfg(any(test, feature = "testing"))]
mod faulty;
#[cfg(not(target_arch = "wasm32"))]
mod local;
mod memory;
#[cfg(feature = "s3")]
mod s3;
mod s3_config;
#[cfg(feature = "s3-http")]
mod s3_http;

#[cfg(feature = "testing")]
pub mod conformance;

use std::ops::Range;

use bytes::Bytes;

#[cfg(any(test, feature = "testing"))]
pub use faulty::{Fault, FaultPlan, FaultyStore, LostReplies, StoreStats};
#[cfg(not(target_arch = "wasm32"))]
pub use local::LocalStore;
pub use memory::MemoryStore;
#[cfg(feature = "s3")]
pub use s3::S3Store;
pub use s3_config::{S3Config, StaticCredentials};
#[cfg(feature = "s3-http")]
pub use s3_http::{HttpClient, HttpClientError, HttpS3ConfigError, HttpS3Store};

/// A boxed future, so stores can sit behind `Arc<dyn ObjectStore>` (`Send` except on `wasm32`,
/// where a store's requests are the host's `fetch`).
pub type StoreFuture<'a, T> = crate::rt::BoxFuture<'a, Result<T, ObjectStoreError>>;

/// How a `put` treats an existing object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutMode {
    /// Replace whatever is there.
    Overwrite,
    /// Create only if the key is free (`If-None-Match: *`).
    IfAbsent,
    /// Replace only if the current ETag is this one (`If-Match`).
    IfMatch(String),
}

/// An object's bytes and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The content.
    pub bytes: Bytes,
    /// The version tag of this content.
    pub etag: String,
}

/// A listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

/// Why an object-store call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectStoreError {
    /// A conditional put lost: the object exists (`IfAbsent`) or changed (`IfMatch`).
    #[error("precondition failed for `{key}`: another writer got there first")]
    PreconditionFailed {
        /// The contested key.
        key: String,
    },
    /// The store asked us to slow down (S3 503 SlowDown, 429).
    #[error("throttled by the object store: {0}")]
    Throttled(String),
    /// A transient failure (network, 5xx, timeout).
    #[error("object store unavailable: {0}")]
    Unavailable(String),
    /// The key is not acceptable to this store.
    #[error("invalid object key `{0}`")]
    InvalidKey(String),
    /// A local filesystem failure.
    #[error("{action} `{path}`: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Anything else the store reported (credentials, permissions, bucket missing).
    #[error("object store error: {0}")]
    Other(String),
}

impl ObjectStoreError {
    /// Worth retrying with backoff: throttling and transient unavailability.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Throttled(_) | Self::Unavailable(_))
    }
}

/// Object storage with conditional writes.
pub trait ObjectStore: Send + Sync + 'static {
    /// The whole object, or `None` if absent.
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Object>>;
    /// A byte range of an object, or `None` if absent. The range is clamped to the object.
    fn get_range<'a>(&'a self, key: &'a str, range: Range<u64>) -> StoreFuture<'a, Option<Bytes>>;
    /// Writes an object; returns its new ETag.
    fn put<'a>(&'a self, key: &'a str, bytes: Bytes, mode: PutMode) -> StoreFuture<'a, String>;
    /// Objects whose key starts with `prefix`, sorted by key.
    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<ObjectMeta>>;
    /// Deletes an object; deleting an absent key succeeds.
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;
}

/// SHA-256 of `bytes`, hex: the in-process stores' ETag, and the checksum snapshots carry.
pub fn content_etag(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The HTTP `Range` value for `range`, or `None` when it is empty: HTTP has no empty range, so
/// the S3 stores answer an empty one by checking that the object exists.
#[cfg(any(feature = "s3", feature = "s3-http"))]
fn http_range(range: &Range<u64>) -> Option<String> {
    (range.end > range.start).then(|| format!("bytes={}-{}", range.start, range.end - 1))
}

/// Keys are `/`-separated relative paths without empty, `.` or `..` segments.
pub(crate) fn validate_key(key: &str) -> Result<(), ObjectStoreError> {
    let bad = key.is_empty()
        || key.starts_with('/')
        || key
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        || key.contains('\0');
    if bad {
        Err(ObjectStoreError::InvalidKey(key.to_owned()))
    } else {
        Ok(())
    }
}

pub(crate) fn clamp(range: Range<u64>, len: u64) -> Range<usize> {
    let start = range.start.min(len) as usize;
    let end = range.end.min(len).max(range.start.min(len)) as usize;
    start..end
}

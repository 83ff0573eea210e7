//! Why a runner could not be assembled.

/// Why the runner could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A configured component could not be read.
    #[error("read the wasm actor `{name}` from {path}: {source}")]
    ReadComponent {
        /// Actor name.
        name: String,
        /// Component file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A configured component could not be loaded.
    #[error("load the wasm actor `{name}`: {reason}")]
    LoadComponent {
        /// Actor name.
        name: String,
        /// Why.
        reason: String,
    },
    /// Published code was enabled but there is no object store to publish it to.
    #[error("RUNNER_BUNDLE_NAMESPACES needs an object store (RUNNER_OBJECT_STORE=local or s3)")]
    BundlesWithoutStore,
    /// An outbound HTTP grant is not valid.
    #[error("RUNNER_OUTBOUND for namespace `{namespace}`: {reason}")]
    Outbound {
        /// The namespace of the grant.
        namespace: String,
        /// Why.
        reason: String,
    },
    /// Published code was enabled in a build without any sandbox runtime.
    #[error(
        "RUNNER_BUNDLE_NAMESPACES is set but this build has no sandbox (features `wasm`, `js`)"
    )]
    NoSandbox,
    /// A directory store was configured on a target without a filesystem (wasm32).
    #[error(
        "RUNNER_OBJECT_STORE=local ({dir}) needs a filesystem, which this target does not have"
    )]
    NoLocalStore {
        /// The configured directory.
        dir: String,
    },
    /// An S3 bucket was configured in a build with neither S3 store.
    #[error("RUNNER_OBJECT_STORE=s3 but this build has no S3 store (features `s3`, `s3-http`)")]
    NoS3Store,
    /// An S3 bucket was configured in a build whose only S3 store is the HTTP one, and the
    /// adapter gave no HTTP client for it.
    #[error(
        "RUNNER_OBJECT_STORE=s3 needs an HTTP client in this build (RunnerBuilder::http_client)"
    )]
    NoHttpClient,
    /// The HTTP S3 store refused its settings (no static keys, a bad endpoint). Transparent:
    /// the store's own message names what is missing.
    #[cfg(feature = "s3-http")]
    #[error(transparent)]
    HttpS3(#[from] crate::object_store::HttpS3ConfigError),
}

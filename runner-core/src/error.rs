//! Errors of the core, one enum per concern so callers can match on what they handle.

use http::StatusCode;

/// Why a `/start` request was refused before any actor work began.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The pre-shared secret header is missing or wrong.
    #[error("missing or invalid runner secret in header `{header}`")]
    Unauthorized {
        /// The header that should carry the secret.
        header: String,
    },
    /// The caller named an engine endpoint, namespace or pool this runner does not serve.
    #[error("{what} `{value}` is not allowed by this runner's configuration")]
    Forbidden {
        /// Which field was refused (`endpoint`, `namespace`, `pool`).
        what: &'static str,
        /// The refused value.
        value: String,
    },
    /// A required `x-rivet-*` header is absent or not valid UTF-8.
    #[error("missing or invalid header `{0}`")]
    MissingHeader(&'static str),
    /// The body exceeds the configured limit.
    #[error("start payload is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// Body size in bytes (or the declared content length).
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The body is not a valid start payload.
    #[error("invalid start payload: {0}")]
    BadPayload(String),
    /// The runner is shutting down and takes no new actors.
    #[error("runner is shutting down")]
    ShuttingDown,
    /// The envoy connection to the engine did not come up in time.
    #[error("could not connect to the engine at `{endpoint}` within {seconds} s")]
    EngineUnreachable {
        /// The engine endpoint.
        endpoint: String,
        /// The timeout that elapsed.
        seconds: u64,
    },
    /// The envoy rejected the start command.
    #[error("engine connection rejected the start command: {0}")]
    Envoy(String),
}

impl StartError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::MissingHeader(_) | Self::BadPayload(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ShuttingDown | Self::EngineUnreachable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Envoy(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable code, sent in the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized { .. } => "unauthorized",
            Self::Forbidden { .. } => "forbidden",
            Self::MissingHeader(_) => "missing_header",
            Self::TooLarge { .. } => "payload_too_large",
            Self::BadPayload(_) => "invalid_payload",
            Self::ShuttingDown => "shutting_down",
            Self::EngineUnreachable { .. } => "engine_unreachable",
            Self::Envoy(_) => "envoy_error",
        }
    }
}

/// Failures opening, loading or saving an actor's local data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// Filesystem failure on the actor's data directory.
    #[error("{action} `{path}`: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// SQLite failure.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The persisted state could not be decoded with the actor's state type.
    #[error("decode persisted state: {0}")]
    DecodeState(String),
    /// The state could not be encoded.
    #[error("encode state: {0}")]
    EncodeState(String),
}

/// Why an actor could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActorStartError {
    /// No actor definition is registered under this name.
    #[error("no actor named `{0}` is registered in this runner")]
    UnknownActor(String),
    /// The create input could not be decoded.
    #[error("decode actor input: {0}")]
    BadInput(String),
    /// The actor's published code could not be fetched, verified or loaded.
    #[error("load the code of actor `{name}`: {reason}")]
    Code {
        /// Actor name.
        name: String,
        /// Why.
        reason: String,
    },
    /// Loading its data failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A lifecycle hook (`on_create`, `on_wake`) returned an error.
    #[error("lifecycle hook failed: {0}")]
    Hook(String),
}

//! Typed runner configuration. Plain data: nothing here reads the environment; adapters build a
//! [`RunnerConfig`] from their own platform settings (see each adapter's README for the table).

use std::path::PathBuf;
use std::time::Duration;

pub mod settings;

/// Everything the core needs to know about its deployment.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Path prefix the serverless routes live under, without a trailing slash (`/api/rivet`).
    pub base_path: String,
    /// Deploy version reported as `envoy.version` in `/metadata` and on the envoy connection.
    /// Raising it on every deploy lets the engine drain instances running older code.
    pub deploy_version: u32,
    /// Who may call `/start`, and which engines the runner may connect to.
    pub access: StartAccess,
    /// Largest accepted `/start` body. The engine's body is ~100 bytes without KV preload.
    pub max_start_body_bytes: usize,
    /// Where actor databases and files live while an actor runs.
    pub data_dir: PathBuf,
    /// The largest an actor's SQLite database may grow (`RUNNER_ACTOR_MAX_DB_MB`, default 1 GiB);
    /// a write past it fails with SQLite's "database or disk is full", and nothing committed is
    /// lost. A transaction's pages stay in memory until it commits (shipping needs
    /// `cache_spill = OFF`), so this also bounds one transaction's memory.
    pub actor_max_db_bytes: u64,
    /// An actor with no requests, connections or due work for this long asks the engine to sleep.
    pub idle_sleep: Duration,
    /// How long one action may run before it is rolled back and fails (RivetKit's
    /// `actionTimeout`, default 60 s). Sandboxed calls also have their own, shorter limit.
    pub action_timeout: Duration,
    /// How long before the platform's hard deadline the core drains actors itself.
    pub deadline_margin: Duration,
    /// How long a `/start` may wait for the envoy connection to the engine to come up.
    pub engine_connect_timeout: Duration,
    /// How `/start`s use envoy connections to the engine.
    pub envoy_sharing: EnvoySharing,
}

/// How `/start` requests map onto envoy connections (WebSockets to the engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EnvoySharing {
    /// One connection per (engine, namespace, pool, token), shared by every `/start` that names
    /// it, as RivetKit does: the cheapest where a process outlives its requests.
    #[default]
    PerEngine,
    /// Each `/start` opens its own connection and closes it once its actor has stopped. For
    /// hosts where I/O belongs to the request that opened it (Cloudflare Workers): another
    /// request cannot use the socket, and it dies with its request.
    PerStart,
}

impl RunnerConfig {
    /// A configuration with the documented defaults, storing actor data under `data_dir`.
    pub fn new(access: StartAccess, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            base_path: "/api/rivet".to_owned(),
            deploy_version: 1,
            access,
            max_start_body_bytes: 1024 * 1024,
            data_dir: data_dir.into(),
            actor_max_db_bytes: 1 << 30,
            idle_sleep: Duration::from_secs(30),
            action_timeout: Duration::from_secs(60),
            deadline_margin: Duration::from_secs(5),
            engine_connect_timeout: Duration::from_secs(10),
            envoy_sharing: EnvoySharing::PerEngine,
        }
    }
}

/// The `/start` security boundary: a pre-shared secret plus allow-lists.
///
/// Anyone can reach a public endpoint, and `/start` makes the runner open a connection to the
/// endpoint named in `x-rivet-endpoint` and serve actor data to it. Without these checks a caller
/// could point the runner at its own "engine" and read actors' data.
#[derive(Clone)]
pub struct StartAccess {
    /// Header the engine sends the secret in (configured in the runner config's `headers`).
    pub secret_header: String,
    /// The shared secret. `None` disables the check (only sensible on loopback).
    pub secret: Option<String>,
    /// Engine endpoints the runner may connect to, compared after normalisation.
    pub endpoints: Vec<String>,
    /// Namespaces the runner serves; empty means any.
    pub namespaces: Vec<String>,
    /// Pools (runner names) the runner serves; empty means any.
    pub pools: Vec<String>,
}

impl std::fmt::Debug for StartAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartAccess")
            .field("secret_header", &self.secret_header)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("endpoints", &self.endpoints)
            .field("namespaces", &self.namespaces)
            .field("pools", &self.pools)
            .finish()
    }
}

impl StartAccess {
    /// The default secret header name.
    pub const DEFAULT_SECRET_HEADER: &'static str = "x-runner-secret";

    /// Access for one engine endpoint, guarded by `secret`.
    pub fn new(endpoint: impl Into<String>, secret: Option<String>) -> Self {
        Self {
            secret_header: Self::DEFAULT_SECRET_HEADER.to_owned(),
            secret,
            endpoints: vec![endpoint.into()],
            namespaces: Vec::new(),
            pools: Vec::new(),
        }
    }
}

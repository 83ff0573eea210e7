//! Sandboxed actors without the engine: the example guests built for `wasm32-wasip2`, and a
//! way to start one actor from a factory and call it directly.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use runner_core::actor::{ActorControl, ActorFactory, ActorHandle, ActorInit};
use runner_core::persist::{Persistence, Replica};
use runner_core::storage::{ActorKey, ActorStore};

/// The example guests' workspace, relative to the repository root.
const GUESTS: &str = "examples/wasm/Cargo.toml";

/// Builds the example guests once per process (release, `wasm32-wasip2`) and returns the
/// component of crate `name` (`counter-wasm`, `sandbox-probe`).
pub fn guest(name: &str) -> anyhow::Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT
        .get_or_init(|| build_guests().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)?;
    let path = dir.join(format!("{}.wasm", name.replace('-', "_")));
    anyhow::ensure!(path.exists(), "no guest component at {}", path.display());
    Ok(path)
}

fn build_guests() -> anyhow::Result<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("repository root")?
        .to_owned();
    let target = root.join("target/wasm-guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = std::process::Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
            GUESTS,
        ])
        .arg("--target-dir")
        .arg(&target)
        .status()
        .context("run cargo for the guests")?;
    anyhow::ensure!(
        status.success(),
        "building the guests failed (is the target installed? `rustup target add wasm32-wasip2`)"
    );
    Ok(target.join("wasm32-wasip2/release"))
}

/// Engine controls that do nothing: these actors have no engine.
struct NoEngine;

impl ActorControl for NoEngine {
    fn request_sleep(&self) {}
    fn set_alarm(&self, _at_ms: Option<i64>) {}
}

/// Starts actor `actor_id` from `factory`, its data under `store`, as the host does.
pub async fn start_actor(
    factory: Arc<dyn ActorFactory>,
    store: &ActorStore,
    actor_id: &str,
) -> anyhow::Result<ActorHandle> {
    start(factory, store, actor_id, 1, None, Duration::from_secs(60)).await
}

/// Like [`start_actor`], with actions limited to `action_timeout`.
pub async fn start_actor_timed(
    factory: Arc<dyn ActorFactory>,
    store: &ActorStore,
    actor_id: &str,
    action_timeout: Duration,
) -> anyhow::Result<ActorHandle> {
    start(factory, store, actor_id, 1, None, action_timeout).await
}

/// Starts actor `actor_id` at `generation` as the host does with an object store: restored and
/// claimed through `persistence`, its writes shipped there.
pub async fn start_persisted_actor(
    factory: Arc<dyn ActorFactory>,
    store: &ActorStore,
    actor_id: &str,
    generation: u32,
    persistence: &Persistence,
) -> anyhow::Result<ActorHandle> {
    let key = actor_key(actor_id);
    let replica = persistence
        .restore(&key, generation, &store.actor_dir(&key))
        .await?;
    start(
        factory,
        store,
        actor_id,
        generation,
        Some(replica),
        Duration::from_secs(60),
    )
    .await
}

fn actor_key(actor_id: &str) -> ActorKey {
    ActorKey {
        namespace: "default".to_owned(),
        actor_id: actor_id.to_owned(),
    }
}

async fn start(
    factory: Arc<dyn ActorFactory>,
    store: &ActorStore,
    actor_id: &str,
    generation: u32,
    replica: Option<Replica>,
    action_timeout: Duration,
) -> anyhow::Result<ActorHandle> {
    let files = store.open(&actor_key(actor_id), replica.is_some())?;
    let actor_id = actor_id.to_owned();
    let handle = tokio::task::spawn_blocking(move || {
        factory.start(ActorInit {
            namespace: "default".to_owned(),
            actor_id,
            generation,
            key: None,
            input: None,
            files,
            idle_sleep: Duration::from_secs(3600),
            action_timeout,
            control: Arc::new(NoEngine),
            replica,
        })
    })
    .await??;
    Ok(handle)
}

/// CBOR-encodes `value` (action arguments are a CBOR array).
pub fn cbor<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).expect("encode CBOR");
    out
}

/// Decodes a CBOR action output.
pub fn from_cbor<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> anyhow::Result<T> {
    Ok(ciborium::from_reader(bytes)?)
}

//! Sandboxed actors without the engine: the example guests built for `wasm32-wasip2`, and a
//! way to start one actor from a factory and call it directly.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use runner_core::actor::{ActionError, ActorFactory, ActorHandle, Registry};
use runner_core::persist::Persistence;
use runner_core::storage::ActorStore;
use runner_core::testing::{TestHost, Timings};

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

/// Starts actor `actor_id` from `factory`, its data under `store`, as the host does.
pub async fn start_actor(
    factory: Arc<dyn ActorFactory>,
    store: &ActorStore,
    actor_id: &str,
) -> anyhow::Result<ActorHandle> {
    start(factory, store, actor_id, 1, None, Timings::default()).await
}

/// Like [`start_actor`], with actions limited to `action_timeout`.
pub async fn start_actor_timed(
    factory: Arc<dyn ActorFactory>,
    store: &ActorStore,
    actor_id: &str,
    action_timeout: Duration,
) -> anyhow::Result<ActorHandle> {
    let timings = Timings {
        action_timeout,
        ..Timings::default()
    };
    start(factory, store, actor_id, 1, None, timings).await
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
    let persistence = Some(persistence.clone());
    start(
        factory,
        store,
        actor_id,
        generation,
        persistence,
        Timings::default(),
    )
    .await
}

/// Starts the actor through the core's own lifecycle ([`TestHost`]), the path the envoy
/// callbacks take.
async fn start(
    factory: Arc<dyn ActorFactory>,
    store: &ActorStore,
    actor_id: &str,
    generation: u32,
    persistence: Option<Persistence>,
    timings: Timings,
) -> anyhow::Result<ActorHandle> {
    let name = factory.name().to_owned();
    let registry = Registry::new().with_factory(factory);
    let host = TestHost::new(registry, store.clone(), persistence, timings);
    Ok(host.start(&name, actor_id, generation).await?)
}

/// Calls action `name` with JSON `args` (encoded as CBOR) and decodes its output.
pub async fn call(
    actor: &ActorHandle,
    name: &str,
    args: serde_json::Value,
) -> Result<serde_json::Value, ActionError> {
    let output = actor.action(name, cbor(&args)).await?;
    Ok(from_cbor(&output).expect("CBOR output"))
}

/// A factory for JavaScript actor `name` from `source`, compiled by `runtime`.
pub fn js_factory(
    runtime: &runner_core::sandbox::js::JsRuntime,
    name: &str,
    source: &str,
) -> Arc<runner_core::sandbox::js::JsFactory> {
    let code = runtime.compile(name, source).expect("the module loads");
    Arc::new(runner_core::sandbox::js::JsFactory::new(name, code))
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

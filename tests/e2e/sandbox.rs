//! WebAssembly component actors on wasmtime, started directly (no engine): the counter as a
//! component, guests that misbehave, and guests that try to get out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use runner_core::sandbox::SandboxLimits;
use runner_core::sandbox::wasm::{WasmFactory, WasmRuntime};
use runner_core::storage::ActorStore;
use runner_tests::sandbox::{call, guest, start_actor};
use serde_json::{Value, json};

fn factory(runtime: &WasmRuntime, crate_name: &str, actor: &str) -> Arc<WasmFactory> {
    let wasm = std::fs::read(guest(crate_name).expect("guest build")).expect("read guest");
    let code = runtime.compile(&wasm).expect("compile guest");
    Arc::new(WasmFactory::new(actor, code))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasm_counter_keeps_its_state_and_rows_across_restarts() -> anyhow::Result<()> {
    let runtime = WasmRuntime::new(SandboxLimits::default(), 8)?;
    let counter = factory(&runtime, "counter-wasm", "counter");
    let dir = tempfile::tempdir()?;
    let store = ActorStore::new(dir.path());

    let actor = start_actor(counter.clone(), &store, "c1").await?;
    assert_eq!(call(&actor, "increment", json!([5])).await?, json!(5));
    assert_eq!(call(&actor, "increment", json!([2])).await?, json!(7));
    let err = call(&actor, "increment", json!(["x"])).await.unwrap_err();
    assert_eq!(err.code, "invalid_request", "{err}");
    let err = call(&actor, "nope", json!([])).await.unwrap_err();
    assert_eq!(err.code, "action_not_found", "{err}");
    actor.stop(false).await.map_err(anyhow::Error::msg)?;

    let actor = start_actor(counter, &store, "c1").await?;
    assert_eq!(call(&actor, "count", json!([])).await?, json!(7));
    let history = call(&actor, "history", json!([])).await?;
    assert_eq!(history.as_array().map(Vec::len), Some(2), "{history}");
    assert_eq!(history[1]["total"], json!(7));
    actor.stop(false).await.map_err(anyhow::Error::msg)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_guests_get_an_actor_error_and_the_runner_keeps_serving() -> anyhow::Result<()>
{
    runner_tests::init_tracing();
    let limits = SandboxLimits {
        memory_bytes: 32 << 20,
        call_time: Duration::from_millis(300),
    };
    let runtime = WasmRuntime::new(limits, 8)?;
    let probe = factory(&runtime, "sandbox-probe", "probe");
    let dir = tempfile::tempdir()?;
    let store = ActorStore::new(dir.path());
    let bad = start_actor(probe.clone(), &store, "bad").await?;
    let good = start_actor(probe, &store, "good").await?;
    assert_eq!(call(&bad, "ping", json!([])).await?, json!(1));

    let started = Instant::now();
    let err = call(&bad, "spin", json!([])).await.unwrap_err();
    assert_eq!(
        (err.group.as_str(), err.code.as_str()),
        ("actor", "cpu_limit"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(call(&good, "ping", json!([])).await?, json!(1));

    let err = call(&bad, "hog", json!([1000])).await.unwrap_err();
    assert_eq!(err.code, "memory_limit", "{err}");
    assert_eq!(call(&bad, "hog", json!([4])).await?, json!(4));

    let err = call(&bad, "panic", json!([])).await.unwrap_err();
    assert_eq!(err.code, "panicked", "{err}");

    // Each failure rolled back its call and only that; the actor answers from a new instance
    // with its committed state.
    assert_eq!(call(&bad, "ping", json!([])).await?, json!(2));
    assert_eq!(call(&good, "ping", json!([])).await?, json!(2));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_cannot_reach_outside_their_sandbox() -> anyhow::Result<()> {
    let runtime = WasmRuntime::new(SandboxLimits::default(), 8)?;
    let probe = factory(&runtime, "sandbox-probe", "probe");
    let dir = tempfile::tempdir()?;
    let store = ActorStore::new(dir.path());
    let me = start_actor(probe.clone(), &store, "me").await?;
    let other = start_actor(probe, &store, "other").await?;
    let text = |v: Value| v.as_str().unwrap_or_default().to_owned();

    // Its own mount works, and the file lands in the actor's files directory on the host.
    assert_eq!(
        text(call(&me, "writeFile", json!(["notes.txt", "mine"])).await?),
        "ok"
    );
    assert_eq!(
        text(call(&me, "readFile", json!(["/data/notes.txt"])).await?),
        "mine"
    );
    assert_eq!(
        text(call(&other, "writeFile", json!(["secret.txt", "theirs"])).await?),
        "ok"
    );

    // Everything else is out of reach.
    let other_file = store
        .actor_dir(&runner_core::storage::ActorKey {
            namespace: "default".into(),
            actor_id: "other".into(),
        })
        .join("files/secret.txt");
    assert!(other_file.exists(), "the other actor's file is on the host");
    for path in [
        "/etc/passwd".to_owned(),
        "/data/../../other/files/secret.txt".to_owned(),
        other_file.display().to_string(),
        "/proc/self/environ".to_owned(),
    ] {
        let read = text(call(&me, "readFile", json!([path])).await?);
        assert!(read.starts_with("error:"), "{path} was readable: {read}");
    }
    let root = text(call(&me, "listDir", json!(["/"])).await?);
    assert!(
        root.starts_with("error:") || root == "data",
        "listing / gave {root}"
    );
    assert_eq!(
        text(call(&me, "env", json!([])).await?),
        "",
        "no environment variables"
    );

    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let connected = text(call(&me, "connect", json!([addr])).await?);
    assert!(connected.starts_with("error:"), "socket: {connected}");

    // SQL stays inside its own tables.
    let sql = |s: &str| call(&me, "sql", json!([s]));
    assert!(text(sql("CREATE TABLE mine (v TEXT)").await?).starts_with("ok"));
    let outside = dir.path().join("stolen.db").display().to_string();
    for statement in [
        format!("ATTACH DATABASE '{outside}' AS stolen"),
        format!("VACUUM INTO '{outside}'"),
        "PRAGMA journal_mode = DELETE".to_owned(),
        "PRAGMA wal_checkpoint(TRUNCATE)".to_owned(),
        "UPDATE _rivet_state SET state = x'00'".to_owned(),
        "CREATE TEMP TRIGGER spy AFTER UPDATE ON main._rivet_state BEGIN SELECT 1; END".to_owned(),
        "UPDATE sqlite_sequence SET seq = 0".to_owned(),
        "COMMIT".to_owned(),
    ] {
        let result = text(sql(&statement).await?);
        assert!(
            result.starts_with("error:"),
            "{statement} was allowed: {result}"
        );
    }
    assert!(!dir.path().join("stolen.db").exists());
    assert_eq!(call(&me, "ping", json!([])).await?, json!(1));
    Ok(())
}

/// The wasm counter through the real engine: created, called through the gateway, put to
/// sleep, moved to a runner with an empty disk, woken there with its state and rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasm_actor_runs_through_the_engine_and_moves_with_its_data() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let engine = runner_tests::Engine::start().await?;
    let objects = tempfile::tempdir()?;
    let component = guest("counter-wasm")?.display().to_string();
    let wasm_actors = format!("counter-wasm={component}");
    let vars = [
        ("RUNNER_WASM_ACTORS", wasm_actors.as_str()),
        ("RUNNER_IDLE_SLEEP_MS", "120000"),
        (
            "RUNNER_OBJECT_STORE_DIR",
            objects.path().to_str().unwrap_or_default(),
        ),
    ];
    let first = runner_tests::TestRunner::start(&engine.url(), &vars).await?;
    engine
        .put_runner_config(&first.runner_config(300, 10))
        .await?;
    let gw = engine.gateway();
    let id = engine
        .create_actor("counter-wasm", "sandboxed", None)
        .await?;
    assert_eq!(gw.action(&id, "increment", json!([5])).await?, json!(5));
    assert_eq!(gw.action(&id, "increment", json!([3])).await?, json!(8));

    let second = runner_tests::TestRunner::start(&engine.url(), &vars).await?;
    engine
        .put_runner_config(&second.runner_config(300, 10))
        .await?;
    first.shutdown(Duration::from_secs(20)).await;
    let history = runner_tests::wait_for(
        "the wasm actor on the second runner",
        Duration::from_secs(60),
        || {
            let (gw, id) = (gw.clone(), id.clone());
            async move { gw.action(&id, "history", json!([])).await.ok() }
        },
    )
    .await?;
    assert_eq!(history.as_array().map(Vec::len), Some(2), "{history}");
    assert_eq!(gw.action(&id, "count", json!([])).await?, json!(8));
    Ok(())
}

/// The component cache: compiled once, then found in memory, on disk, or in the object store by
/// a runner on another machine; a corrupt artifact is recompiled, not loaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_components_are_cached_in_memory_on_disk_and_in_the_object_store()
-> anyhow::Result<()> {
    use runner_core::object_store::{MemoryStore, ObjectStore};
    use runner_core::sandbox::wasm::{ArtifactKey, CacheTier, ComponentCache};

    let wasm = std::fs::read(guest("counter-wasm")?)?;
    let runtime = WasmRuntime::new(SandboxLimits::default(), 8)?;
    let bucket: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
    let first_disk = tempfile::tempdir()?;
    let first = ComponentCache::new()
        .with_dir(first_disk.path())
        .with_object_store(bucket.clone(), "components/cache");
    let (code, tier) = runtime.load(&wasm, &first).await?;
    assert_eq!(tier, CacheTier::Compiled);
    code.check_instantiates()?;
    assert_eq!(runtime.load(&wasm, &first).await?.1, CacheTier::Memory);

    // Same disk, new process.
    let same_disk = ComponentCache::new().with_dir(first_disk.path());
    let (code, tier) = runtime.load(&wasm, &same_disk).await?;
    assert_eq!(tier, CacheTier::Disk);
    code.check_instantiates()?;

    // Another machine: an empty disk, the shared bucket.
    let other_disk = tempfile::tempdir()?;
    let other = ComponentCache::new()
        .with_dir(other_disk.path())
        .with_object_store(bucket.clone(), "components/cache");
    let (code, tier) = runtime.load(&wasm, &other).await?;
    assert_eq!(tier, CacheTier::ObjectStore);
    code.check_instantiates()?;
    assert_eq!(
        std::fs::read_dir(other_disk.path())?.count(),
        1,
        "the artifact was kept on the new disk"
    );

    // A corrupt artifact on disk is refused and replaced.
    for entry in std::fs::read_dir(first_disk.path())? {
        std::fs::write(entry?.path(), b"not machine code")?;
    }
    let corrupt = ComponentCache::new().with_dir(first_disk.path());
    let (code, tier) = runtime.load(&wasm, &corrupt).await?;
    assert_eq!(tier, CacheTier::Compiled);
    code.check_instantiates()?;

    // A forged artifact: real machine code for this engine, written by someone who does not
    // hold the runner's key (a tenant with bucket access, another process). It is recompiled
    // and replaced, never deserialized.
    let forged_disk = tempfile::tempdir()?;
    let forged_bucket: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
    let forger = ComponentCache::new()
        .with_key(ArtifactKey::derive(b"not the runner's key"))
        .with_dir(forged_disk.path())
        .with_object_store(forged_bucket.clone(), "components/cache");
    assert_eq!(runtime.load(&wasm, &forger).await?.1, CacheTier::Compiled);
    let runner_key = ArtifactKey::derive(b"the runner's secret");
    let victim = ComponentCache::new()
        .with_key(runner_key.clone())
        .with_dir(forged_disk.path())
        .with_object_store(forged_bucket.clone(), "components/cache");
    let (code, tier) = runtime.load(&wasm, &victim).await?;
    assert_eq!(tier, CacheTier::Compiled, "a forged artifact was loaded");
    code.check_instantiates()?;
    // The bucket's forged object was replaced: another runner with the key finds it.
    let peer = ComponentCache::new()
        .with_key(runner_key)
        .with_object_store(forged_bucket, "components/cache");
    assert_eq!(runtime.load(&wasm, &peer).await?.1, CacheTier::ObjectStore);
    Ok(())
}

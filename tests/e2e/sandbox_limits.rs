//! The per-call time limit holds wherever a hostile guest could spend time outside its own
//! code: WASI sleeps, SQL that never ends, native JavaScript loops that never poll the
//! interrupt handler, and scheduled actions that keep scheduling themselves. Each call ends
//! with `actor.cpu_limit` near the limit, and the actor still stops promptly. Started without
//! the engine, with a 300 ms limit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use runner_core::actor::{ActorFactory, ActorHandle};
use runner_core::object_store::{MemoryStore, ObjectStore};
use runner_core::persist::Persistence;
use runner_core::sandbox::SandboxLimits;
use runner_core::sandbox::js::{JsFactory, JsRuntime};
use runner_core::sandbox::wasm::{WasmFactory, WasmRuntime};
use runner_core::storage::ActorStore;
use runner_tests::sandbox::{call, guest, start_actor, start_actor_timed, start_persisted_actor};
use serde_json::{Value, json};

const LIMITS: SandboxLimits = SandboxLimits {
    memory_bytes: 32 << 20,
    call_time: Duration::from_millis(300),
};

/// Calls `name` and expects `actor.cpu_limit` within two seconds.
async fn stopped_at_the_limit(actor: &ActorHandle, name: &str, args: Value) {
    let started = Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(5), call(actor, name, args))
        .await
        .unwrap_or_else(|_| panic!("{name} was still running after 5 s"))
        .expect_err("the call ran to completion");
    assert_eq!(
        (err.group.as_str(), err.code.as_str()),
        ("actor", "cpu_limit"),
        "{name}: {err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{name} took {:?}",
        started.elapsed()
    );
}

fn wasm_probe() -> anyhow::Result<Arc<dyn ActorFactory>> {
    let runtime = WasmRuntime::new(LIMITS, 8)?;
    let code = runtime.compile(&std::fs::read(guest("sandbox-probe")?)?)?;
    Ok(Arc::new(WasmFactory::new("probe", code)))
}

const JS_PROBE: &str = r#"
export default actor({
  state: { loops: 0 },
  actions: {
    ping: () => "pong",
    reverseArrayLike: () => Array.prototype.reverse.call({ length: 2 ** 53 - 1 }),
    sparse: () => { const a = []; a.length = 2 ** 32 - 1; return a.reverse().length; },
    lyingLength: () => {
      let reads = 0;
      const sneaky = { get length() { reads += 1; return reads === 1 ? 1 : 2 ** 53 - 1; } };
      Array.prototype.fill.call(sneaky, 0);
      return "done";
    },
    concatSpreadable: () =>
      [].concat({ length: 2 ** 53 - 1, [Symbol.isConcatSpreadable]: true }).length,
    smallArraysStillWork: () =>
      [3, 1, 2].sort().reverse().concat([0], 9, [[8]]).flat(2).flatMap((x) => [x, x]).join(",") +
      "|" + "abcabc".indexOf("ca") + "," + "a-b".split("-").length,
    recoverNative: () => {
      let leak;
      Reflect.apply = (f) => { leak = f; };
      [1, 2].reverse();
      return typeof leak;
    },
    fakeProxy: () => {
      globalThis.Proxy = function (target) { return target; };
      return Array.prototype.fill.call({ length: 2 ** 53 - 1 }, 0);
    },
    flatNested: () => { const a = []; a.length = 2 ** 32 - 1; return Array(10).fill(a).flat().length; },
    lyingSpreadable: () => {
      let n = 0;
      const o = { length: 2 ** 53 - 2, get [Symbol.isConcatSpreadable]() { return n++ > 0; } };
      return [].concat(o).length;
    },
    quadraticSearch: () => "a".repeat(2 ** 22).indexOf("a".repeat(2 ** 21) + "b"),
    bigTypedSort: () => new Uint8Array(2 ** 23).sort().length,
    sqlForever: (c) => {
      try {
        c.db.query("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c");
      } catch (e) {}
      return "returned";
    },
    loopSchedule: (c) => { c.state.loops += 1; c.schedule.after(0, "loopSchedule"); },
    hugeBlob: (c) => c.db.query("SELECT zeroblob(999999999) AS b"),
    hugeResult: (c) => {
      c.db.execute("CREATE TABLE IF NOT EXISTS big (b BLOB)");
      for (let i = 0; i < 8; i++) c.db.execute("INSERT INTO big VALUES (zeroblob(1000000))");
      return c.db.query("SELECT b FROM big").length;
    },
    floodEvents: (c) => { for (let i = 0; i < 20000; i++) c.broadcast("tick", i); },
  },
});
"#;

fn js_probe() -> anyhow::Result<Arc<dyn ActorFactory>> {
    let runtime = JsRuntime::new(LIMITS)?;
    let code = runtime.compile("probe", JS_PROBE)?;
    Ok(Arc::new(JsFactory::new("probe", code)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasm_guest_cannot_outlast_its_call_in_the_host() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let dir = tempfile::tempdir()?;
    let store = ActorStore::new(dir.path());
    let actor = start_actor(wasm_probe()?, &store, "w1").await?;
    // A WASI sleep of a minute waits inside the host, where epochs do not reach.
    stopped_at_the_limit(&actor, "sleep", json!([60])).await;
    // So does SQL, and the guest ignores the error the stopped statement returns.
    stopped_at_the_limit(&actor, "sqlForever", json!([])).await;
    assert_eq!(call(&actor, "ping", json!([])).await?, json!(1));
    stops_promptly_while_rescheduling(actor).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_cannot_outlast_its_call_in_native_loops() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let dir = tempfile::tempdir()?;
    let store = ActorStore::new(dir.path());
    let actor = start_actor(js_probe()?, &store, "j1").await?;
    for action in [
        "reverseArrayLike",
        "sparse",
        "concatSpreadable",
        "sqlForever",
        "fakeProxy",
        "flatNested",
        "quadraticSearch",
        "bigTypedSort",
    ] {
        stopped_at_the_limit(&actor, action, json!([])).await;
    }
    // The wrappers' own built-ins were captured before the actor's code ran.
    assert_eq!(
        call(&actor, "recoverNative", json!([])).await?,
        json!("undefined")
    );
    // A spreadability getter that lies is read once: the object is one element.
    assert_eq!(call(&actor, "lyingSpreadable", json!([])).await?, json!(1));
    // A length that answers small to the check and huge to the loop: the loop sees the
    // checked one.
    let started = Instant::now();
    assert_eq!(call(&actor, "lyingLength", json!([])).await?, json!("done"));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        call(&actor, "smallArraysStillWork", json!([])).await?,
        json!("3,3,2,2,1,1,0,0,9,9,8,8|2,2")
    );
    stops_promptly_while_rescheduling(actor).await
}

/// An action that schedules itself at once, for ever: the actor keeps running it, yet a stop
/// is read and completes promptly.
async fn stops_promptly_while_rescheduling(actor: ActorHandle) -> anyhow::Result<()> {
    call(&actor, "loopSchedule", json!([])).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(2), actor.stop(false))
        .await
        .map_err(|_| anyhow::anyhow!("stop did not complete within 2 s"))?
        .map_err(anyhow::Error::msg)?;
    assert!(started.elapsed() < Duration::from_secs(2));
    Ok(())
}

/// A file the guest writes straight through WASI, in a call that never asked the runner for
/// its mount, is persisted: stop, restore on an empty disk, and it is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_written_only_through_wasi_are_persisted() -> anyhow::Result<()> {
    let bucket: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
    let persistence = Persistence::new(bucket, "actors");
    let probe = wasm_probe()?;
    let first_disk = tempfile::tempdir()?;
    let first = ActorStore::new(first_disk.path());
    let actor = start_persisted_actor(probe.clone(), &first, "f1", 1, &persistence).await?;
    assert_eq!(
        call(&actor, "writeWasi", json!(["note.txt", "through WASI"])).await?,
        json!("ok")
    );
    actor.stop(false).await.map_err(anyhow::Error::msg)?;

    let second_disk = tempfile::tempdir()?;
    let second = ActorStore::new(second_disk.path());
    let actor = start_persisted_actor(probe, &second, "f1", 2, &persistence).await?;
    assert_eq!(
        call(&actor, "readFile", json!(["/data/note.txt"])).await?,
        json!("through WASI")
    );
    actor.stop(false).await.map_err(anyhow::Error::msg)?;
    Ok(())
}

/// What a guest can make the host hold in memory is bounded: a gigabyte blob, a result larger
/// than the host keeps for a guest, a flood of events. Each is that call's error, and the actor
/// keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_cannot_make_the_host_hold_unbounded_memory() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = ActorStore::new(dir.path());
    let actor = start_actor(js_probe()?, &store, "m1").await?;
    let err = call(&actor, "hugeBlob", json!([])).await.unwrap_err();
    assert_eq!(err.code, "sql_error", "{err}");
    assert!(err.message.contains("too big"), "{err}");
    let err = call(&actor, "hugeResult", json!([])).await.unwrap_err();
    assert!(err.message.contains("larger than"), "{err}");
    let err = call(&actor, "floodEvents", json!([])).await.unwrap_err();
    assert_eq!(err.code, "too_many_events", "{err}");
    assert_eq!(call(&actor, "ping", json!([])).await?, json!("pong"));
    Ok(())
}

/// RivetKit's `actionTimeout`: an action that runs longer is rolled back and fails with
/// `actor.action_timed_out`, whatever runtime it is in (here JavaScript under a generous
/// sandbox limit, so the action timeout is what ends it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_past_its_timeout_is_rolled_back() -> anyhow::Result<()> {
    const SLOW: &str = r#"
export default actor({
  state: { n: 0 },
  actions: {
    slow: (c) => { c.state.n += 1; const end = Date.now() + 400; while (Date.now() < end) {} return c.state.n; },
    n: (c) => c.state.n,
  },
});
"#;
    let runtime = JsRuntime::new(SandboxLimits::default())?;
    let factory = Arc::new(JsFactory::new("slow", runtime.compile("slow", SLOW)?));
    let dir = tempfile::tempdir()?;
    let store = ActorStore::new(dir.path());
    let actor = start_actor_timed(factory, &store, "t1", Duration::from_millis(100)).await?;
    let err = call(&actor, "slow", json!([])).await.unwrap_err();
    assert_eq!(err.code, "action_timed_out", "{err}");
    assert_eq!(call(&actor, "n", json!([])).await?, json!(0), "rolled back");
    Ok(())
}

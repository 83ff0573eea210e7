//! JavaScript actors on QuickJS, started directly (no engine): the counter example, code that
//! misbehaves, and code that tries to get out.

use std::time::{Duration, Instant};

use runner_core::sandbox::SandboxLimits;
use runner_core::sandbox::js::JsRuntime;
use runner_core::storage::ActorStore;
use runner_tests::sandbox::{call, js_factory, start_actor};
use serde_json::{Value, json};

const COUNTER: &str = include_str!("../../examples/js/counter.js");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_counter_keeps_its_state_and_rows_across_restarts() -> anyhow::Result<()> {
    let runtime = JsRuntime::new(SandboxLimits::default())?;
    let counter = js_factory(&runtime, "counter", COUNTER);
    let dir = tempfile::tempdir()?;
    let store = ActorStore::new(dir.path());

    let actor = start_actor(counter.clone(), &store, "c1").await?;
    assert_eq!(call(&actor, "increment", json!([5])).await?, json!(5));
    assert_eq!(call(&actor, "increment", json!([2])).await?, json!(7));
    let err = call(&actor, "increment", json!(["x"])).await.unwrap_err();
    assert_eq!(
        (err.group.as_str(), err.code.as_str()),
        ("user", "invalid_amount"),
        "{err}"
    );
    assert_eq!(
        call(&actor, "count", json!([])).await?,
        json!(7),
        "a failed action changes nothing"
    );
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

const MISBEHAVING: &str = r#"
export default actor({
  state: { calls: 0 },
  actions: {
    ping: (c) => { c.state.calls += 1; return "pong"; },
    calls: (c) => c.state.calls,
    spin: (c) => { c.state.calls += 1000; for (;;) {} },
    hog: () => { const chunks = []; for (;;) chunks.push(new Array(1 << 16).fill(7)); },
    recurse: () => { const f = (n) => f(n + 1) + 1; return f(0); },
    boom: () => { throw new TypeError("kaboom"); },
    later: async (c) => { await null; c.state.calls += 1; return c.state.calls; },
    never: () => new Promise(() => {}),
  },
});
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_js_gets_an_actor_error_and_the_runner_keeps_serving() -> anyhow::Result<()> {
    let limits = SandboxLimits {
        memory_bytes: 32 << 20,
        call_time: Duration::from_millis(300),
    };
    let runtime = JsRuntime::new(limits)?;
    let probe = js_factory(&runtime, "probe", MISBEHAVING);
    let dir = tempfile::tempdir()?;
    let store = ActorStore::new(dir.path());
    let actor = start_actor(probe.clone(), &store, "bad").await?;
    let bystander = start_actor(probe, &store, "good").await?;
    assert_eq!(call(&actor, "ping", json!([])).await?, json!("pong"));

    let started = Instant::now();
    let err = call(&actor, "spin", json!([])).await.unwrap_err();
    assert_eq!(err.code, "cpu_limit", "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopped near the limit"
    );
    assert_eq!(
        call(&actor, "calls", json!([])).await?,
        json!(1),
        "the interrupted call's state change is rolled back"
    );

    let err = call(&actor, "hog", json!([])).await.unwrap_err();
    assert_eq!(err.code, "memory_limit", "{err}");
    let err = call(&actor, "recurse", json!([])).await.unwrap_err();
    assert_eq!(err.code, "js_error", "{err}");
    assert!(err.message.contains("RangeError"), "{err}");
    let err = call(&actor, "boom", json!([])).await.unwrap_err();
    assert_eq!(err.code, "js_error", "{err}");
    assert!(err.message.contains("TypeError: kaboom"), "{err}");
    let err = call(&actor, "never", json!([])).await.unwrap_err();
    assert!(err.message.contains("never settles"), "{err}");

    // Async actions settle within the call; the actor still works after every failure.
    assert_eq!(call(&actor, "later", json!([])).await?, json!(2));
    assert_eq!(call(&bystander, "ping", json!([])).await?, json!("pong"));
    assert_eq!(call(&bystander, "calls", json!([])).await?, json!(1));

    let err = runtime.compile("broken", "export default {").unwrap_err();
    assert!(err.to_string().contains("SyntaxError"), "{err}");
    let err = runtime.compile("empty", "export const x = 1;").unwrap_err();
    assert!(err.to_string().contains("actor definition"), "{err}");
    let err = runtime
        .compile("stuck", "for (;;) {} export default {};")
        .unwrap_err();
    assert!(err.to_string().contains("time limit"), "{err}");
    Ok(())
}

const ESCAPES: &str = r#"
export default actor({
  actions: {
    globals: () => ["process", "require", "std", "os", "Deno", "Bun", "XMLHttpRequest", "WebSocket"]
      .filter((name) => typeof globalThis[name] !== "undefined"),
    read: (c, path) => c.files.read(path),
    write: (c, path, text) => c.files.write(path, text),
    list: (c) => c.files.list(),
    fetch: async (c, url) => (await fetch(url)).status,
    importModule: async () => { await import("os"); return "imported"; },
    setGlobal: (c, value) => { globalThis.shared = value; return value; },
    getGlobal: () => globalThis.shared === undefined ? null : globalThis.shared,
    sql: (c, sql) => c.db.query(sql),
  },
});
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_cannot_reach_outside_its_sandbox() -> anyhow::Result<()> {
    let runtime = JsRuntime::new(SandboxLimits::default())?;
    let probe = js_factory(&runtime, "probe", ESCAPES);
    let dir = tempfile::tempdir()?;
    let store = ActorStore::new(dir.path());
    let a = start_actor(probe.clone(), &store, "a").await?;
    let b = start_actor(probe, &store, "b").await?;

    assert_eq!(
        call(&a, "globals", json!([])).await?,
        json!([]),
        "no host objects"
    );
    call(&a, "write", json!(["notes/a.txt", "mine"])).await?;
    assert_eq!(
        call(&a, "read", json!(["notes/a.txt"])).await?,
        json!("mine")
    );
    assert_eq!(call(&a, "list", json!([])).await?, json!(["notes/"]));
    for path in [
        "../b/files/x",
        "/etc/passwd",
        "../../../../etc/passwd",
        "notes/../../x",
    ] {
        let err = call(&a, "read", json!([path])).await.unwrap_err();
        assert_eq!(err.code, "file_denied", "{path}: {err}");
    }
    let err = call(&b, "read", json!(["notes/a.txt"])).await.unwrap_err();
    assert_eq!(
        err.code, "file_not_found",
        "another actor's files are not there: {err}"
    );

    let err = call(&a, "fetch", json!(["http://127.0.0.1:9/"]))
        .await
        .unwrap_err();
    assert_eq!(err.code, "fetch_denied", "{err}");
    let err = call(&a, "importModule", json!([])).await.unwrap_err();
    assert_eq!(err.code, "js_error", "{err}");

    call(&a, "setGlobal", json!(["from a"])).await?;
    assert_eq!(
        call(&b, "getGlobal", json!([])).await?,
        Value::Null,
        "globals are per actor"
    );
    for sql in [
        "ATTACH DATABASE '/tmp/x.db' AS x",
        "SELECT * FROM _rivet_state",
        "PRAGMA writable_schema = ON",
    ] {
        let err = call(&a, "sql", json!([sql])).await.unwrap_err();
        assert_eq!(err.code, "sql_error", "{sql}: {err}");
    }
    Ok(())
}

//! Work beyond one call in JavaScript actors, started directly (no engine): timers, RivetKit's
//! `waitUntil`, `keepAwake` and `run`, and the abort signal at a stop.

use std::time::{Duration, Instant};

use runner_core::actor::{ActorHandle, Registry};
use runner_core::sandbox::SandboxLimits;
use runner_core::sandbox::js::JsRuntime;
use runner_core::storage::ActorStore;
use runner_core::testing::{TestHost, Timings};
use runner_tests::sandbox::{call, js_factory, start_actor};
use serde_json::{Value, json};

/// Calls `name` until it answers `want`, for up to 5 s.
async fn eventually(actor: &ActorHandle, name: &str, want: Value) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = call(actor, name, json!([])).await?;
        if got == want {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "`{name}` is {got}, not {want}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const TIMERS: &str = r#"
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export default actor({
  state: { done: 0, ticks: 0 },
  actions: {
    nap: async (c, ms) => { const t = Date.now(); await sleep(ms); return Date.now() - t; },
    tooFar: async () => { await sleep(120000); return "late"; },
    later: (c, ms) => {
      c.waitUntil(sleep(ms).then(() => { c.state.done += 1; }));
      return c.state.done;
    },
    done: (c) => c.state.done,
    ticker: (c, n) => {
      let k = 0;
      const id = setInterval(() => { c.state.ticks += 1; if (++k === n) clearInterval(id); }, 10);
    },
    ticks: (c) => c.state.ticks,
    order: async () => {
      const out = [];
      setTimeout(() => { out.push("b"); Promise.resolve().then(() => out.push("b-micro")); }, 20);
      setTimeout(() => out.push("a"), 10);
      setTimeout(() => out.push("c"), 20);
      clearTimeout(setTimeout(() => out.push("cleared"), 5));
      setTimeout((x, y) => out.push(x + y), 30, "d", "!");
      await sleep(40);
      return out;
    },
    throwsLater: () => { setTimeout(() => { throw new Error("from a timer"); }, 0); setTimeout(() => {}, 1); },
    spinLater: () => { setTimeout(() => { for (;;) {} }, 0); return "armed"; },
    busy: () => { const loop = () => setTimeout(loop, 0); loop(); return "looping"; },
    stringTimer: () => setTimeout("1 + 1", 0),
    ping: () => "pong",
  },
});
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_settle_awaited_calls_and_run_later_in_turns_of_their_own() -> anyhow::Result<()> {
    let limits = SandboxLimits {
        call_time: Duration::from_millis(300),
        ..SandboxLimits::default()
    };
    let runtime = JsRuntime::new(limits)?;
    let timers = js_factory(&runtime, "timers", TIMERS);
    let dir = tempfile::tempdir()?;
    let store = ActorStore::new(dir.path());
    let actor = start_actor(timers.clone(), &store, "t").await?;

    // An awaited timer settles the call; waiting is not the call's CPU time (limit 300 ms).
    let napped = call(&actor, "nap", json!([500])).await?;
    assert!(napped.as_i64().is_some_and(|ms| ms >= 500), "{napped}");
    let err = call(&actor, "tooFar", json!([])).await.unwrap_err();
    assert_eq!(err.code, "timer_too_far", "{err}");
    assert_eq!(
        call(&actor, "order", json!([])).await?,
        json!(["a", "b", "b-micro", "c", "d!"]),
        "timers fire in due order, the jobs each queued before the next"
    );
    let err = call(&actor, "stringTimer", json!([])).await.unwrap_err();
    assert!(err.message.contains("take a function"), "{err}");

    // A timer due after the call runs in a turn of its own, its write committed.
    assert_eq!(call(&actor, "later", json!([100])).await?, json!(0));
    eventually(&actor, "done", json!(1)).await?;
    call(&actor, "ticker", json!([5])).await?;
    eventually(&actor, "ticks", json!(5)).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(call(&actor, "ticks", json!([])).await?, json!(5), "cleared");

    // A timer that throws is logged; one that spins past the limit drops the instance's
    // timers, and the actor keeps serving with its state.
    call(&actor, "throwsLater", json!([])).await?;
    assert_eq!(call(&actor, "spinLater", json!([])).await?, json!("armed"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(call(&actor, "done", json!([])).await?, json!(1));

    // A timer that re-arms itself at 0 ms does not keep calls from being served.
    call(&actor, "busy", json!([])).await?;
    for _ in 0..10 {
        let started = Instant::now();
        assert_eq!(call(&actor, "ping", json!([])).await?, json!("pong"));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
    actor.stop(false).await.map_err(anyhow::Error::msg)?;

    let actor = start_actor(timers, &store, "t").await?;
    assert_eq!(
        call(&actor, "done", json!([])).await?,
        json!(1),
        "the turn's write was saved"
    );
    assert_eq!(call(&actor, "ticks", json!([])).await?, json!(5));
    actor.stop(false).await.map_err(anyhow::Error::msg)?;
    Ok(())
}

const RUNNER: &str = r#"
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export default actor({
  state: { runs: 0, exits: 0, aborts: 0, beats: 0, flushed: 0, abortedInSleep: null },
  run: async (c) => {
    c.state.runs += 1;
    c.abortSignal.addEventListener("abort", () => { c.state.aborts += 1; });
    while (!c.aborted) {
      await sleep(20);
      c.state.beats += 1;
    }
    c.state.exits += 1;
  },
  onSleep: (c) => {
    c.state.abortedInSleep = c.aborted;
    c.waitUntil(sleep(50).then(() => { c.state.flushed += 1; }));
  },
  actions: {
    get: (c) => c.state,
    beats: (c) => c.state.beats > 2,
    runs: (c) => c.state.runs,
  },
});
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_aborts_the_run_handler_and_waits_for_its_work() -> anyhow::Result<()> {
    let runtime = JsRuntime::new(SandboxLimits::default())?;
    let runner = js_factory(&runtime, "runner", RUNNER);
    let dir = tempfile::tempdir()?;
    let store = ActorStore::new(dir.path());
    let actor = start_actor(runner.clone(), &store, "r").await?;
    eventually(&actor, "beats", json!(true)).await?;
    let state = call(&actor, "get", json!([])).await?;
    assert_eq!(
        (&state["runs"], &state["exits"], &state["aborts"]),
        (&json!(1), &json!(0), &json!(0)),
        "{state}"
    );
    actor.stop(false).await.map_err(anyhow::Error::msg)?;

    let actor = start_actor(runner, &store, "r").await?;
    let state = call(&actor, "get", json!([])).await?;
    assert_eq!(
        state["abortedInSleep"],
        json!(true),
        "aborted before onSleep"
    );
    assert_eq!(state["aborts"], json!(1), "the abort listener ran: {state}");
    assert_eq!(state["exits"], json!(1), "the stop waited for run: {state}");
    assert_eq!(state["flushed"], json!(1), "and for waitUntil: {state}");
    // It starts in a turn of its own, after the wake.
    eventually(&actor, "runs", json!(2)).await?;
    actor.stop(false).await.map_err(anyhow::Error::msg)?;
    Ok(())
}

const AWAKE: &str = r#"
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export default actor({
  state: { kept: 0, background: 0 },
  actions: {
    keep: (c, ms) => { c.keepAwake(sleep(ms).then(() => { c.state.kept += 1; })); },
    background: (c, ms) => { c.waitUntil(sleep(ms).then(() => { c.state.background += 1; })); },
    forever: (c) => { c.keepAwake(new Promise(() => {})); },
    get: (c) => c.state,
  },
});
"#;

/// RivetKit's rule: `keepAwake` keeps an idle actor awake, `waitUntil` does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_awake_holds_off_idle_sleep_and_wait_until_does_not() -> anyhow::Result<()> {
    let runtime = JsRuntime::new(SandboxLimits::default())?;
    let awake = js_factory(&runtime, "awake", AWAKE);
    let dir = tempfile::tempdir()?;
    let timings = Timings {
        idle_sleep: Duration::from_millis(200),
        ..Timings::default()
    };
    let host = TestHost::new(
        Registry::new().with_factory(awake),
        ActorStore::new(dir.path()),
        None,
        timings,
    );
    let kept = host.start("awake", "kept", 1).await?;
    call(&kept, "keep", json!([800])).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(host.control().sleep_requests(), 0, "kept awake");
    let deadline = Instant::now() + Duration::from_secs(5);
    while host.control().sleep_requests() == 0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "never slept after keepAwake settled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(call(&kept, "get", json!([])).await?["kept"], json!(1));
    kept.stop(false).await.map_err(anyhow::Error::msg)?;

    let background = host.start("awake", "background", 1).await?;
    let before = host.control().sleep_requests();
    call(&background, "background", json!([800])).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        host.control().sleep_requests(),
        before + 1,
        "idle with only waitUntil work"
    );
    // The stop then waits for it.
    background.stop(false).await.map_err(anyhow::Error::msg)?;
    let background = host.start("awake", "background", 1).await?;
    assert_eq!(
        call(&background, "get", json!([])).await?["background"],
        json!(1)
    );
    // Work that nothing can settle (no timer left) does not hold the stop for its grace.
    call(&background, "forever", json!([])).await?;
    let started = Instant::now();
    background.stop(false).await.map_err(anyhow::Error::msg)?;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

//! Sandbox benchmark: the wasm counter and the JavaScript counter against the native counter,
//! side by side in one process.
//!
//! - loading the component cold (compiling it) and cached (a precompiled artifact from disk);
//! - instantiating: a component from the pool (`InstancePre`), a QuickJS runtime with the
//!   module evaluated; p50/p99;
//! - starting an actor (open SQLite, create, wake);
//! - an `increment` through the actor's mailbox, the three interleaved;
//! - resident memory per idle actor.
//!
//! Run with `cargo bench -p runner-tests --bench sandbox`.
#![allow(clippy::print_stdout, reason = "a benchmark reports to the terminal")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use runner_core::actor::{ActorFactory, ActorHandle, NativeFactory};
use runner_core::sandbox::SandboxLimits;
use runner_core::sandbox::js::{JsFactory, JsRuntime};
use runner_core::sandbox::wasm::{CacheTier, ComponentCache, WasmFactory, WasmRuntime};
use runner_core::storage::ActorStore;
use runner_tests::sandbox::{cbor, guest, start_actor};

const INSTANTIATIONS: usize = 5_000;
const JS_COUNTER: &str = include_str!("../../examples/js/counter.js");
const ACTORS: usize = 200;
const ACTIONS: usize = 5_000;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One table row of a per-runtime metric at percentile `p`, with the ratios to native.
fn row(metric: &str, wasm: &mut [Duration], js: &mut [Duration], native: &mut [Duration], p: f64) {
    let (w, j, n) = (
        us(percentile(wasm, p)),
        us(percentile(js, p)),
        us(percentile(native, p)),
    );
    println!(
        "| {metric} | {w:.1} µs | {j:.1} µs | {n:.1} µs | {:.2}× | {:.2}× |",
        w / n,
        j / n
    );
}

/// Resident set size of this process, from /proc.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Starts `ACTORS` idle actors and returns (start times, RSS growth per actor, the actors).
async fn start_many(
    factory: Arc<dyn ActorFactory>,
    store: &ActorStore,
    prefix: &str,
) -> anyhow::Result<(Vec<Duration>, f64, Vec<ActorHandle>)> {
    let before = rss_bytes();
    let mut times = Vec::new();
    let mut actors = Vec::new();
    for i in 0..ACTORS {
        let started = Instant::now();
        let actor = start_actor(factory.clone(), store, &format!("{prefix}-{i}")).await?;
        times.push(started.elapsed());
        actors.push(actor);
    }
    let per_actor = (rss_bytes().saturating_sub(before)) as f64 / ACTORS as f64;
    Ok((times, per_actor, actors))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let wasm = std::fs::read(guest("counter-wasm")?)?;
    let runtime = WasmRuntime::new(SandboxLimits::default(), 2 * ACTORS as u32 + 16)?;

    // Cold (compile) against cached (a precompiled artifact from the disk tier), alternating.
    let (mut compile, mut cached) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let disk = tempfile::tempdir()?;
        let started = Instant::now();
        let (_, tier) = runtime
            .load(&wasm, &ComponentCache::new().with_dir(disk.path()))
            .await?;
        compile.push(started.elapsed());
        anyhow::ensure!(
            tier == CacheTier::Compiled,
            "expected a compile, got {tier:?}"
        );
        let started = Instant::now();
        let (_, tier) = runtime
            .load(&wasm, &ComponentCache::new().with_dir(disk.path()))
            .await?;
        cached.push(started.elapsed());
        anyhow::ensure!(
            tier == CacheTier::Disk,
            "expected the disk tier, got {tier:?}"
        );
    }
    let code = runtime.compile(&wasm)?;

    let mut instantiate = Vec::with_capacity(INSTANTIATIONS);
    for _ in 0..INSTANTIATIONS {
        let started = Instant::now();
        code.check_instantiates()?;
        instantiate.push(started.elapsed());
    }

    let js_runtime = JsRuntime::new(SandboxLimits::default())?;
    let mut js_instantiate = Vec::with_capacity(INSTANTIATIONS / 5);
    let mut js_code = None;
    for _ in 0..INSTANTIATIONS / 5 {
        let started = Instant::now();
        js_code = Some(js_runtime.compile("counter", JS_COUNTER)?);
        js_instantiate.push(started.elapsed());
    }
    let js_code = js_code.ok_or_else(|| anyhow::anyhow!("no JavaScript code"))?;

    let dir = tempfile::tempdir()?;
    let store = ActorStore::new(dir.path());
    let native: Arc<dyn ActorFactory> =
        Arc::new(NativeFactory::<example_counter::Counter>::default());
    let sandboxed: Arc<dyn ActorFactory> = Arc::new(WasmFactory::new("counter", code));
    let javascript: Arc<dyn ActorFactory> = Arc::new(JsFactory::new("counter", js_code));
    let (mut native_start, native_rss, native_actors) =
        start_many(native, &store, "native").await?;
    let (mut wasm_start, wasm_rss, wasm_actors) = start_many(sandboxed, &store, "wasm").await?;
    let (mut js_start, js_rss, js_actors) = start_many(javascript, &store, "js").await?;

    let args = cbor(&[1]);
    let (mut native_action, mut wasm_action, mut js_action) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..ACTIONS {
        let actors = [
            (&native_actors[i % ACTORS], &mut native_action),
            (&wasm_actors[i % ACTORS], &mut wasm_action),
            (&js_actors[i % ACTORS], &mut js_action),
        ];
        for (actor, samples) in actors {
            let started = Instant::now();
            actor.action("increment", args.clone()).await?;
            samples.push(started.elapsed());
        }
    }

    println!("## Sandbox: the wasm and JavaScript counters vs the native counter\n");
    println!(
        "| metric | wasm component | JavaScript (QuickJS) | native Rust | wasm ÷ native | JS ÷ native |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| load the component, cold: compile (median of 5, {} KB) | {:.1} ms | – | – | – | – |",
        wasm.len() / 1000,
        ms(percentile(&mut compile, 0.5))
    );
    println!(
        "| load the component, cached: precompiled from disk (median of 5) | {:.2} ms | – | – | – | – |",
        ms(percentile(&mut cached, 0.5))
    );
    println!(
        "| instantiate p50 / p99 (wasm: from the pool, {INSTANTIATIONS}×; JS: compile to bytecode + a new runtime with the module evaluated, {}×) | {:.1} / {:.1} µs | {:.1} / {:.1} µs | – | – | – |",
        INSTANTIATIONS / 5,
        us(percentile(&mut instantiate, 0.5)),
        us(percentile(&mut instantiate, 0.99)),
        us(percentile(&mut js_instantiate, 0.5)),
        us(percentile(&mut js_instantiate, 0.99)),
    );
    row(
        "actor start (SQLite, create, wake) p50",
        &mut wasm_start,
        &mut js_start,
        &mut native_start,
        0.5,
    );
    row(
        &format!("`increment` ({ACTIONS}×, SQL insert + state) p50"),
        &mut wasm_action,
        &mut js_action,
        &mut native_action,
        0.5,
    );
    row(
        "`increment` p99",
        &mut wasm_action,
        &mut js_action,
        &mut native_action,
        0.99,
    );
    println!(
        "| resident memory per idle actor ({ACTORS} actors) | {:.0} KB | {:.0} KB | {:.0} KB | +{:.0} KB | +{:.0} KB |",
        wasm_rss / 1e3,
        js_rss / 1e3,
        native_rss / 1e3,
        (wasm_rss - native_rss) / 1e3,
        (js_rss - native_rss) / 1e3,
    );
    for actor in native_actors.iter().chain(&wasm_actors).chain(&js_actors) {
        let _ = actor.stop(false).await;
    }
    Ok(())
}

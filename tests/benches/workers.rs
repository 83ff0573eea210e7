//! Workers adapter benchmark, against the container adapter in the same run: the Worker bundle
//! (compressed), create → first reply and wake → first reply (each a `/start` → Running, then
//! one action), and read and write round trips through the gateway, all with the real engine,
//! the Worker under `wrangler dev` (workerd), and both persisting to the same SeaweedFS (the
//! Worker through `fetch`, the container through the AWS SDK), in strict mode.
//!
//! Run with `cargo bench --workspace --bench workers` (builds the Worker first).
#![allow(clippy::print_stdout, reason = "a benchmark reports to the terminal")]

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use runner_tests::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};
use runner_tests::workers::{WranglerDev, worker_dir};
use runner_tests::{Engine, Gateway, RunnerConfigSpec, TestRunner};
use serde_json::json;

const SECRET: &str = "bench-secret-0123456789abcdef0123456789ab";
const ROUNDS: usize = 10;
const CALLS: usize = 50;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn p90(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() * 9 / 10]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One actor's life on `pool`: create → first reply, `CALLS` round trips, then sleep and
/// wake → first reply.
struct Round {
    cold: f64,
    reads: Vec<f64>,
    writes: Vec<f64>,
    wake: f64,
}

async fn round(engine: &Engine, gw: &Gateway, pool: &str, n: usize) -> anyhow::Result<Round> {
    let started = Instant::now();
    let key = format!("{pool}-{n}-{}", unique());
    let id = engine.create_actor_in(pool, "counter", &key, None).await?;
    gw.action(&id, "increment", json!([1])).await?;
    let cold = ms(started.elapsed());
    let (mut reads, mut writes) = (Vec::with_capacity(CALLS), Vec::with_capacity(CALLS));
    for _ in 0..CALLS {
        let started = Instant::now();
        gw.action(&id, "count", json!([])).await?;
        reads.push(ms(started.elapsed()));
        let started = Instant::now();
        gw.action(&id, "increment", json!([1])).await?;
        writes.push(ms(started.elapsed()));
    }
    engine.sleep_actor(&id).await?;
    runner_tests::wait_for("asleep", Duration::from_secs(20), || async {
        engine.actor(&id).await.ok()?["sleep_ts"].as_i64()
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    gw.action(&id, "count", json!([])).await?;
    Ok(Round {
        cold,
        reads,
        writes,
        wake: ms(started.elapsed()),
    })
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn gzip_size(path: &Path) -> anyhow::Result<usize> {
    let out = std::process::Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .output()?;
    anyhow::ensure!(out.status.success(), "gzip failed");
    Ok(out.stdout.len())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let status = std::process::Command::new(worker_dir().join("build-worker"))
        .status()
        .context("run adapters/workers/build-worker")?;
    anyhow::ensure!(status.success(), "adapters/workers/build-worker failed");
    let wasm = worker_dir().join("build/index_bg.wasm");
    let glue = worker_dir().join("build/index.js");

    let engine = Engine::start().await?;
    let engine_url = engine.url();
    let s3 = S3Server::start("bench-workers").await?;
    let dev = WranglerDev::start(&[
        ("RUNNER_SECRET", SECRET),
        ("RUNNER_ENGINE_ENDPOINTS", engine_url.as_str()),
        ("RUNNER_IDLE_SLEEP_MS", "600000"),
        ("RUNNER_LOG", "warn"),
        ("RUNNER_S3_ENDPOINT", s3.endpoint.as_str()),
        ("RUNNER_S3_BUCKET", s3.bucket.as_str()),
        ("RUNNER_S3_ACCESS_KEY_ID", ACCESS_KEY),
        ("RUNNER_S3_SECRET_ACCESS_KEY", SECRET_KEY),
        ("RUNNER_STORE_REQUEST_BUDGET", "10000"),
    ])
    .await?;
    // The same Worker without a bucket: what persistence costs on Workers.
    let unpersisted = WranglerDev::start(&[
        ("RUNNER_SECRET", SECRET),
        ("RUNNER_ENGINE_ENDPOINTS", engine_url.as_str()),
        ("RUNNER_IDLE_SLEEP_MS", "600000"),
        ("RUNNER_LOG", "error"),
        ("RUNNER_OBJECT_STORE", "none"),
    ])
    .await?;
    for (pool, dev) in [("workers", &dev), ("workers-memory", &unpersisted)] {
        engine
            .put_runner_config(&RunnerConfigSpec {
                pool: pool.into(),
                url: format!("{}/api/rivet", dev.url),
                headers: vec![("x-runner-secret".into(), SECRET.into())],
                request_lifespan: 240,
                drain_grace_period: 10,
            })
            .await?;
    }
    let container = TestRunner::start_with(
        &engine_url,
        &[("RUNNER_IDLE_SLEEP_MS", "600000")],
        Some(std::sync::Arc::new(s3.store().await)),
    )
    .await?;
    let mut spec = container.runner_config(240, 10);
    spec.pool = "container".into();
    engine.put_runner_config(&spec).await?;

    let gw = engine.gateway();
    let (mut workers, mut memory, mut native) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..ROUNDS {
        workers.push(round(&engine, &gw, "workers", n).await?);
        memory.push(round(&engine, &gw, "workers-memory", n).await?);
        native.push(round(&engine, &gw, "container", n).await?);
    }
    let column = |rounds: &[Round], f: fn(&Round) -> f64| median(rounds.iter().map(f).collect());
    let all = |rounds: &[Round], f: fn(&Round) -> &Vec<f64>| -> Vec<f64> {
        rounds.iter().flat_map(|r| f(r).iter().copied()).collect()
    };
    println!(
        "## Workers adapter ({ROUNDS} rounds of {CALLS} calls, interleaved with the container adapter)\n"
    );
    println!(
        "| metric | Worker (`wrangler dev`, workerd; S3 over `fetch`) | Worker without a bucket | container (hyper, native; S3 via the AWS SDK) |"
    );
    println!("|---|---|---|---|");
    println!(
        "| create → first reply (`/start` → Running + one action), median | {:.1} ms | {:.1} ms | {:.1} ms |",
        column(&workers, |r| r.cold),
        column(&memory, |r| r.cold),
        column(&native, |r| r.cold)
    );
    println!(
        "| wake → first reply (a new `/start`), median | {:.1} ms | {:.1} ms | {:.1} ms |",
        column(&workers, |r| r.wake),
        column(&memory, |r| r.wake),
        column(&native, |r| r.wake)
    );
    for (label, f) in [
        (
            "read action (`count`)",
            (|r: &Round| &r.reads) as fn(&Round) -> &Vec<f64>,
        ),
        (
            "write action (`increment`, durable in S3 before the reply)",
            |r: &Round| &r.writes,
        ),
    ] {
        let (w, m, c) = (all(&workers, f), all(&memory, f), all(&native, f));
        println!(
            "| {label} round trip through the gateway, p50 / p90 | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {:.2} / {:.2} ms |",
            median(w.clone()),
            p90(w),
            median(m.clone()),
            p90(m),
            median(c.clone()),
            p90(c)
        );
    }
    println!(
        "| bundle: `index_bg.wasm` raw / gzip -9, plus the JavaScript glue `index.js` | {:.0} KiB / {:.0} KiB, {:.0} KiB | same | – |",
        std::fs::metadata(&wasm)?.len() as f64 / 1024.0,
        gzip_size(&wasm)? as f64 / 1024.0,
        std::fs::metadata(&glue)?.len() as f64 / 1024.0,
    );
    Ok(())
}

//! Side-by-side benchmark: this project's runner (`rivet-runner`, release) against the official
//! RivetKit Rust runtime (`rivetkit` 2.3.19 `CoreServerlessRuntime`, release) hosting an
//! equivalent counter, both driven by one real Rivet engine 2.3.19 on loopback. Measurements
//! alternate between the two so machine noise hits both alike.
//!
//! Run with `cargo bench -p runner-tests --bench runtime_comparison` (builds both binaries first;
//! `BENCH_ROUNDS` sets the number of wake rounds, default 20).
#![allow(clippy::print_stdout, reason = "a benchmark reports to the terminal")]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use runner_tests::start_spy::StartSpy;
use runner_tests::{Engine, Gateway, RunnerConfigSpec, free_port, wait_for};
use serde_json::json;
use tokio::process::{Child, Command};

struct Runtime {
    name: &'static str,
    pool: &'static str,
    actor_id: String,
    spy: StartSpy,
    _process: Child,
}

#[derive(Default)]
struct Samples(Vec<f64>);

impl Samples {
    fn push(&mut self, ms: f64) {
        self.0.push(ms);
    }
    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return f64::NAN;
        }
        sorted[((sorted.len() - 1) as f64 * p).round() as usize]
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("repo root")?
        .to_owned();
    let (ours_bin, official_bin) = build_binaries(&root)?;
    let engine = Engine::start().await?;
    let data = tempfile::tempdir()?;

    let ours = spawn_runtime(
        "this runner",
        "ours",
        &engine,
        Command::new(&ours_bin),
        |cmd, port| {
            cmd.env("RUNNER_LISTEN", format!("127.0.0.1:{port}"))
                .env("RUNNER_SECRET", "bench-secret")
                .env("RUNNER_ENGINE_ENDPOINTS", engine.url())
                .env("RUNNER_DATA_DIR", data.path())
                .env("RUNNER_IDLE_SLEEP_MS", "600000");
        },
    )
    .await?;
    let official = spawn_runtime(
        "official rivetkit 2.3.19",
        "official",
        &engine,
        Command::new(&official_bin),
        |cmd, port| {
            cmd.env("OFFICIAL_LISTEN", format!("127.0.0.1:{port}"))
                .env("OFFICIAL_ENGINE_ENDPOINT", engine.url());
        },
    )
    .await?;
    let runtimes = [ours, official];
    let gw = engine.gateway();

    println!("warming up…");
    for runtime in &runtimes {
        for _ in 0..50 {
            gw.action(&runtime.actor_id, "increment", json!([1]))
                .await?;
        }
    }

    let mut start_to_running = [Samples::default(), Samples::default()];
    let mut wake = [Samples::default(), Samples::default()];
    for round in 0..rounds {
        for (i, runtime) in runtimes.iter().enumerate() {
            let (running_ms, wake_ms) = measure_wake(&engine, &gw, runtime)
                .await
                .with_context(|| format!("wake round {round} of {}", runtime.name))?;
            if let Some(ms) = running_ms {
                start_to_running[i].push(ms);
            }
            wake[i].push(wake_ms);
        }
    }

    let mut increment = [Samples::default(), Samples::default()];
    let mut count = [Samples::default(), Samples::default()];
    for _ in 0..300 {
        for (i, runtime) in runtimes.iter().enumerate() {
            increment[i].push(timed(gw.action(&runtime.actor_id, "increment", json!([1]))).await?);
            count[i].push(timed(gw.action(&runtime.actor_id, "count", json!([]))).await?);
        }
    }

    let mut throughput = [0.0, 0.0];
    for _ in 0..2 {
        for (i, runtime) in runtimes.iter().enumerate() {
            throughput[i] +=
                throughput_ops(&gw, &runtime.actor_id, 16, Duration::from_secs(4)).await? / 2.0;
        }
    }

    report(
        &runtimes,
        &start_to_running,
        &wake,
        &increment,
        &count,
        throughput,
        rounds,
    );
    Ok(())
}

fn build_binaries(root: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    println!("building release binaries (this runner, official rivetkit)…");
    let status = std::process::Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "-p",
            "runner-container",
            "--bin",
            "rivet-runner",
        ])
        .current_dir(root)
        .status()?;
    if !status.success() {
        bail!("building rivet-runner failed");
    }
    let official_manifest = root.join("tests/official-rivetkit/Cargo.toml");
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--release", "--manifest-path"])
        .arg(&official_manifest)
        .status()?;
    if !status.success() {
        bail!("building the official rivetkit counter failed");
    }
    Ok((
        root.join("target/release/rivet-runner"),
        root.join("tests/official-rivetkit/target/release/official-rivetkit-counter"),
    ))
}

async fn spawn_runtime(
    name: &'static str,
    pool: &'static str,
    engine: &Engine,
    mut command: Command,
    configure: impl FnOnce(&mut Command, u16),
) -> anyhow::Result<Runtime> {
    let port = free_port()?;
    configure(&mut command, port);
    let process = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("spawn {name}"))?;
    let upstream: std::net::SocketAddr = format!("127.0.0.1:{port}").parse()?;
    wait_for(name, Duration::from_secs(20), || async move {
        tokio::net::TcpStream::connect(upstream).await.ok()
    })
    .await?;
    let spy = StartSpy::start(upstream).await?;
    engine
        .put_runner_config(&RunnerConfigSpec {
            pool: pool.into(),
            url: format!("http://{}/api/rivet", spy.addr),
            headers: vec![("x-runner-secret".into(), "bench-secret".into())],
            request_lifespan: 3600,
            drain_grace_period: 30,
        })
        .await?;
    let actor_id = engine
        .create_actor_in(pool, "counter", &format!("bench-{pool}"), None)
        .await?;
    Ok(Runtime {
        name,
        pool,
        actor_id,
        spy,
        _process: process,
    })
}

/// Puts the actor to sleep, then times a call that wakes it. Also returns `/start` (seen by the
/// spy) → Running (the engine's `connectable_ts`), in ms.
async fn measure_wake(
    engine: &Engine,
    gw: &Gateway,
    runtime: &Runtime,
) -> anyhow::Result<(Option<f64>, f64)> {
    engine.sleep_actor(&runtime.actor_id).await?;
    wait_for("sleep", Duration::from_secs(30), || async {
        let actor = engine.actor(&runtime.actor_id).await.ok()?;
        (actor["sleep_ts"].as_i64().is_some() && actor["connectable_ts"].is_null()).then_some(())
    })
    .await?;
    let wake_ms = timed(gw.action(&runtime.actor_id, "count", json!([]))).await?;
    let actor = engine.actor(&runtime.actor_id).await?;
    let running = actor["connectable_ts"]
        .as_i64()
        .map(|ts| (ts - runtime.spy.last_start_ms()) as f64);
    Ok((running, wake_ms))
}

async fn timed<T>(call: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<f64> {
    let started = Instant::now();
    call.await?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

async fn throughput_ops(
    gw: &Gateway,
    actor_id: &str,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let deadline = Instant::now() + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let gw = gw.clone();
        let actor_id = actor_id.to_owned();
        tasks.spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline {
                gw.action(&actor_id, "increment", json!([1])).await?;
                done += 1;
            }
            anyhow::Ok(done)
        });
    }
    let mut total = 0;
    while let Some(result) = tasks.join_next().await {
        total += result??;
    }
    Ok(total as f64 / duration.as_secs_f64())
}

fn report(
    runtimes: &[Runtime; 2],
    start_to_running: &[Samples; 2],
    wake: &[Samples; 2],
    increment: &[Samples; 2],
    count: &[Samples; 2],
    throughput: [f64; 2],
    rounds: usize,
) {
    println!(
        "\n| metric | {} | {} | official ÷ ours |",
        runtimes[0].name, runtimes[1].name
    );
    println!("|---|---|---|---|");
    let row = |label: &str, s: &[Samples; 2], p: f64| {
        let (a, b) = (s[0].percentile(p), s[1].percentile(p));
        println!("| {label} | {a:.1} ms | {b:.1} ms | {:.2}× |", b / a);
    };
    row(
        &format!("/start → Running, median of {rounds}"),
        start_to_running,
        0.5,
    );
    row("/start → Running, p90", start_to_running, 0.9);
    row(
        &format!("wake (sleeping actor → action reply), median of {rounds}"),
        wake,
        0.5,
    );
    row("wake, p90", wake, 0.9);
    row(
        "action `increment` (state + SQLite row + event), median of 300",
        increment,
        0.5,
    );
    row("action `increment`, p99", increment, 0.99);
    row("action `count` (read), median of 300", count, 0.5);
    row("action `count`, p99", count, 0.99);
    println!(
        "| `increment` throughput, 16 concurrent clients, one actor | {:.0} ops/s | {:.0} ops/s | {:.2}× (ours ÷ official) |",
        throughput[0],
        throughput[1],
        throughput[0] / throughput[1]
    );
    println!("\npools: {} / {}", runtimes[0].pool, runtimes[1].pool);
}

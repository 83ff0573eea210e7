//! Lambda adapter benchmark: `bootstrap` start → ready, the first `/start` → Running on a cold
//! environment (with a restore from S3 on the wake), against the container adapter in the same
//! run; and the binary and zip sizes.
//!
//! Run with `cargo bench -p runner-tests --bench lambda` (release `bootstrap`, built first).
#![allow(clippy::print_stdout, reason = "a benchmark reports to the terminal")]

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use runner_tests::lambda_emulator::LambdaEmulator;
use runner_tests::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};
use runner_tests::{Engine, RunnerConfigSpec, TestRunner};
use serde_json::json;

const SECRET: &str = "bench-secret-0123456789abcdef0123456789ab";
const ROUNDS: usize = 10;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Creates `rounds` actors one after the other on `pool`; for each, the time from creation to
/// its first reply (allocation, `/start`, restore, `Running`, the action), and the time to wake
/// it again after `before_wake` ran while it slept.
async fn cold_and_wake(
    engine: &Engine,
    pool: &str,
    rounds: usize,
    before_wake: impl Fn(),
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let gw = engine.gateway();
    let (mut cold, mut wake) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let started = Instant::now();
        let id = engine
            .create_actor_in(
                pool,
                "counter",
                &format!("{pool}-{}-{round}", unique()),
                None,
            )
            .await?;
        gw.action(&id, "increment", json!([1])).await?;
        cold.push(ms(started.elapsed()));
        engine.sleep_actor(&id).await?;
        runner_tests::wait_for("asleep", Duration::from_secs(20), || async {
            engine.actor(&id).await.ok()?["sleep_ts"].as_i64()
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        before_wake();
        let started = Instant::now();
        gw.action(&id, "count", json!([])).await?;
        wake.push(ms(started.elapsed()));
    }
    Ok((cold, wake))
}

/// A key part no two calls share.
fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn zip_size(binary: &Path) -> anyhow::Result<u64> {
    let dir = tempfile::tempdir()?;
    let zip = dir.path().join("lambda.zip");
    let status = std::process::Command::new("python3")
        .args(["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED); z.write(sys.argv[2], 'bootstrap'); z.close()"])
        .arg(&zip)
        .arg(binary)
        .status()?;
    anyhow::ensure!(status.success(), "zip failed");
    Ok(std::fs::metadata(zip)?.len())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("root")?;
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "runner-lambda"])
        .current_dir(root)
        .status()?;
    anyhow::ensure!(
        status.success(),
        "cargo build --release -p runner-lambda failed"
    );
    let bootstrap = root.join("target/release/bootstrap");

    let engine = Engine::start().await?;
    let s3 = S3Server::start("lambda-bench").await?;
    let s3_env = [
        ("RUNNER_OBJECT_STORE", "s3"),
        ("RUNNER_S3_BUCKET", s3.bucket.as_str()),
        ("RUNNER_S3_ENDPOINT", s3.endpoint.as_str()),
        ("RUNNER_S3_ACCESS_KEY_ID", ACCESS_KEY),
        ("RUNNER_S3_SECRET_ACCESS_KEY", SECRET_KEY),
        ("RUNNER_IDLE_SLEEP_MS", "600000"),
    ];
    let mut env: Vec<(String, String)> = s3_env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    env.push(("RUNNER_SECRET".into(), SECRET.into()));
    env.push(("RUNNER_ENGINE_ENDPOINTS".into(), engine.url()));
    let lambda = LambdaEmulator::start(bootstrap.clone(), env, Duration::from_secs(300)).await?;
    engine
        .put_runner_config(&RunnerConfigSpec {
            pool: "lambda".into(),
            url: format!("{}/api/rivet", lambda.url),
            headers: vec![("x-runner-secret".into(), SECRET.into())],
            request_lifespan: 240,
            drain_grace_period: 10,
        })
        .await?;
    let container = TestRunner::start(&engine.url(), &s3_env).await?;
    let mut spec = container.runner_config(240, 10);
    spec.pool = "container".into();
    engine.put_runner_config(&spec).await?;

    // Lambda: every environment destroyed before each creation and wake, so each one is cold
    // and each wake restores from S3 onto an empty disk.
    let (mut lambda_cold, mut lambda_wake, mut container_cold, mut container_wake) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        lambda.destroy_environments();
        let (c, w) = cold_and_wake(&engine, "lambda", 1, || lambda.destroy_environments()).await?;
        lambda_cold.extend(c);
        lambda_wake.extend(w);
        let (c, w) = cold_and_wake(&engine, "container", 1, || {}).await?;
        container_cold.extend(c);
        container_wake.extend(w);
    }
    let ready: Vec<f64> = lambda.readiness().into_iter().map(ms).collect();
    let binary = std::fs::metadata(&bootstrap)?.len();
    println!("## Lambda adapter ({ROUNDS} rounds, interleaved with the container adapter)\n");
    println!(
        "| metric | Lambda (emulated, new environment each time) | container (warm process) |"
    );
    println!("|---|---|---|");
    println!(
        "| `bootstrap` start → ready (first `/next`), median of {} | {:.1} ms | – |",
        ready.len(),
        median(ready)
    );
    println!(
        "| create → first reply | {:.1} ms | {:.1} ms |",
        median(lambda_cold),
        median(container_cold)
    );
    println!(
        "| wake → first reply (Lambda: restore from S3 on an empty disk) | {:.1} ms | {:.1} ms |",
        median(lambda_wake),
        median(container_wake)
    );
    println!(
        "| `bootstrap` binary / zip | {:.1} MB / {:.1} MB | – |",
        binary as f64 / 1e6,
        zip_size(&bootstrap)? as f64 / 1e6
    );
    Ok(())
}

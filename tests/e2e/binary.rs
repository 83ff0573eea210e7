//! The `rivet-runner` binary itself: configuration from the environment and SIGTERM handling.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use runner_tests::{Engine, RunnerConfigSpec, free_port, wait_for};
use serde_json::json;
use tokio::process::{Child, Command};

/// `target/{profile}/rivet-runner`, built by `cargo test --workspace` with every workspace binary.
fn runner_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("target dir")?;
    let binary = profile_dir.join("rivet-runner");
    anyhow::ensure!(
        binary.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (or build `-p runner-container`)",
        binary.display()
    );
    Ok(binary)
}

async fn spawn(engine: &Engine, port: u16, data_dir: &std::path::Path) -> anyhow::Result<Child> {
    let child = Command::new(runner_binary()?)
        .env("RUNNER_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUNNER_SECRET", "bin-secret")
        .env("RUNNER_ENGINE_ENDPOINTS", engine.url())
        .env("RUNNER_DATA_DIR", data_dir)
        .env("RUNNER_IDLE_SLEEP_MS", "120000")
        .env("RUNNER_SHUTDOWN_GRACE_MS", "20000")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    wait_for(
        "rivet-runner to listen",
        Duration::from_secs(10),
        || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
        },
    )
    .await?;
    Ok(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_a_new_process_keeps_the_state() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let engine = Engine::start().await?;
    let data = tempfile::tempdir()?;
    let port = free_port()?;
    let mut runner = spawn(&engine, port, data.path()).await?;
    engine
        .put_runner_config(&RunnerConfigSpec {
            pool: "default".into(),
            url: format!("http://127.0.0.1:{port}/api/rivet"),
            headers: vec![("x-runner-secret".into(), "bin-secret".into())],
            request_lifespan: 300,
            drain_grace_period: 10,
        })
        .await?;
    let gw = engine.gateway();
    let id = engine.create_actor("counter", "sigterm", None).await?;
    assert_eq!(gw.action(&id, "increment", json!([3])).await?, json!(3));

    let pid = runner.id().context("runner pid")?;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(25), runner.wait())
        .await
        .context("rivet-runner did not exit within the shutdown grace")??;
    assert!(exit.success(), "rivet-runner exited with {exit}");

    // A new process on the same address and data picks the actor up with its state.
    let _runner = spawn(&engine, port, data.path()).await?;
    let count = wait_for(
        "the actor on the new process",
        Duration::from_secs(60),
        || {
            let gw = gw.clone();
            let id = id.clone();
            async move { gw.action(&id, "count", json!([])).await.ok() }
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}; engine log:\n{}", engine.log_tail()))?;
    assert_eq!(count, json!(3));
    Ok(())
}

#[tokio::test]
async fn bad_configuration_is_a_startup_error_naming_the_variable() -> anyhow::Result<()> {
    let output = Command::new(runner_binary()?)
        .env("RUNNER_LISTEN", "0.0.0.0:0")
        .env_remove("RUNNER_SECRET")
        .output()
        .await?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("RUNNER_SECRET"), "{stderr}");
    Ok(())
}

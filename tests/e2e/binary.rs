//! The `rivet-runner` binary itself: configuration from the environment, SIGTERM handling, and
//! SIGKILL at random moments (the kill test).

use std::time::Duration;

use anyhow::Context as _;
use runner_tests::process::{process_runner_config, runner_binary, spawn_binary, spawn_runner};
use runner_tests::{Engine, free_port, wait_for};
use serde_json::json;
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_a_new_process_keeps_the_state() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let engine = Engine::start().await?;
    let root = tempfile::tempdir()?;
    let (data, objects) = (root.path().join("data"), root.path().join("objects"));
    let port = free_port()?;
    let mut runner = spawn_runner(&engine, port, &data, &objects, &[]).await?;
    engine
        .put_runner_config(&process_runner_config(port, 300, 10))
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

    // A new process on the same address, with an empty disk, picks the actor up from the store.
    let fresh = root.path().join("data-2");
    let _runner = spawn_runner(&engine, port, &fresh, &objects, &[]).await?;
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

/// A crate of one's own (`examples/own-runner`) hosts its own actor, next to the counter, with
/// a ten-line `main` that calls `runner_container::run`: no edit to this project needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crate_of_its_own_hosts_its_actors_with_run() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let engine = Engine::start().await?;
    let root = tempfile::tempdir()?;
    let (data, objects) = (root.path().join("data"), root.path().join("objects"));
    let port = free_port()?;
    let _runner = spawn_binary("example-own-runner", &engine, port, &data, &objects, &[]).await?;
    engine
        .put_runner_config(&process_runner_config(port, 300, 10))
        .await?;
    let gw = engine.gateway();
    let greeter = engine.create_actor("greeter", "own", None).await?;
    assert_eq!(
        gw.action(&greeter, "greet", json!(["ada"])).await?,
        json!("hello ada, you are number 1")
    );
    assert_eq!(
        gw.action(&greeter, "greet", json!(["lin"])).await?,
        json!("hello lin, you are number 2")
    );
    let counter = engine.create_actor("counter", "own", None).await?;
    assert_eq!(
        gw.action(&counter, "increment", json!([4])).await?,
        json!(4)
    );
    Ok(())
}

/// 20 SIGKILLs at random moments while a client increments; every acknowledged increment
/// survives and the persisted database stays intact. `tests/kill-test` runs more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_no_acknowledged_write() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as u64;
    let report = runner_tests::kill::kill_trials(20, seed, &[]).await?;
    eprintln!("kill test (seed {seed}): {}", report.summary());
    assert!(
        report.acknowledged > 20,
        "the writer made progress: {report:?}"
    );
    assert!(report.lost.is_empty(), "seed {seed}: {:?}", report.lost);
    Ok(())
}

/// The same harness against `interval` mode with a period longer than the test: it must report
/// lost writes, which is what that mode documents (and shows the harness can see a loss).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_in_interval_mode_loses_the_unshipped_writes() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let env = [
        ("RUNNER_DURABILITY", "interval"),
        ("RUNNER_SHIP_INTERVAL_MS", "600000"),
    ];
    let report = runner_tests::kill::kill_trials(2, 7, &env).await?;
    assert_eq!(report.lost.len(), 2, "{report:?}");
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

/// `rivet-runner runner-config put` registers a runner with the engine (what Terraform's
/// runner-config module runs), and refuses inconsistent lifespans before calling it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_config_command_registers_the_runner() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let engine = Engine::start().await?;
    let root = tempfile::tempdir()?;
    let port = free_port()?;
    let _runner = spawn_runner(
        &engine,
        port,
        &root.path().join("data"),
        &root.path().join("objects"),
        &[],
    )
    .await?;
    let url = format!("http://127.0.0.1:{port}/api/rivet");
    let put = |lifespan: &str| {
        Command::new(runner_binary().expect("binary"))
            .args([
                "runner-config",
                "put",
                "--engine",
                &engine.url(),
                "--url",
                &url,
            ])
            .args(["--request-lifespan", lifespan, "--drain-grace-period", "10"])
            .args(["--platform-timeout", "300", "--deadline-margin", "10"])
            .env("RUNNER_SECRET", runner_tests::process::PROCESS_SECRET)
            .output()
    };
    let refused = put("300").await?;
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("platform timeout"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // The engine creates its `default` namespace shortly after it answers.
    let registered = wait_for("the runner config", Duration::from_secs(30), || async {
        put("120").await.ok().filter(|o| o.status.success())
    })
    .await?;
    assert!(registered.status.success());
    let gw = engine.gateway();
    let id = engine.create_actor("counter", "registered", None).await?;
    let count = wait_for("the actor", Duration::from_secs(30), || {
        let (gw, id) = (gw.clone(), id.clone());
        async move { gw.action(&id, "increment", json!([2])).await.ok() }
    })
    .await?;
    assert_eq!(count, json!(2));
    Ok(())
}

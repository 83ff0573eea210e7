//! The Lambda adapter end to end: real engine → emulated Function URL → Runtime API →
//! `bootstrap` → envoy → counter actor, with its data in SeaweedFS.

use std::time::Duration;

use runner_tests::lambda_emulator::LambdaEmulator;
use runner_tests::process::workspace_binary;
use runner_tests::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};
use runner_tests::{Engine, RunnerConfigSpec, wait_for};
use serde_json::json;

const SECRET: &str = "lambda-secret-0123456789abcdef0123456789";

/// A function's environment: the engine, the secret and the S3 bucket, then `extra`.
fn s3_env(engine: &Engine, s3: &S3Server, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let engine_url = engine.url();
    let base = [
        ("RUNNER_SECRET", SECRET),
        ("RUNNER_ENGINE_ENDPOINTS", engine_url.as_str()),
        ("RUNNER_OBJECT_STORE", "s3"),
        ("RUNNER_S3_BUCKET", s3.bucket.as_str()),
        ("RUNNER_S3_ENDPOINT", s3.endpoint.as_str()),
        ("RUNNER_S3_ACCESS_KEY_ID", ACCESS_KEY),
        ("RUNNER_S3_SECRET_ACCESS_KEY", SECRET_KEY),
    ];
    base.iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_lives_on_lambda_across_environments_and_deadlines() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let engine = Engine::start().await?;
    let s3 = S3Server::start("lambda-actors").await?;
    let env = s3_env(
        &engine,
        &s3,
        &[
            ("RUNNER_IDLE_SLEEP_MS", "120000"),
            ("RUNNER_DEADLINE_MARGIN_MS", "4000"),
        ],
    );
    // A function timeout (20 s) shorter than the engine's lifespan (120 s): the invocation
    // deadline, not the engine, ends each /start.
    let lambda =
        LambdaEmulator::start(workspace_binary("bootstrap")?, env, Duration::from_secs(20)).await?;
    let url = format!("{}/api/rivet", lambda.url);
    let headers = vec![("x-runner-secret".to_owned(), SECRET.to_owned())];
    let health = engine.serverless_health_check(&url, &headers).await?;
    assert!(health.get("success").is_some(), "{health}");

    engine
        .put_runner_config(&RunnerConfigSpec {
            pool: "default".into(),
            url,
            headers,
            request_lifespan: 120,
            drain_grace_period: 10,
        })
        .await?;
    let gw = engine.gateway();
    let id = engine.create_actor("counter", "on-lambda", None).await?;
    assert_eq!(gw.action(&id, "increment", json!([5])).await?, json!(5));

    // Sleep, lose every execution environment, wake on a new one with an empty disk.
    engine.sleep_actor(&id).await?;
    crate::wait_asleep(&engine, &id, Duration::from_secs(20)).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cold_before = lambda.cold_starts();
    lambda.destroy_environments();
    let count = wait_for(
        "the actor on a new environment",
        Duration::from_secs(60),
        || {
            let (gw, id) = (gw.clone(), id.clone());
            async move { gw.action(&id, "count", json!([])).await.ok() }
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}; engine log:\n{}", engine.log_tail()))?;
    assert_eq!(count, json!(5));
    assert!(lambda.cold_starts() > cold_before);

    // Past the invocation deadline the actor was drained, persisted and re-allocated.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let after = wait_for(
        "the actor after the deadline",
        Duration::from_secs(60),
        || {
            let (gw, id) = (gw.clone(), id.clone());
            async move { gw.action(&id, "increment", json!([1])).await.ok() }
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}; engine log:\n{}", engine.log_tail()))?;
    assert_eq!(after, json!(6));
    Ok(())
}

/// Lambda freezes an environment between invocations, longer than the engine's 15 s envoy ping
/// timeout here (20 s; `FREEZE_S` for another length). Against engine 2.3.19 both outcomes were
/// seen: the WebSocket survives and the wake arrives over it, or the engine has timed it out and
/// the envoy client reconnects on thaw. Either way the wake must be answered with the state
/// intact, which is what this asserts; which outcome it was is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_environment_wakes_its_actor_with_its_state() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let engine = Engine::start().await?;
    let s3 = S3Server::start("lambda-freeze").await?;
    let env = s3_env(
        &engine,
        &s3,
        &[
            ("RUNNER_IDLE_SLEEP_MS", "120000"),
            ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
        ],
    );
    let lambda = LambdaEmulator::start(
        workspace_binary("bootstrap")?,
        env,
        Duration::from_secs(120),
    )
    .await?;
    engine
        .put_runner_config(&RunnerConfigSpec {
            pool: "default".into(),
            url: format!("{}/api/rivet", lambda.url),
            headers: vec![("x-runner-secret".to_owned(), SECRET.to_owned())],
            request_lifespan: 100,
            drain_grace_period: 10,
        })
        .await?;
    let gw = engine.gateway();
    let id = engine.create_actor("counter", "frozen", None).await?;
    assert_eq!(gw.action(&id, "increment", json!([2])).await?, json!(2));
    engine.sleep_actor(&id).await?;
    crate::wait_asleep(&engine, &id, Duration::from_secs(20)).await?;

    // The invocation ended with the actor's sleep: the environment is frozen from here on.
    let freeze: u64 = std::env::var("FREEZE_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    tokio::time::sleep(Duration::from_secs(freeze)).await;
    let woke = wait_for("the wake after the freeze", Duration::from_secs(60), || {
        let (gw, id) = (gw.clone(), id.clone());
        async move { gw.action(&id, "increment", json!([1])).await.ok() }
    })
    .await;
    let logs = lambda.logs();
    assert_eq!(woke.ok(), Some(json!(3)), "bootstrap output:\n{logs}");
    eprintln!(
        "after a {freeze} s freeze: {} environment(s) started, {} envoy connection(s) opened, {} closed by the engine",
        lambda.cold_starts(),
        logs.matches("websocket connected").count(),
        logs.matches("websocket closed").count(),
    );
    Ok(())
}

/// A configuration the runner cannot start with reaches Lambda as `Runtime.InitError` with the
/// reason, and the invocation that started the environment gets it, instead of a bare exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_configuration_is_reported_as_an_init_error() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let env = vec![("RUNNER_OBJECT_STORE".to_owned(), "none".to_owned())];
    let lambda =
        LambdaEmulator::start(workspace_binary("bootstrap")?, env, Duration::from_secs(20)).await?;
    let response = reqwest::get(format!("{}/api/rivet/metadata", lambda.url)).await?;
    assert_eq!(response.status(), 502);
    let body: serde_json::Value = response.json().await?;
    assert_eq!(body["errorType"], "Runtime.InitError", "{body}");
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("RUNNER_SECRET is required")),
        "{body}"
    );
    let reports = lambda.init_errors();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0]["errorTypeHeader"], "Runtime.InitError");
    Ok(())
}

/// Code published per namespace runs on Lambda too: `rivet-runner deploy` puts the JavaScript
/// counter in the bucket, and `bootstrap` (built with its default `js` feature) loads it from
/// there when the engine starts the actor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_javascript_runs_on_lambda() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let engine = Engine::start().await?;
    let s3 = S3Server::start("lambda-bundles").await?;
    let env = s3_env(&engine, &s3, &[("RUNNER_BUNDLE_NAMESPACES", "default")]);
    let lambda = LambdaEmulator::start(
        workspace_binary("bootstrap")?,
        env.clone(),
        Duration::from_secs(60),
    )
    .await?;

    let code = tempfile::tempdir()?;
    let file = code.path().join("js-counter.js");
    std::fs::write(&file, include_str!("../../examples/js/counter.js"))?;
    let deployed = tokio::process::Command::new(workspace_binary("rivet-runner")?)
        .arg("deploy")
        .arg(&file)
        .args(["--engine", engine.url().as_str()])
        .args(["--url", &format!("{}/api/rivet", lambda.url)])
        .args(["--request-lifespan", "50", "--drain-grace-period", "5"])
        .args(["--platform-timeout", "60", "--deadline-margin", "5"])
        .envs(env)
        .output()
        .await?;
    anyhow::ensure!(
        deployed.status.success(),
        "deploy: {}",
        String::from_utf8_lossy(&deployed.stderr)
    );

    let gw = engine.gateway();
    let id = engine.create_actor("js-counter", "on-lambda", None).await?;
    assert_eq!(gw.action(&id, "increment", json!([4])).await?, json!(4));
    assert_eq!(gw.action(&id, "version", json!([])).await?, json!(1));
    let history = gw.action(&id, "history", json!([])).await?;
    assert_eq!(history[0]["total"], json!(4), "{history}");
    Ok(())
}

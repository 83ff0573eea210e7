//! The Workers adapter end to end: the real engine → `wrangler dev` (workerd) → the Worker
//! (runner-core on wasm32) → its envoy over the Worker's outbound WebSocket → the counter actor.

use std::time::Duration;

use runner_tests::workers::WranglerDev;
use runner_tests::{Engine, RunnerConfigSpec};
use serde_json::json;

const SECRET: &str = "workers-secret-0123456789abcdef0123456789";

async fn serve(engine: &Engine, idle_sleep_ms: &str) -> anyhow::Result<WranglerDev> {
    let engine_url = engine.url();
    WranglerDev::start(&[
        ("RUNNER_SECRET", SECRET),
        ("RUNNER_ENGINE_ENDPOINTS", engine_url.as_str()),
        ("RUNNER_IDLE_SLEEP_MS", idle_sleep_ms),
        ("RUNNER_LOG", "info"),
    ])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counter_runs_on_workerd_through_the_engine() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let engine = Engine::start().await?;
    let dev = serve(&engine, "120000").await?;
    let url = format!("{}/api/rivet", dev.url);
    let headers = vec![("x-runner-secret".to_owned(), SECRET.to_owned())];
    let health = engine.serverless_health_check(&url, &headers).await?;
    assert!(
        health.get("success").is_some(),
        "{health}\n{}",
        dev.log_tail()
    );
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
    let id = engine.create_actor("counter", "on-workers", None).await?;
    let first = gw.action(&id, "increment", json!([5])).await;
    let first =
        first.map_err(|err| anyhow::anyhow!("{err:#}\n--- worker ---\n{}", dev.log_tail()))?;
    assert_eq!(first, json!(5));
    assert_eq!(gw.action(&id, "increment", json!([2])).await?, json!(7));
    assert_eq!(gw.action(&id, "count", json!([])).await?, json!(7));

    // An unknown action is the actor's error, and the actor keeps serving.
    let err = gw
        .action(&id, "no-such-action", json!([]))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("action"), "{err:#}");
    assert_eq!(gw.action(&id, "count", json!([])).await?, json!(7));

    // Sleep: the actor stops, the Worker's /start stream ends with `stopping`.
    engine.sleep_actor(&id).await?;
    crate::wait_asleep(&engine, &id, Duration::from_secs(20)).await?;

    // It was the Worker that hosted it: its own envoy, the actor, and the clean end, all in
    // the Worker's console.
    let log = runner_tests::wait_for(
        "the Worker to end the start stream",
        Duration::from_secs(10),
        || {
            let log = dev.log_tail();
            async move {
                log.contains("actor stopped; ending start stream")
                    .then_some(log)
            }
        },
    )
    .await
    .map_err(|err| anyhow::anyhow!("{err}\n{}", dev.log_tail()))?;
    for line in ["connecting envoy for this start", "actor started"] {
        assert!(
            log.contains(line),
            "missing `{line}` in the Worker's log:\n{log}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_refuses_a_start_without_the_secret() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let engine = Engine::start().await?;
    let dev = serve(&engine, "30000").await?;
    let http = reqwest::Client::new();
    let start = format!("{}/api/rivet/start", dev.url);
    let response = http
        .post(&start)
        .header("x-rivet-endpoint", engine.url())
        .header("x-rivet-namespace-name", "default")
        .header("x-rivet-pool-name", "default")
        .body(vec![6, 0, 1])
        .send()
        .await?;
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await?;
    assert_eq!(body["code"], "unauthorized", "{body}");

    let oversized = http
        .post(&start)
        .header("x-runner-secret", SECRET)
        .body(vec![0u8; 2 << 20])
        .send()
        .await?;
    assert_eq!(oversized.status(), 413);

    let metadata: serde_json::Value = http
        .get(format!("{}/api/rivet/metadata", dev.url))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(metadata["runtime"], "rivetkit");
    assert_eq!(metadata["actorNames"]["counter"], json!({"metadata": {}}));
    Ok(())
}

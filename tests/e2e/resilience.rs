//! The engine going away and coming back; the runner shutting down.

use std::time::Duration;

use serde_json::json;

use crate::setup;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_reconnects_after_engine_restart() -> anyhow::Result<()> {
    let mut s = setup(120_000, 300, 10).await?;
    let gw = s.engine.gateway();
    let id = s.engine.create_actor("counter", "restart", None).await?;
    assert_eq!(gw.action(&id, "increment", json!([3])).await?, json!(3));

    s.engine.restart().await?;
    let after = runner_tests::wait_for(
        "actor reachable after engine restart",
        Duration::from_secs(60),
        || {
            let gw = gw.clone();
            let id = id.clone();
            async move { gw.action(&id, "increment", json!([1])).await.ok() }
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}; engine log:\n{}", s.engine.log_tail()))?;
    assert_eq!(after, json!(4), "state must survive the engine restart");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_and_persists_actors() -> anyhow::Result<()> {
    let s = setup(120_000, 300, 10).await?;
    let gw = s.engine.gateway();
    let id = s.engine.create_actor("counter", "shutdown", None).await?;
    assert_eq!(gw.action(&id, "increment", json!([9])).await?, json!(9));
    assert_eq!(s.runner.runner.running_actors(), 1);

    s.runner.shutdown(Duration::from_secs(20)).await;
    assert_eq!(
        s.runner.runner.running_actors(),
        0,
        "shutdown must stop every actor"
    );

    // The object store holds the increment, and the local copy is marked as equal to it.
    let persisted = s.runner.persisted_db(&id).await?;
    let total: i64 = persisted
        .db
        .query_row("SELECT max(total) FROM increments", [], |row| row.get(0))?;
    assert_eq!(total, 9);
    let marker = s
        .runner
        .data_dir
        .join("default")
        .join(&id)
        .join(".persisted");
    assert!(
        marker.exists(),
        "a clean stop marks the local copy as persisted"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_a_silent_engine() -> anyhow::Result<()> {
    let mut s = setup(120_000, 300, 10).await?;
    let gw = s.engine.gateway();
    let id = s.engine.create_actor("counter", "health", None).await?;
    gw.action(&id, "count", json!([])).await?;
    let health = format!("{}/health", s.runner.url());
    assert_eq!(reqwest::get(&health).await?.status(), 200);

    s.engine.kill().await;
    runner_tests::wait_for(
        "/health to report the silent engine",
        Duration::from_secs(45),
        || {
            let health = health.clone();
            async move {
                let response = reqwest::get(&health).await.ok()?;
                (response.status() == 503).then_some(response)
            }
        },
    )
    .await?
    .json::<serde_json::Value>()
    .await
    .map(|body| assert_eq!(body["status"], "engine_ping_stale"))?;

    s.engine.restart().await?;
    runner_tests::wait_for("/health to recover", Duration::from_secs(45), || {
        let health = health.clone();
        async move { (reqwest::get(&health).await.ok()?.status() == 200).then_some(()) }
    })
    .await?;
    Ok(())
}

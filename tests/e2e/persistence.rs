//! Actor data in S3 between invocations: an actor moves to a runner with an empty disk and keeps
//! its state, because the first runner flushed it to the bucket when it stopped.

use std::time::Duration;

use runner_core::object_store::ObjectStore;
use runner_tests::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};
use runner_tests::{Engine, TestRunner, wait_for};
use serde_json::json;

async fn s3_runner(engine: &Engine, s3: &S3Server) -> anyhow::Result<TestRunner> {
    TestRunner::start(
        &engine.url(),
        &[
            ("RUNNER_IDLE_SLEEP_MS", "120000"),
            ("RUNNER_OBJECT_STORE", "s3"),
            ("RUNNER_S3_BUCKET", &s3.bucket),
            ("RUNNER_S3_ENDPOINT", &s3.endpoint),
            ("RUNNER_S3_ACCESS_KEY_ID", ACCESS_KEY),
            ("RUNNER_S3_SECRET_ACCESS_KEY", SECRET_KEY),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_moves_to_an_empty_runner_with_its_state() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let engine = Engine::start().await?;
    let s3 = S3Server::start("actors").await?;
    let first = s3_runner(&engine, &s3).await?;
    engine
        .put_runner_config(&first.runner_config(300, 10))
        .await?;
    let gw = engine.gateway();
    let id = engine.create_actor("counter", "mover", None).await?;
    gw.action(&id, "increment", json!([5])).await?;
    gw.action(&id, "increment", json!([2])).await?;

    // Point the pool at a second runner with an empty disk, then stop the first: the engine
    // re-allocates the actor there, and only the bucket connects the two.
    let second = s3_runner(&engine, &s3).await?;
    engine
        .put_runner_config(&second.runner_config(300, 10))
        .await?;
    first.shutdown(Duration::from_secs(20)).await;
    assert!(
        !second.data_dir.join("default").join(&id).exists(),
        "the second disk starts empty"
    );

    let history = wait_for(
        "the actor on the second runner",
        Duration::from_secs(60),
        || {
            let gw = gw.clone();
            let id = id.clone();
            async move { gw.action(&id, "history", json!([])).await.ok() }
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}; engine log:\n{}", engine.log_tail()))?;
    assert_eq!(history.as_array().map(Vec::len), Some(2), "{history}");
    assert_eq!(gw.action(&id, "count", json!([])).await?, json!(7));
    assert_eq!(second.runner.running_actors(), 1);

    let store = s3.store().await;
    let keys: Vec<String> = store
        .list(&format!("actors/default/{id}/"))
        .await?
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert!(
        keys.iter().any(|k| k.ends_with("manifest.json")),
        "{keys:?}"
    );
    assert_eq!(
        keys.iter().filter(|k| k.contains("/snapshots/")).count(),
        1,
        "superseded snapshots are deleted: {keys:?}"
    );

    // Destroy removes the actor's objects from the bucket.
    engine.delete_actor(&id).await?;
    wait_for(
        "the actor's objects to be deleted",
        Duration::from_secs(15),
        || {
            let store = store.clone();
            let prefix = format!("actors/default/{id}/");
            async move {
                store
                    .list(&prefix)
                    .await
                    .ok()
                    .filter(|objects| objects.is_empty())
                    .map(drop)
            }
        },
    )
    .await?;
    Ok(())
}

/// Strict mode through the real engine with a store that fails on demand: an action whose
/// upload fails answers `actor.not_durable`, other actors keep serving, throttling is absorbed
/// by retries, and the actor recovers when the store does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_fails_strict_writes_and_the_runner_keeps_serving() -> anyhow::Result<()> {
    use runner_core::object_store::{Fault, FaultPlan, FaultyStore, MemoryStore};
    runner_tests::init_tracing();
    let engine = Engine::start().await?;
    let store = std::sync::Arc::new(FaultyStore::new(
        std::sync::Arc::new(MemoryStore::new()),
        11,
    ));
    let runner = TestRunner::start_with(
        &engine.url(),
        &[("RUNNER_IDLE_SLEEP_MS", "120000")],
        Some(store.clone()),
    )
    .await?;
    engine
        .put_runner_config(&runner.runner_config(300, 10))
        .await?;
    let gw = engine.gateway();
    let a = engine.create_actor("counter", "faulty-a", None).await?;
    let b = engine.create_actor("counter", "faulty-b", None).await?;
    assert_eq!(gw.action(&a, "increment", json!([1])).await?, json!(1));
    assert_eq!(gw.action(&b, "increment", json!([10])).await?, json!(10));

    store.set_plan(FaultPlan {
        failure_rate: 0.3,
        fault: Some(Fault::SlowDown),
        ..FaultPlan::default()
    });
    for expected in 2..=11 {
        assert_eq!(
            gw.action(&a, "increment", json!([1])).await?,
            json!(expected)
        );
    }
    assert!(store.stats().injected_failures > 0, "{:?}", store.stats());

    store.set_plan(FaultPlan {
        outage: true,
        ..FaultPlan::default()
    });
    let failed = gw.action_reply(&a, "increment", json!([1])).await?;
    assert_eq!(failed.status, 503, "{:?}", failed.body);
    assert_eq!(
        failed.body["code"],
        json!("not_durable"),
        "{:?}",
        failed.body
    );
    // Reads of an actor with nothing pending are not held back by the outage.
    assert_eq!(gw.action(&b, "count", json!([])).await?, json!(10));

    store.set_plan(FaultPlan::default());
    // The failed write was applied locally and ships with the next one: its outcome was
    // unknown to the caller, as documented.
    assert_eq!(gw.action(&a, "increment", json!([1])).await?, json!(13));
    let persisted = runner_tests::runner::persisted_db(store.clone(), &a).await?;
    let total: i64 = persisted
        .db
        .query_row("SELECT max(total) FROM increments", [], |row| row.get(0))?;
    assert_eq!(total, 13);
    Ok(())
}

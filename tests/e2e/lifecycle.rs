//! Create → action → idle sleep → wake → lifespan drain → alarm → destroy.

use std::time::Duration;

use serde_json::json;

use crate::{setup, wait_asleep, wait_runner_idle};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_health_check_accepts_metadata() -> anyhow::Result<()> {
    let s = setup(30_000, 300, 10).await?;
    let headers = vec![("x-runner-secret".to_owned(), "test-secret".to_owned())];
    let result = s
        .engine
        .serverless_health_check(&s.runner.url(), &headers)
        .await?;
    assert!(
        result.get("success").is_some(),
        "health check failed: {result}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_and_sqlite_survive_idle_sleep_and_wake() -> anyhow::Result<()> {
    let s = setup(1_500, 300, 10).await?;
    let gw = s.engine.gateway();
    let id = s.engine.create_actor("counter", "sleepy", None).await?;
    assert_eq!(gw.action(&id, "increment", json!([5])).await?, json!(5));
    let reply = gw.action_reply(&id, "increment", json!([2])).await?;
    assert_eq!(
        (reply.status, reply.body.clone(), reply.generation),
        (200, json!(7), Some(1))
    );
    let (status, text) = gw.raw_get(&id, "/hello?x=1").await?;
    assert_eq!((status, text.as_str()), (200, "count=7 path=/hello?x=1\n"));

    wait_asleep(&s.engine, &id, Duration::from_secs(15)).await?;
    wait_runner_idle(&s.runner)
        .await
        .map_err(|err| anyhow::anyhow!("the actor should stop on sleep: {err}"))?;

    let woken = gw.action_reply(&id, "count", json!([])).await?;
    assert_eq!(woken.body, json!(7));
    assert_eq!(woken.generation, Some(2), "wake is a new generation");
    let history = gw.action(&id, "history", json!([])).await?;
    assert_eq!(
        history,
        json!([{"amount": 5, "total": 5, "generation": 1}, {"amount": 2, "total": 7, "generation": 1}])
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifespan_drain_reallocates_with_state_intact() -> anyhow::Result<()> {
    // Lifespan 10 s, grace 3 s: the engine sends GOING_AWAY at ~7 s and re-allocates.
    let s = setup(120_000, 10, 3).await?;
    let gw = s.engine.gateway();
    let id = s.engine.create_actor("counter", "drained", None).await?;
    let first = gw.action_reply(&id, "increment", json!([1])).await?;
    assert_eq!(first.generation, Some(1));

    let reallocated =
        runner_tests::wait_for("re-allocation after drain", Duration::from_secs(30), || {
            let gw = gw.clone();
            let id = id.clone();
            async move {
                let reply = gw.action_reply(&id, "count", json!([])).await.ok()?;
                (reply.generation > Some(1)).then_some(reply)
            }
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}; engine log:\n{}", s.engine.log_tail()))?;
    assert_eq!(reallocated.body, json!(1), "state must survive the drain");
    assert_eq!(gw.action(&id, "increment", json!([1])).await?, json!(2));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_wakes_a_sleeping_actor() -> anyhow::Result<()> {
    let s = setup(60_000, 300, 10).await?;
    let gw = s.engine.gateway();
    let id = s.engine.create_actor("counter", "alarm", None).await?;
    gw.action(&id, "incrementLater", json!([3, 6000])).await?;
    gw.action(&id, "goToSleep", json!([])).await?;
    wait_asleep(&s.engine, &id, Duration::from_secs(10)).await?;
    wait_runner_idle(&s.runner).await?;

    // Nobody calls the actor: only the engine's alarm can start it again.
    runner_tests::wait_for(
        "alarm to wake the actor",
        Duration::from_secs(15),
        || async { (s.runner.runner.running_actors() == 1).then_some(()) },
    )
    .await?;
    let history = runner_tests::wait_for("scheduled increment", Duration::from_secs(5), || {
        let gw = gw.clone();
        let id = id.clone();
        async move {
            let history = gw.action(&id, "history", json!([])).await.ok()?;
            (history.as_array()?.len() == 1).then_some(history)
        }
    })
    .await?;
    assert_eq!(history[0]["amount"], 3);
    assert_eq!(history[0]["generation"], 2, "the alarm's generation ran it");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_input_reaches_create_state() -> anyhow::Result<()> {
    let s = setup(60_000, 300, 10).await?;
    let mut input = Vec::new();
    ciborium::into_writer(&json!({"start": 40}), &mut input)?;
    let id = s
        .engine
        .create_actor("counter", "with-input", Some(&input))
        .await?;
    assert_eq!(
        s.engine
            .gateway()
            .action(&id, "increment", json!([2]))
            .await?,
        json!(42)
    );

    // Input that does not decode fails the start with a clear error instead of guessing.
    let bad = s
        .engine
        .create_actor("counter", "bad-input", Some(b"\xff\xfe"))
        .await?;
    let reply = s
        .engine
        .gateway()
        .action_reply(&bad, "count", json!([]))
        .await?;
    assert_ne!(reply.status, 200, "{}", reply.body);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_removes_the_actor_and_its_data() -> anyhow::Result<()> {
    let s = setup(60_000, 300, 10).await?;
    let gw = s.engine.gateway();
    let id = s.engine.create_actor("counter", "doomed", None).await?;
    gw.action(&id, "increment", json!([1])).await?;
    let dir = s.runner.data_dir.join("default").join(&id);
    assert!(
        dir.join("actor.db").exists(),
        "actor data at {}",
        dir.display()
    );

    s.engine.delete_actor(&id).await?;
    runner_tests::wait_for("actor data removed", Duration::from_secs(10), || async {
        (!dir.exists()).then_some(())
    })
    .await?;
    assert_eq!(s.runner.runner.running_actors(), 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_speak_json_cbor_and_bare() -> anyhow::Result<()> {
    let s = setup(60_000, 300, 10).await?;
    let gw = s.engine.gateway();
    let id = s.engine.create_actor("counter", "encodings", None).await?;
    assert_eq!(
        gw.action_encoded(&id, "increment", json!([2]), "cbor")
            .await?,
        json!(2)
    );
    assert_eq!(
        gw.action_encoded(&id, "increment", json!([3]), "bare")
            .await?,
        json!(5)
    );
    assert_eq!(gw.action(&id, "count", json!([])).await?, json!(5));

    let missing = gw.action_reply(&id, "nope", json!([])).await?;
    assert_eq!(missing.status, 404);
    assert_eq!(
        (
            missing.body["group"].as_str(),
            missing.body["code"].as_str()
        ),
        (Some("actor"), Some("action_not_found"))
    );
    let bad_args = gw.action_reply(&id, "increment", json!(["x"])).await?;
    assert_eq!(bad_args.status, 400);
    assert_eq!(bad_args.body["code"], "invalid_request");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_deadline_drains_before_the_engine_would() -> anyhow::Result<()> {
    // The engine would drain at 290 s; the platform ends requests after 7 s. The core must
    // put the actor to sleep (persisting it) at 7 − 3 = 4 s, and the next call wakes it.
    runner_tests::init_tracing();
    let engine = runner_tests::Engine::start().await?;
    let runner = runner_tests::TestRunner::start(
        &engine.url(),
        &[
            ("RUNNER_REQUEST_TIMEOUT_MS", "7000"),
            ("RUNNER_DEADLINE_MARGIN_MS", "3000"),
        ],
    )
    .await?;
    engine
        .put_runner_config(&runner.runner_config(300, 10))
        .await?;
    let gw = engine.gateway();
    let id = engine.create_actor("counter", "deadline", None).await?;
    assert_eq!(gw.action(&id, "increment", json!([6])).await?, json!(6));

    wait_asleep(&engine, &id, Duration::from_secs(10)).await?;
    crate::wait_runner_idle(&runner).await?;
    let woken = gw.action_reply(&id, "count", json!([])).await?;
    assert_eq!((woken.body, woken.generation), (json!(6), Some(2)));
    Ok(())
}

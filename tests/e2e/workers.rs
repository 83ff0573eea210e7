//! The Workers adapter end to end: the real engine → `wrangler dev` (workerd) → the Worker
//! (runner-core on wasm32) → its envoy over the Worker's outbound WebSocket → the counter actor,
//! whose SQLite database persists to a real S3-compatible server (SeaweedFS) through the
//! Worker's `fetch`.

use std::sync::Arc;
use std::time::Duration;

use runner_core::persist::Persistence;
use runner_core::storage::ActorKey;
use runner_tests::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};
use runner_tests::workers::WranglerDev;
use runner_tests::{Engine, RunnerConfigSpec};
use serde_json::json;

const SECRET: &str = "workers-secret-0123456789abcdef0123456789";

/// The Worker's bindings: the engine, and the bucket (`None`: `RUNNER_OBJECT_STORE=none`).
fn vars(engine: &Engine, s3: Option<&S3Server>, idle_sleep_ms: &str) -> Vec<(String, String)> {
    let mut vars = vec![
        ("RUNNER_SECRET", SECRET.to_owned()),
        ("RUNNER_ENGINE_ENDPOINTS", engine.url()),
        ("RUNNER_IDLE_SLEEP_MS", idle_sleep_ms.to_owned()),
        ("RUNNER_LOG", "info".to_owned()),
    ];
    match s3 {
        Some(s3) => vars.extend([
            ("RUNNER_S3_ENDPOINT", s3.endpoint.clone()),
            ("RUNNER_S3_BUCKET", s3.bucket.clone()),
            ("RUNNER_S3_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("RUNNER_S3_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
        ]),
        None => vars.push(("RUNNER_OBJECT_STORE", "none".to_owned())),
    }
    vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

async fn serve_on(port: Option<u16>, vars: &[(String, String)]) -> anyhow::Result<WranglerDev> {
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    match port {
        Some(port) => WranglerDev::start_on(port, &vars).await,
        None => WranglerDev::start(&vars).await,
    }
}

/// Points the engine's default pool at the Worker, with the secret it requires.
async fn register(engine: &Engine, dev: &WranglerDev) -> anyhow::Result<()> {
    engine
        .put_runner_config(&RunnerConfigSpec {
            pool: "default".into(),
            url: format!("{}/api/rivet", dev.url),
            headers: secret_header(),
            request_lifespan: 120,
            drain_grace_period: 10,
        })
        .await
}

fn secret_header() -> Vec<(String, String)> {
    vec![("x-runner-secret".to_owned(), SECRET.to_owned())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counter_runs_on_workerd_and_its_data_survives_a_new_isolate() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let engine = Engine::start().await?;
    let s3 = S3Server::start("runner-workers").await?;
    let vars = vars(&engine, Some(&s3), "120000");
    let dev = serve_on(None, &vars).await?;
    let url = format!("{}/api/rivet", dev.url);
    let health = engine
        .serverless_health_check(&url, &secret_header())
        .await?;
    assert!(
        health.get("success").is_some(),
        "{health}\n{}",
        dev.log_tail()
    );
    register(&engine, &dev).await?;

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
    gw.action(&id, "writeNote", json!(["plan.md", "ship it"]))
        .await?;
    // A chain of more than eight segments: the Worker folds it at the stop (it drops its copy),
    // so the next start downloads one snapshot instead of a request per segment.
    for _ in 0..8 {
        gw.action(&id, "increment", json!([0])).await?;
    }

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

    let persistence = Persistence::new(Arc::new(s3.http_store()), "actors");
    let actor = ActorKey {
        namespace: "default".into(),
        actor_id: id.clone(),
    };
    let (manifest, _) = persistence.read_manifest(&actor).await?;
    assert_eq!(manifest.wal.segments, 0, "folded at the stop: {manifest:?}");
    assert!(manifest.snapshot.is_some());

    // A new workerd on the same address: fresh isolates, nothing in memory. The wake restores
    // the actor from the bucket, where the Worker shipped its SQLite WAL.
    let port = dev.port;
    drop(dev);
    let dev = serve_on(Some(port), &vars).await?;
    let woken = gw.action(&id, "count", json!([])).await;
    let woken =
        woken.map_err(|err| anyhow::anyhow!("{err:#}\n--- worker ---\n{}", dev.log_tail()))?;
    assert_eq!(woken, json!(7), "state after wake in a new isolate");
    assert_eq!(
        gw.action(&id, "readNote", json!(["plan.md"])).await?,
        json!("ship it"),
        "mounted files after wake in a new isolate"
    );
    assert_eq!(gw.action(&id, "increment", json!([1])).await?, json!(8));
    let history = gw.action(&id, "history", json!([])).await?;
    assert_eq!(history.as_array().map(Vec::len), Some(11), "{history}");

    // The bucket holds the same database natively: the Worker's WAL restores with the native
    // code, passes integrity_check, and carries every increment.
    let persisted = runner_tests::wait_for(
        "the last increment in the bucket",
        Duration::from_secs(10),
        || {
            let store: Arc<dyn runner_core::object_store::ObjectStore> = Arc::new(s3.http_store());
            let id = id.clone();
            async move {
                let db = runner_tests::runner::persisted_db(store, &id).await.ok()?;
                let rows: (i64, i64) = db
                    .db
                    .query_row("SELECT count(*), max(total) FROM increments", [], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })
                    .ok()?;
                (rows == (11, 8)).then_some(rows)
            }
        },
    )
    .await;
    persisted.map_err(|err| anyhow::anyhow!("{err}\n--- worker ---\n{}", dev.log_tail()))?;
    Ok(())
}

/// A Worker caps the subrequests of one request (50 on the Free plan). With a small budget the
/// actor sleeps before it runs out and the engine wakes it in a fresh request: every write
/// lands, none fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_that_spends_its_request_budget_sleeps_and_continues() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let engine = Engine::start().await?;
    let s3 = S3Server::start("runner-workers-budget").await?;
    let mut vars = vars(&engine, Some(&s3), "120000");
    vars.push(("RUNNER_STORE_REQUEST_BUDGET".into(), "24".into()));
    let dev = serve_on(None, &vars).await?;
    register(&engine, &dev).await?;
    let gw = engine.gateway();
    let id = engine.create_actor("counter", "budgeted", None).await?;
    // Every write succeeds and none is lost. An increment may be applied twice: when an actor
    // stops with a reply in flight, the engine's gateway retries the request on the next
    // start (actions are at-least-once, docs/security.md), so each total only has to exceed
    // the one before.
    let mut last = 0;
    for n in 1..=30 {
        let total = gw.action(&id, "increment", json!([1])).await;
        let total =
            total.map_err(|err| anyhow::anyhow!("increment {n}: {err:#}\n{}", dev.log_tail()))?;
        let total = total.as_u64().unwrap_or_default();
        assert!(total > last, "increment {n} answered {total} after {last}");
        last = total;
    }
    if last > 30 {
        eprintln!(
            "{} increments were applied twice (gateway retries)",
            last - 30
        );
    }
    let history = gw.action(&id, "history", json!([])).await?;
    let generations: std::collections::BTreeSet<u64> = history
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| row["generation"].as_u64())
        .collect();
    assert!(
        generations.len() >= 3,
        "30 writes on a budget of 24 requests take several starts: {generations:?}\n{}",
        dev.log_tail()
    );
    assert!(
        dev.log_tail().contains("request budget is nearly spent"),
        "{}",
        dev.log_tail()
    );
    Ok(())
}

/// Without a bucket the Worker still serves (`RUNNER_OBJECT_STORE=none`), and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_bucket_the_worker_serves_and_warns() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let engine = Engine::start().await?;
    let dev = serve_on(None, &vars(&engine, None, "120000")).await?;
    register(&engine, &dev).await?;
    let id = engine.create_actor("counter", "unpersisted", None).await?;
    assert_eq!(
        engine
            .gateway()
            .action(&id, "increment", json!([3]))
            .await?,
        json!(3)
    );
    assert!(
        dev.log_tail()
            .contains("actor data is lost when an actor stops"),
        "{}",
        dev.log_tail()
    );
    Ok(())
}

/// A Worker whose bucket settings are incomplete refuses every request with the reason,
/// instead of serving actors whose data would be lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_without_bucket_settings_names_them() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let engine = Engine::start().await?;
    let mut vars = vars(&engine, None, "120000");
    vars.retain(|(name, _)| name != "RUNNER_OBJECT_STORE");
    let dev = serve_on(None, &vars).await?;
    // A stranger learns only that the configuration is bad, not which settings it names.
    let response = reqwest::get(format!("{}/api/rivet/metadata", dev.url)).await?;
    assert_eq!(response.status(), 500);
    let body: serde_json::Value = response.json().await?;
    assert_eq!(body["code"], "bad_configuration", "{body}");
    assert!(!body.to_string().contains("RUNNER_S3"), "{body}");
    // The operator, holding the secret, gets the reason.
    let response = reqwest::Client::new()
        .get(format!("{}/api/rivet/metadata", dev.url))
        .header("x-runner-secret", SECRET)
        .send()
        .await?;
    assert_eq!(response.status(), 500);
    let body: serde_json::Value = response.json().await?;
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("RUNNER_S3_BUCKET"),
        "{body}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_refuses_a_start_without_the_secret() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let engine = Engine::start().await?;
    let dev = serve_on(None, &vars(&engine, None, "30000")).await?;
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

/// The bucket goes away under a running Worker (every connection cut, new ones refused): a
/// write in strict mode answers `not_durable` with the reason, the Worker keeps serving reads
/// and other actors, and once the bucket is back the next write ships the missed one with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_outage_fails_writes_clearly_and_the_worker_recovers() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let engine = Engine::start().await?;
    let s3 = S3Server::start("runner-workers-outage").await?;
    let proxy =
        runner_tests::outage_proxy::OutageProxy::start(s3.endpoint.trim_start_matches("http://"))
            .await?;
    let mut vars = vars(&engine, Some(&s3), "120000");
    for (name, value) in &mut vars {
        if name == "RUNNER_S3_ENDPOINT" {
            value.clone_from(&proxy.url);
        }
    }
    let dev = serve_on(None, &vars).await?;
    register(&engine, &dev).await?;
    let gw = engine.gateway();
    let a = engine.create_actor("counter", "outage-a", None).await?;
    let b = engine.create_actor("counter", "outage-b", None).await?;
    let first = gw.action(&a, "increment", json!([1])).await;
    first.map_err(|err| anyhow::anyhow!("{err:#}\n--- worker ---\n{}", dev.log_tail()))?;
    assert_eq!(gw.action(&b, "increment", json!([10])).await?, json!(10));

    proxy.cut();
    let failed = gw.action_reply(&a, "increment", json!([1])).await?;
    assert_eq!(failed.status, 503, "{:?}\n{}", failed.body, dev.log_tail());
    assert_eq!(
        failed.body["code"],
        json!("not_durable"),
        "{:?}",
        failed.body
    );
    let message = failed.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("object store unavailable") && !message.contains("Error: Error:"),
        "the reason, said once: {message}"
    );
    // Reads of an actor with nothing pending are not held back, and the Worker says why the
    // write failed.
    assert_eq!(gw.action(&b, "count", json!([])).await?, json!(10));
    assert!(
        dev.log_tail().contains("object store call failed"),
        "{}",
        dev.log_tail()
    );

    proxy.restore();
    let recovered = gw.action(&a, "increment", json!([1])).await;
    let recovered =
        recovered.map_err(|err| anyhow::anyhow!("{err:#}\n--- worker ---\n{}", dev.log_tail()))?;
    assert_eq!(recovered, json!(3), "the failed write was applied locally");
    let persisted = runner_tests::runner::persisted_db(Arc::new(s3.http_store()), &a).await?;
    let total: i64 = persisted
        .db
        .query_row("SELECT max(total) FROM increments", [], |row| row.get(0))?;
    assert_eq!(total, 3, "both writes reached the bucket");
    Ok(())
}

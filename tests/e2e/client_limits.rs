//! What a client can make an actor hold is bounded: connections per actor, subscriptions per
//! connection, event-name length. Refusals are clear errors and the actor keeps serving.

use std::sync::Arc;

use runner_core::actor::{ActorHandle, ConnSink};
use runner_core::sandbox::SandboxLimits;
use runner_core::sandbox::js::{JsFactory, JsRuntime};
use runner_core::storage::ActorStore;
use runner_tests::sandbox::{cbor, from_cbor, start_actor};
use serde_json::{Value, json};

const COUNTER: &str = include_str!("../../examples/js/counter.js");

struct Silent;

impl ConnSink for Silent {
    fn event(&self, _name: &str, _args: &[u8]) {}
    fn close(&self, _reason: &str) {}
}

async fn counter() -> anyhow::Result<(ActorHandle, tempfile::TempDir)> {
    let runtime = JsRuntime::new(SandboxLimits::default())?;
    let factory = Arc::new(JsFactory::new(
        "counter",
        runtime.compile("counter", COUNTER)?,
    ));
    let dir = tempfile::tempdir()?;
    let actor = start_actor(factory, &ActorStore::new(dir.path()), "c1").await?;
    Ok((actor, dir))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_subscriptions_are_refused() -> anyhow::Result<()> {
    let (actor, _dir) = counter().await?;
    let conn = actor.open_conn(Arc::new(Silent), Vec::new()).await?;
    let mut accepted = 0;
    let mut refused = 0;
    for i in 0..100_000 {
        match actor
            .subscribe(conn.clone(), format!("event-{i}"), true)
            .await
        {
            Ok(()) => accepted += 1,
            Err(err) => {
                assert_eq!(err.code, "too_many_subscriptions", "{err}");
                refused += 1;
            }
        }
    }
    assert!(accepted <= 128, "{accepted} subscriptions accepted");
    assert_eq!(accepted + refused, 100_000);
    let err = actor
        .subscribe(conn.clone(), "x".repeat(10_000), true)
        .await
        .unwrap_err();
    assert!(
        ["invalid_event_name", "too_many_subscriptions"].contains(&err.code.as_str()),
        "{err}"
    );
    // Unsubscribing frees room; the actor still serves.
    actor
        .subscribe(conn.clone(), "event-0".into(), false)
        .await?;
    actor
        .subscribe(conn.clone(), "newCount".into(), true)
        .await?;
    let output = actor.action("increment", cbor(&json!([1]))).await?;
    assert_eq!(from_cbor::<Value>(&output)?, json!(1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_actor_are_capped() -> anyhow::Result<()> {
    let (actor, _dir) = counter().await?;
    let mut opened = Vec::new();
    let refusal = loop {
        match actor.open_conn(Arc::new(Silent), Vec::new()).await {
            Ok(conn) => opened.push(conn),
            Err(err) => break err,
        }
        assert!(opened.len() <= 10_000, "no connection limit");
    };
    assert_eq!(refusal.code, "too_many_connections", "{refusal}");
    actor.close_conn(opened[0].clone()).await;
    actor.open_conn(Arc::new(Silent), Vec::new()).await?;
    Ok(())
}

/// An action request larger than RivetKit's default `maxIncomingMessageSize` (64 KiB) is
/// refused with RivetKit's error, through the engine's gateway, and the actor keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_action_request_is_refused_with_rivetkits_error() -> anyhow::Result<()> {
    let s = crate::setup(30_000, 300, 10).await?;
    let gw = s.engine.gateway();
    let id = s.engine.create_actor("counter", "big", None).await?;
    assert_eq!(gw.action(&id, "increment", json!([1])).await?, json!(1));
    let reply = gw
        .action_reply(&id, "increment", json!(["x".repeat(100 * 1024)]))
        .await?;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body["group"], "message", "{}", reply.body);
    assert_eq!(reply.body["code"], "incoming_too_long", "{}", reply.body);
    assert_eq!(gw.action(&id, "increment", json!([1])).await?, json!(2));
    Ok(())
}

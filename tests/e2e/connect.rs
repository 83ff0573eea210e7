//! The `/connect` WebSocket: Init, actions, subscriptions and events, in every encoding.

use serde_json::json;

use crate::setup;

async fn events_flow(encoding: &str) -> anyhow::Result<()> {
    let s = setup(60_000, 300, 10).await?;
    let gw = s.engine.gateway();
    let id = s
        .engine
        .create_actor("counter", &format!("ws-{encoding}"), None)
        .await?;
    gw.action(&id, "count", json!([])).await?;

    let mut conn = gw.connect(&id, encoding).await?;
    let init = conn.recv().await?;
    assert_eq!(init["tag"], "Init", "{init}");
    assert_eq!(init["val"]["actorId"], json!(id));

    conn.send(
        json!({"tag": "SubscriptionRequest", "val": {"eventName": "newCount", "subscribe": true}}),
    )
    .await?;
    conn.send(json!({"tag": "ActionRequest", "val": {"id": 1, "name": "increment", "args": [4]}}))
        .await?;
    let mut got_response = false;
    let mut got_event = false;
    while !(got_response && got_event) {
        let message = conn.recv().await?;
        match message["tag"].as_str() {
            Some("ActionResponse") => {
                assert_eq!(message["val"], json!({"id": 1, "output": 4}));
                got_response = true;
            }
            Some("Event") => {
                assert_eq!(message["val"], json!({"name": "newCount", "args": [4]}));
                got_event = true;
            }
            _ => panic!("unexpected message {message}"),
        }
    }

    // An increment from another client reaches the subscribed connection too.
    gw.action(&id, "increment", json!([1])).await?;
    let event = conn.recv().await?;
    assert_eq!(event["val"], json!({"name": "newCount", "args": [5]}));

    conn.send(json!({"tag": "ActionRequest", "val": {"id": 2, "name": "nope", "args": []}}))
        .await?;
    let error = conn.recv().await?;
    assert_eq!(error["tag"], "Error");
    assert_eq!(
        (
            error["val"]["code"].as_str(),
            error["val"]["actionId"].as_u64()
        ),
        (Some("action_not_found"), Some(2))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_json() -> anyhow::Result<()> {
    events_flow("json").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_cbor() -> anyhow::Result<()> {
    events_flow("cbor").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_bare() -> anyhow::Result<()> {
    events_flow("bare").await
}

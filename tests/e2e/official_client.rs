//! The official RivetKit client (`rivetkit-client` 2.3.19), unchanged, against this runner:
//! getOrCreate by key through the gateway, stateless actions, and a connection with an event
//! subscription, in each encoding (bare is the official clients' default).

use std::time::Duration;

use rivetkit_client::{Client, ClientConfig, EncodingKind, GetOrCreateOptions};
use serde_json::json;

use crate::setup;

async fn counter_through_official_client(encoding: EncodingKind, key: &str) -> anyhow::Result<()> {
    let s = setup(60_000, 300, 10).await?;
    let client = Client::new(
        ClientConfig::new(s.engine.url())
            .namespace("default")
            .pool_name("default")
            .encoding(encoding),
    );
    let counter = client.get_or_create(
        "counter",
        vec![key.to_owned()],
        GetOrCreateOptions::default(),
    )?;
    assert_eq!(counter.action("increment", vec![json!(3)]).await?, json!(3));
    assert_eq!(counter.action("count", vec![]).await?, json!(3));

    let conn = counter.connect();
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let _subscription = conn
        .on_event("newCount", move |args| {
            let _ = tx.send(args.clone());
        })
        .await;
    assert_eq!(conn.action("increment", vec![json!(2)]).await?, json!(5));
    let args = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await?
        .expect("event channel open");
    assert_eq!(args, vec![json!(5)]);

    let err = counter
        .action("nope", vec![])
        .await
        .expect_err("unknown action");
    assert!(format!("{err:#}").contains("action_not_found"), "{err:#}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_client_bare() -> anyhow::Result<()> {
    counter_through_official_client(EncodingKind::Bare, "official-bare").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_client_cbor() -> anyhow::Result<()> {
    counter_through_official_client(EncodingKind::Cbor, "official-cbor").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_client_json() -> anyhow::Result<()> {
    counter_through_official_client(EncodingKind::Json, "official-json").await
}

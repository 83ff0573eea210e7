//! The object-store conformance suite against a real S3-compatible server (SeaweedFS on
//! loopback), 16-writer conditional-write races included.

use std::sync::Arc;

use bytes::Bytes;
use runner_core::object_store::{HttpS3Store, ObjectStore, PutMode, S3Store, conformance};
use runner_tests::s3_server::{ReqwestClient, S3Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_store_conforms_against_seaweedfs() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let server = S3Server::start("runner-conformance").await?;
    let store: Arc<dyn ObjectStore> = Arc::new(server.store().await);
    conformance::run_all(store.clone(), "conformance").await;
    // The zombie scenario: fencing rests on the server's conditional writes.
    runner_core::persist::scenarios::zombie_is_fenced(store).await?;
    Ok(())
}

/// The Worker's store (plain HTTP, SigV4-signed by the core) against the same server: the same
/// suite, races and fencing included, so the Worker persists under the same contract.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_s3_store_conforms_against_seaweedfs() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let server = S3Server::start("runner-http-conformance").await?;
    let store: Arc<dyn ObjectStore> = Arc::new(server.http_store());
    conformance::run_all(store.clone(), "conformance/with spaces+plus").await;
    runner_core::persist::scenarios::zombie_is_fenced(store.clone()).await?;
    // Listing pages: SeaweedFS answers 1000 keys a page.
    for i in 0..1003 {
        store
            .put(
                &format!("many/{i:05}"),
                Bytes::from_static(b"x"),
                PutMode::Overwrite,
            )
            .await?;
    }
    assert_eq!(store.list("many/").await?.len(), 1003);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_s3_store_errors_are_clear() -> anyhow::Result<()> {
    let server = S3Server::start("runner-http-auth").await?;
    let mut config = server.config();
    if let Some(credentials) = config.credentials.as_mut() {
        credentials.secret_access_key = "wrong-secret".into();
    }
    let client = Arc::new(ReqwestClient::default());
    let store = HttpS3Store::new(config.clone(), client.clone())?;
    let err = store
        .get("some/key")
        .await
        .expect_err("bad credentials must fail");
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("SignatureDoesNotMatch"), "{err}");

    config.endpoint = Some(format!("http://127.0.0.1:{}", runner_tests::free_port()?));
    assert_unreachable_is_transient(&HttpS3Store::new(config.clone(), client.clone())?).await;

    config.credentials = None;
    let err = HttpS3Store::new(config, client).expect_err("no keys");
    assert!(err.to_string().contains("access key"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_a_clear_error() -> anyhow::Result<()> {
    let server = S3Server::start("runner-auth").await?;
    let mut config = server.config();
    config.max_attempts = 1;
    if let Some(credentials) = config.credentials.as_mut() {
        credentials.secret_access_key = "wrong-secret".into();
    }
    let store = S3Store::new(config.clone()).await;
    let err = store
        .get("some/key")
        .await
        .expect_err("bad credentials must fail");
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.to_string().contains("SignatureDoesNotMatch") || err.to_string().contains("Access"),
        "{err}"
    );

    config.endpoint = Some(format!("http://127.0.0.1:{}", runner_tests::free_port()?));
    assert_unreachable_is_transient(&S3Store::new(config).await).await;
    Ok(())
}

/// A store whose endpoint nothing listens on fails with a retryable error.
async fn assert_unreachable_is_transient(store: &dyn ObjectStore) {
    let err = store
        .get("some/key")
        .await
        .expect_err("nothing listens there");
    assert!(
        err.is_retryable(),
        "an unreachable store is transient: {err}"
    );
}

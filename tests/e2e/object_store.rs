//! The object-store conformance suite against a real S3-compatible server (SeaweedFS on
//! loopback), 16-writer conditional-write races included.

use std::sync::Arc;

use runner_core::object_store::{ObjectStore, S3Store, conformance};
use runner_tests::s3_server::S3Server;

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
    let unreachable = S3Store::new(config).await;
    let err = unreachable
        .get("some/key")
        .await
        .expect_err("nothing listens there");
    assert!(
        err.is_retryable(),
        "an unreachable store is transient: {err}"
    );
    Ok(())
}

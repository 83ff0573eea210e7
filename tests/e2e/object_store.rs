//! The object-store conformance suite against a real S3-compatible server (SeaweedFS on
//! loopback), 16-writer conditional-write races included.

use std::sync::Arc;

use runner_core::object_store::{ObjectStore, S3Config, S3Store, StaticCredentials, conformance};
use runner_tests::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};

async fn store(server: &S3Server) -> S3Store {
    S3Store::new(S3Config {
        bucket: server.bucket.clone(),
        region: "us-east-1".into(),
        endpoint: Some(server.endpoint.clone()),
        force_path_style: true,
        credentials: Some(StaticCredentials {
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
            session_token: None,
        }),
        max_attempts: 3,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_store_conforms_against_seaweedfs() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let server = S3Server::start("runner-conformance").await?;
    let store: Arc<dyn ObjectStore> = Arc::new(store(&server).await);
    conformance::run_all(store, "conformance").await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_a_clear_error() -> anyhow::Result<()> {
    let server = S3Server::start("runner-auth").await?;
    let mut config = S3Config {
        bucket: server.bucket.clone(),
        region: "us-east-1".into(),
        endpoint: Some(server.endpoint.clone()),
        force_path_style: true,
        credentials: Some(StaticCredentials {
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: "wrong-secret".into(),
            session_token: None,
        }),
        max_attempts: 1,
    };
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

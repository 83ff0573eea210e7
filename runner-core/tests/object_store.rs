//! The object-store conformance suite against the in-process stores.

use std::sync::Arc;

use bytes::Bytes;
use runner_core::object_store::{LocalStore, MemoryStore, ObjectStore, PutMode, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    conformance::run_all(Arc::new(MemoryStore::new()), "run").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance::run_all(Arc::new(LocalStore::new(dir.path())), "run").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_local_stores_on_one_directory_have_one_winner() {
    // Two handles on one directory stand in for two processes sharing it.
    let dir = tempfile::tempdir().unwrap();
    let stores = [LocalStore::new(dir.path()), LocalStore::new(dir.path())];
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let store = stores[i % 2].clone();
        tasks.spawn(async move {
            store
                .put("race/key", Bytes::from(format!("{i}")), PutMode::IfAbsent)
                .await
                .is_ok()
        });
    }
    let mut winners = 0;
    while let Some(won) = tasks.join_next().await {
        winners += usize::from(won.unwrap());
    }
    assert_eq!(winners, 1);
}

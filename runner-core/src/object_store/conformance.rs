//! The conformance suite every [`ObjectStore`] must pass. Test support: failures panic with
//! what was expected. Run [`run_all`] with a fresh prefix per run.

use std::sync::Arc;

use bytes::Bytes;

use super::{ObjectStore, ObjectStoreError, PutMode};

/// Runs every check under `prefix` (which should be unique to this run).
pub async fn run_all(store: Arc<dyn ObjectStore>, prefix: &str) {
    round_trip(store.as_ref(), prefix).await;
    if_absent(store.as_ref(), prefix).await;
    if_match(store.as_ref(), prefix).await;
    listing(store.as_ref(), prefix).await;
    invalid_keys(store.as_ref()).await;
    races(store, prefix, 16).await;
}

async fn round_trip(store: &dyn ObjectStore, prefix: &str) {
    let key = format!("{prefix}/round/trip.bin");
    assert!(
        store.get(&key).await.expect("get absent").is_none(),
        "absent key must read None"
    );
    let payload = Bytes::from((0..=255u8).cycle().take(70_000).collect::<Vec<_>>());
    let etag = store
        .put(&key, payload.clone(), PutMode::Overwrite)
        .await
        .expect("put");
    let object = store.get(&key).await.expect("get").expect("object exists");
    assert_eq!(object.bytes, payload);
    assert_eq!(object.etag, etag, "get reports the ETag put returned");
    let range = store
        .get_range(&key, 100..356)
        .await
        .expect("range")
        .expect("exists");
    assert_eq!(range, payload.slice(100..356));
    let tail = store
        .get_range(&key, 69_990..80_000)
        .await
        .expect("range")
        .expect("exists");
    assert_eq!(
        tail,
        payload.slice(69_990..70_000),
        "ranges clamp to the object"
    );
    let etag2 = store
        .put(&key, Bytes::from_static(b"v2"), PutMode::Overwrite)
        .await
        .expect("overwrite");
    assert_ne!(etag, etag2, "new content, new ETag");
    store.delete(&key).await.expect("delete");
    assert!(store.get(&key).await.expect("get").is_none(), "deleted");
    store
        .delete(&key)
        .await
        .expect("deleting an absent key succeeds");
}

async fn if_absent(store: &dyn ObjectStore, prefix: &str) {
    let key = format!("{prefix}/absent/obj");
    store
        .put(&key, Bytes::from_static(b"first"), PutMode::IfAbsent)
        .await
        .expect("create");
    let err = store
        .put(&key, Bytes::from_static(b"second"), PutMode::IfAbsent)
        .await
        .expect_err("second create must fail");
    assert!(
        matches!(err, ObjectStoreError::PreconditionFailed { .. }),
        "{err}"
    );
    let object = store.get(&key).await.expect("get").expect("exists");
    assert_eq!(
        object.bytes,
        Bytes::from_static(b"first"),
        "the loser wrote nothing"
    );
}

async fn if_match(store: &dyn ObjectStore, prefix: &str) {
    let key = format!("{prefix}/match/manifest");
    let err = store
        .put(
            &key,
            Bytes::from_static(b"x"),
            PutMode::IfMatch("\"nope\"".into()),
        )
        .await
        .expect_err("IfMatch on an absent key fails");
    assert!(
        matches!(err, ObjectStoreError::PreconditionFailed { .. }),
        "{err}"
    );
    let v1 = store
        .put(&key, Bytes::from_static(b"v1"), PutMode::IfAbsent)
        .await
        .expect("create");
    let v2 = store
        .put(
            &key,
            Bytes::from_static(b"v2"),
            PutMode::IfMatch(v1.clone()),
        )
        .await
        .expect("CAS with the current ETag");
    let err = store
        .put(&key, Bytes::from_static(b"stale"), PutMode::IfMatch(v1))
        .await
        .expect_err("CAS with a stale ETag fails");
    assert!(
        matches!(err, ObjectStoreError::PreconditionFailed { .. }),
        "{err}"
    );
    let object = store.get(&key).await.expect("get").expect("exists");
    assert_eq!((object.bytes, object.etag), (Bytes::from_static(b"v2"), v2));
    // AWS S3 answers this with 404, other stores with 412: both are a failed precondition.
    let missing = format!("{key}-missing");
    let err = store
        .put(
            &missing,
            Bytes::from_static(b"x"),
            PutMode::IfMatch("\"0123456789abcdef\"".into()),
        )
        .await
        .expect_err("CAS on a missing key fails");
    assert!(
        matches!(err, ObjectStoreError::PreconditionFailed { .. }),
        "{err}"
    );
    assert!(store.get(&missing).await.expect("get").is_none());
}

async fn listing(store: &dyn ObjectStore, prefix: &str) {
    for key in ["a/1", "a/2", "ab/3", "b/4"] {
        let key = format!("{prefix}/list/{key}");
        store
            .put(&key, Bytes::from_static(b"12345"), PutMode::Overwrite)
            .await
            .expect("put");
    }
    let keys: Vec<String> = store
        .list(&format!("{prefix}/list/a/"))
        .await
        .expect("list")
        .into_iter()
        .map(|m| {
            assert_eq!(m.size, 5);
            m.key
        })
        .collect();
    assert_eq!(
        keys,
        vec![format!("{prefix}/list/a/1"), format!("{prefix}/list/a/2")]
    );
    let all = store.list(&format!("{prefix}/list/")).await.expect("list");
    assert_eq!(all.len(), 4, "sorted, prefix-bounded: {all:?}");
    assert!(all.windows(2).all(|w| w[0].key < w[1].key));
    assert!(
        store
            .list(&format!("{prefix}/nothing-here/"))
            .await
            .expect("list")
            .is_empty()
    );
}

async fn invalid_keys(store: &dyn ObjectStore) {
    for key in ["", "/abs", "a//b", "a/../b"] {
        let result = store
            .put(key, Bytes::from_static(b"x"), PutMode::Overwrite)
            .await;
        assert!(
            matches!(result, Err(ObjectStoreError::InvalidKey(_))),
            "key {key:?}: {result:?}"
        );
    }
}

/// `writers` concurrent creators of one key, then `writers` concurrent CAS writers from the same
/// ETag: exactly one of each group may win.
async fn races(store: Arc<dyn ObjectStore>, prefix: &str, writers: usize) {
    let key = format!("{prefix}/race/obj");
    let winners = contend(&store, &key, writers, "create", |_| PutMode::IfAbsent).await;
    assert_eq!(winners, 1, "exactly one IfAbsent writer wins");
    let base = store.get(&key).await.expect("get").expect("exists").etag;
    let winners = contend(&store, &key, writers, "cas", |_| {
        PutMode::IfMatch(base.clone())
    })
    .await;
    assert_eq!(winners, 1, "exactly one IfMatch writer wins");
}

async fn contend(
    store: &Arc<dyn ObjectStore>,
    key: &str,
    writers: usize,
    round: &str,
    mode: impl Fn(usize) -> PutMode,
) -> usize {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..writers {
        let (store, key, mode) = (store.clone(), key.to_owned(), mode(i));
        // Distinct content per writer and round: ETags derive from content, so a writer that
        // rewrote identical bytes would leave the ETag unchanged.
        let content = Bytes::from(format!("{round} by writer {i}"));
        tasks.spawn(async move {
            match store.put(&key, content, mode).await {
                Ok(_) => true,
                Err(ObjectStoreError::PreconditionFailed { .. }) => false,
                Err(err) => panic!("writer {i} failed unexpectedly: {err}"),
            }
        });
    }
    let mut winners = 0;
    while let Some(won) = tasks.join_next().await {
        winners += usize::from(won.expect("writer task"));
    }
    winners
}

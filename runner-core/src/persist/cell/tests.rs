//! The manifest cell against the real compare-and-swap of the in-memory store, with lost
//! replies and racing writers.

use std::sync::Arc;

use super::*;
use crate::object_store::{FaultPlan, FaultyStore, LostReplies, MemoryStore};
use crate::storage::ActorKey;

fn prefix() -> ActorPrefix {
    let key = ActorKey {
        namespace: "ns".into(),
        actor_id: "a".into(),
    };
    ActorPrefix::new("actors", &key)
}

fn cell(store: &Arc<dyn ObjectStore>) -> ManifestCell {
    ManifestCell::new(store.clone(), &prefix(), "a")
}

fn memory() -> Arc<dyn ObjectStore> {
    Arc::new(MemoryStore::new())
}

/// The manifest `claimed` would write next.
fn next_of(claimed: &Manifest) -> Manifest {
    Manifest {
        seq: claimed.seq + 1,
        ..claimed.clone()
    }
}

#[tokio::test]
async fn a_claim_names_its_generation_and_a_new_claim_id() {
    let store = memory();
    let first = cell(&store).claim(1).await.unwrap();
    assert_eq!((first.generation, first.seq), (1, 1));
    let second = cell(&store).claim(2).await.unwrap();
    assert_eq!((second.generation, second.seq), (2, 2));
    assert_ne!(first.claim, second.claim);
    let (stored, etag) = cell(&store).read().await.unwrap();
    assert_eq!(stored, second);
    assert!(etag.is_some());
}

#[tokio::test]
async fn an_older_generation_cannot_claim_or_advance_after_a_newer_one() {
    let store = memory();
    let mut old = cell(&store);
    let claimed = old.claim(1).await.unwrap();
    cell(&store).claim(3).await.unwrap();
    let err = old.advance(&next_of(&claimed)).await.unwrap_err();
    assert!(
        matches!(
            err,
            PersistError::Fenced {
                ours: 1,
                theirs: 3,
                ..
            }
        ),
        "{err}"
    );
    let err = cell(&store).claim(2).await.unwrap_err();
    assert!(
        matches!(
            err,
            PersistError::Fenced {
                ours: 2,
                theirs: 3,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn racing_claims_leave_the_newest_generation_holding_the_actor() {
    let store = memory();
    let claims = (1..=16u32).map(|generation| {
        let mut cell = cell(&store);
        async move { (generation, cell.claim(generation).await) }
    });
    let results = futures_util::future::join_all(claims).await;
    let (stored, _) = cell(&store).read().await.unwrap();
    assert_eq!(
        stored.generation, 16,
        "the newest generation holds the actor"
    );
    for (generation, result) in results {
        match result {
            Ok(claimed) => assert_eq!(claimed.generation, generation),
            Err(PersistError::Fenced { ours, theirs, .. }) => {
                assert_eq!(ours, generation);
                assert!(theirs > generation, "fenced by {theirs}");
            }
            Err(err) => panic!("generation {generation}: {err}"),
        }
    }
    assert!(
        stored.seq <= 16,
        "at most one manifest write per claim: {}",
        stored.seq
    );
}

#[tokio::test]
async fn a_write_that_landed_with_its_reply_lost_is_recognised_as_written() {
    let memory = memory();
    let faulty = Arc::new(FaultyStore::new(memory.clone(), 1));
    let store: Arc<dyn ObjectStore> = faulty.clone();
    let mut writer = cell(&store);
    let claimed = writer.claim(1).await.unwrap();
    faulty.set_plan(FaultPlan {
        lost_replies: Some(LostReplies {
            key_contains: "manifest.json",
            puts: 1,
        }),
        ..FaultPlan::default()
    });
    let next = next_of(&claimed);
    // The first put lands and its reply is lost; the retry finds `next` already stored.
    let advance = writer.advance(&next).await.unwrap();
    assert!(matches!(advance, Advance::Written), "{advance:?}");
    assert_eq!(faulty.stats().lost_replies, 1);
    faulty.set_plan(FaultPlan::default());
    let after = next_of(&next);
    assert!(matches!(
        writer.advance(&after).await.unwrap(),
        Advance::Written
    ));
    assert_eq!(cell(&memory).read().await.unwrap().0, after);
}

#[tokio::test]
async fn an_earlier_lost_write_of_the_same_claim_is_adopted_not_fenced() {
    let store = memory();
    let mut writer = cell(&store);
    let claimed = writer.claim(1).await.unwrap();
    // What this writer wrote while it believed the write failed (every reply lost): the
    // stored manifest moved on under the same claim.
    let landed = next_of(&claimed);
    let mut ghost = cell(&store);
    ghost.etag = writer.etag.clone();
    assert!(matches!(
        ghost.advance(&landed).await.unwrap(),
        Advance::Written
    ));
    let retried = Manifest {
        wal: crate::persist::WalChain {
            id: "another".into(),
            ..landed.wal.clone()
        },
        ..landed.clone()
    };
    let etag = match writer.advance(&retried).await.unwrap() {
        Advance::Behind(current, etag) => {
            assert_eq!(*current, landed);
            etag
        }
        other => panic!("expected Behind, got {other:?}"),
    };
    // Until the writer takes it over, it cannot overwrite it: a writer that failed to read the
    // adopted manifest's files index would otherwise write over it from what it had.
    let from_old = Manifest {
        seq: landed.seq + 5,
        ..claimed.clone()
    };
    assert!(
        matches!(
            writer.advance(&from_old).await.unwrap(),
            Advance::Behind(..)
        ),
        "a swap before adopting must not land"
    );
    assert_eq!(cell(&store).read().await.unwrap().0, landed);
    writer.adopt(etag);
    // From the adopted manifest, the next write lands.
    assert!(matches!(
        writer.advance(&next_of(&landed)).await.unwrap(),
        Advance::Written
    ));
}

#[tokio::test]
async fn a_manifest_that_vanished_or_is_unreadable_fences_the_writer() {
    let store = memory();
    let mut writer = cell(&store);
    let claimed = writer.claim(1).await.unwrap();
    store.delete(writer.key()).await.unwrap();
    let err = writer.advance(&next_of(&claimed)).await.unwrap_err();
    assert!(
        matches!(err, PersistError::Fenced { theirs: 0, .. }),
        "{err}"
    );
    let mut writer = cell(&store);
    writer.claim(1).await.unwrap();
    store
        .put(
            writer.key(),
            bytes::Bytes::from_static(b"{not json"),
            PutMode::Overwrite,
        )
        .await
        .unwrap();
    let err = cell(&store).read().await.unwrap_err();
    assert!(matches!(err, PersistError::Corrupt { .. }), "{err}");
}

#[tokio::test]
async fn a_manifest_from_a_newer_format_is_refused() {
    let store = memory();
    let future = Manifest {
        format: manifest::FORMAT + 1,
        ..Manifest::empty()
    };
    let key = prefix().manifest();
    store
        .put(&key, future.encode(&key).unwrap(), PutMode::Overwrite)
        .await
        .unwrap();
    let err = cell(&store).claim(1).await.unwrap_err();
    assert!(
        err.to_string().contains("newer than the supported"),
        "{err}"
    );
}

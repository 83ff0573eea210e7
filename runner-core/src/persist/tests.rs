//! The persistence engine against an in-memory store: shipping, restore, fencing, compaction,
//! files, and failures.

use std::sync::Arc;

use super::scenarios::{Instance, dump, key, persisted};
use super::*;
use crate::object_store::{Fault, FaultPlan, FaultyStore, MemoryStore};

fn memory() -> Arc<dyn ObjectStore> {
    Arc::new(MemoryStore::new())
}

#[tokio::test]
async fn acknowledged_writes_survive_losing_the_instance_without_a_clean_stop() {
    let p = Persistence::new(memory(), "actors");
    let mut first = Instance::start(&p, 1).await.unwrap();
    first.write("CREATE TABLE t (v TEXT)");
    first.write("INSERT INTO t VALUES ('a')");
    first.flush().await.unwrap();
    first.write("INSERT INTO t VALUES ('b')");
    first.flush().await.unwrap();
    let expected = dump(&first.db);
    // The instance vanishes (no close, no stop): another one picks the actor up.
    let second = Instance::start(&p, 2).await.unwrap();
    assert_eq!(dump(&second.db), expected);
    assert_eq!(expected.len(), 2);
}

#[tokio::test]
async fn a_warm_instance_reuses_its_local_copy() {
    let inner = memory();
    let store = Arc::new(FaultyStore::new(inner, 1));
    let p = Persistence::new(store.clone(), "actors");
    let mut first = Instance::start(&p, 1).await.unwrap();
    first.write("CREATE TABLE t (v BLOB); INSERT INTO t VALUES (zeroblob(100000))");
    let root = first.stop().await;

    store.reset_stats();
    let second = Instance::start_in(&p, 2, root).await.unwrap();
    let stats = store.stats();
    assert_eq!(stats.gets, 1, "only the manifest is read: {stats:?}");
    assert_eq!(dump(&second.db).len(), 1);

    // A cold instance downloads the snapshot and the WAL.
    store.reset_stats();
    let third_root = tempfile::tempdir().unwrap();
    drop(second);
    let third = Instance::start_in(&p, 3, third_root).await.unwrap();
    assert!(store.stats().get_bytes > 100_000);
    assert_eq!(dump(&third.db).len(), 1);
}

#[tokio::test]
async fn a_zombie_generation_is_fenced_and_never_overwrites_the_new_owner() {
    super::scenarios::zombie_is_fenced(memory()).await.unwrap();
}

#[tokio::test]
async fn compaction_starts_a_new_chain_and_deletes_the_superseded_objects() {
    let store = memory();
    let p = Persistence::new(store.clone(), "actors").with_options(PersistOptions {
        compact_min_wal_bytes: 64 << 10,
        ..PersistOptions::default()
    });
    let mut actor = Instance::start(&p, 1).await.unwrap();
    actor.write("CREATE TABLE t (v BLOB)");
    for _ in 0..40 {
        actor.write("INSERT INTO t VALUES (randomblob(5000))");
        actor.flush().await.unwrap();
    }
    let (manifest, _) = p.read_manifest(&key()).await.unwrap();
    assert!(
        manifest.wal.len < 200 << 10,
        "the chain was folded: {}",
        manifest.wal.len
    );
    let objects = store.list("actors/").await.unwrap();
    let snapshots = objects
        .iter()
        .filter(|o| o.key.contains("/snapshots/"))
        .count();
    let stale_segments = objects
        .iter()
        .filter(|o| o.key.contains("/wal/") && !o.key.contains(&manifest.wal.id))
        .count();
    assert_eq!(snapshots, 1, "{objects:#?}");
    assert_eq!(stale_segments, 0, "{objects:#?}");
    assert_eq!(persisted(&p).await, dump(&actor.db));
}

#[tokio::test]
async fn files_persist_and_only_changed_files_are_uploaded() {
    let store = Arc::new(FaultyStore::new(memory(), 2));
    let p = Persistence::new(store.clone(), "actors");
    let mut first = Instance::start(&p, 1).await.unwrap();
    let dir = first.files_dir();
    std::fs::create_dir_all(dir.join("notes")).unwrap();
    std::fs::write(dir.join("a.txt"), "alpha").unwrap();
    std::fs::write(dir.join("notes/b.txt"), "beta").unwrap();
    std::fs::write(dir.join("gone.txt"), "soon deleted").unwrap();
    first.replica.after_commit(true);
    first.flush().await.unwrap();

    std::fs::write(dir.join("a.txt"), "alpha 2").unwrap();
    std::fs::remove_file(dir.join("gone.txt")).unwrap();
    store.reset_stats();
    first.replica.after_commit(true);
    first.flush().await.unwrap();
    // One blob, the index, the manifest.
    assert_eq!(store.stats().puts, 3, "{:?}", store.stats());

    let second = Instance::start(&p, 2).await.unwrap();
    let restored = second.files_dir();
    assert_eq!(
        std::fs::read_to_string(restored.join("a.txt")).unwrap(),
        "alpha 2"
    );
    assert_eq!(
        std::fs::read_to_string(restored.join("notes/b.txt")).unwrap(),
        "beta"
    );
    assert!(!restored.join("gone.txt").exists());
    let blobs = store.list("actors/ns/a1/files/blobs/").await.unwrap().len();
    assert_eq!(blobs, 2, "the superseded blobs were deleted");
}

#[tokio::test]
async fn throttling_is_absorbed_and_an_outage_fails_the_flush_then_recovers() {
    let store = Arc::new(FaultyStore::new(memory(), 3));
    let p = Persistence::new(store.clone(), "actors");
    let mut actor = Instance::start(&p, 1).await.unwrap();
    actor.write("CREATE TABLE t (v INTEGER)");
    store.set_plan(FaultPlan {
        failure_rate: 0.3,
        fault: Some(Fault::SlowDown),
        ..FaultPlan::default()
    });
    for i in 0..20 {
        actor.write(&format!("INSERT INTO t VALUES ({i})"));
        actor.flush().await.unwrap();
    }
    assert!(store.stats().injected_failures > 0);

    store.set_plan(FaultPlan {
        outage: true,
        ..FaultPlan::default()
    });
    actor.write("INSERT INTO t VALUES (100)");
    let err = actor.flush().await.unwrap_err();
    assert!(err.to_string().contains("injected"), "{err}");
    let status = actor.replica.status();
    assert!(status.failed > status.durable, "{status:?}");

    store.set_plan(FaultPlan::default());
    actor.write("INSERT INTO t VALUES (101)");
    actor.flush().await.unwrap();
    assert_eq!(persisted(&p).await, dump(&actor.db));
    assert_eq!(dump(&actor.db).len(), 22);
}

#[tokio::test]
async fn destroy_deletes_every_object() {
    let store = memory();
    let p = Persistence::new(store.clone(), "actors");
    let mut actor = Instance::start(&p, 1).await.unwrap();
    actor.write("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1)");
    actor.flush().await.unwrap();
    assert!(!store.list("actors/ns/a1/").await.unwrap().is_empty());
    p.destroy(&key()).await.unwrap();
    assert!(store.list("actors/ns/a1/").await.unwrap().is_empty());
}

/// Random transactions (large rows, schema changes, VACUUM), flushes, compactions and
/// instance losses; the persisted database always equals the one that produced it.
#[tokio::test]
async fn random_workloads_restore_to_equal_content() {
    for seed in 1..=6u64 {
        let p = Persistence::new(memory(), "actors").with_options(PersistOptions {
            compact_min_wal_bytes: 256 << 10,
            ..PersistOptions::default()
        });
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let mut generation = 1;
        let mut actor = Instance::start(&p, generation).await.unwrap();
        actor.write("CREATE TABLE t0 (id INTEGER PRIMARY KEY, v BLOB)");
        let mut tables = 1;
        for step in 0..120 {
            let table = format!("t{}", next(tables));
            let sql = match next(10) {
                0 => {
                    tables += 1;
                    format!(
                        "CREATE TABLE t{} (id INTEGER PRIMARY KEY, v BLOB)",
                        tables - 1
                    )
                }
                1 => format!("ALTER TABLE {table} ADD COLUMN c{step} TEXT DEFAULT 'x{step}'"),
                2 => format!(
                    "INSERT INTO {table} (v) VALUES (randomblob({}))",
                    20_000 + next(200_000)
                ),
                3 => format!("DELETE FROM {table} WHERE id % 3 = {}", next(3)),
                4 => format!(
                    "UPDATE {table} SET v = randomblob({}) WHERE id % 2 = 0",
                    next(3000)
                ),
                _ => format!("INSERT INTO {table} (v) VALUES (randomblob({}))", next(500)),
            };
            actor.write(&sql);
            match next(12) {
                0 => {
                    actor.flush().await.unwrap();
                    actor.db.execute_batch("VACUUM").unwrap();
                    actor.replica.after_commit(false);
                }
                1..=3 => {
                    actor.flush().await.unwrap();
                }
                4 => {
                    // The instance is lost right after an acknowledged flush.
                    actor.flush().await.unwrap();
                    let expected = dump(&actor.db);
                    generation += 1;
                    actor = Instance::start(&p, generation).await.unwrap();
                    assert_eq!(dump(&actor.db), expected, "seed {seed} step {step}");
                }
                5 => {
                    // A clean stop, then a warm start on the same disk.
                    let expected = dump(&actor.db);
                    generation += 1;
                    let root = actor.stop().await;
                    actor = Instance::start_in(&p, generation, root).await.unwrap();
                    assert_eq!(dump(&actor.db), expected, "seed {seed} step {step}");
                }
                _ => {}
            }
        }
        actor.flush().await.unwrap();
        assert_eq!(persisted(&p).await, dump(&actor.db), "seed {seed}");
    }
}

#[tokio::test]
async fn a_request_budget_asks_to_sleep_with_enough_left_to_stop() {
    let store = Arc::new(FaultyStore::new(memory(), 1));
    let budget = RequestBudget { requests: 40 };
    let p = Persistence::new(store.clone(), "actors").with_options(PersistOptions {
        request_budget: Some(budget),
        ..PersistOptions::default()
    });
    let mut actor = Instance::start(&p, 1).await.unwrap();
    actor.write("CREATE TABLE t (v INTEGER)");
    actor.flush().await.unwrap();
    let mut acknowledged = 0;
    while !actor.replica.status().budget_spent {
        acknowledged += 1;
        actor.write(&format!("INSERT INTO t VALUES ({acknowledged})"));
        actor.flush().await.unwrap();
        assert!(acknowledged < 40, "the budget never ran low");
    }
    // Asked to sleep: the reserve still persists the last writes and the stop.
    actor.write("INSERT INTO t VALUES (-1)");
    actor.stop().await;
    let used = store.stats().requests();
    assert!(used <= 40, "{used} requests for a budget of 40");

    // The next claim has a fresh budget and every write.
    let second = Instance::start(&p, 2).await.unwrap();
    let rows: i64 = second
        .db
        .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows, acknowledged + 1);
}

#[tokio::test]
async fn past_the_budget_requests_fail_fast_with_the_reason() {
    let p = Persistence::new(memory(), "actors").with_options(PersistOptions {
        request_budget: Some(RequestBudget { requests: 16 }),
        ..PersistOptions::default()
    });
    let mut actor = Instance::start(&p, 1).await.unwrap();
    actor.write("CREATE TABLE t (v INTEGER)");
    let mut error = None;
    for i in 0..20 {
        actor.write(&format!("INSERT INTO t VALUES ({i})"));
        if let Err(err) = actor.replica.flush().await {
            error = Some(err.to_string());
            break;
        }
    }
    let error = error.expect("16 requests cannot ship 20 commits one by one");
    assert!(error.contains("request budget (16) is spent"), "{error}");
}

#[tokio::test]
async fn under_a_budget_long_chains_are_folded_so_restores_stay_cheap() {
    let store = Arc::new(FaultyStore::new(memory(), 1));
    let p = Persistence::new(store.clone(), "actors").with_options(PersistOptions {
        request_budget: Some(RequestBudget { requests: 800 }),
        ..PersistOptions::default()
    });
    let mut actor = Instance::start(&p, 1).await.unwrap();
    actor.write("CREATE TABLE t (v INTEGER)");
    for i in 0..150 {
        actor.write(&format!("INSERT INTO t VALUES ({i})"));
        actor.flush().await.unwrap();
    }
    let (manifest, _) = p.read_manifest(&key()).await.unwrap();
    assert!(
        manifest.wal.segments < 100,
        "a chain of {} segments would cost a restore that many requests",
        manifest.wal.segments
    );
    drop(actor);
    store.reset_stats();
    let second = Instance::start(&p, 2).await.unwrap();
    assert!(store.stats().requests() < 110, "{:?}", store.stats());
    assert_eq!(dump(&second.db).len(), 150);
}

#[tokio::test]
async fn a_long_chain_over_a_small_database_is_worth_folding_at_a_stop() {
    let p = Persistence::new(memory(), "actors");
    let mut actor = Instance::start(&p, 1).await.unwrap();
    actor.write("CREATE TABLE t (v INTEGER)");
    actor.replica.flush().await.unwrap();
    for i in 0..6 {
        actor.write(&format!("INSERT INTO t VALUES ({i})"));
        actor.replica.flush().await.unwrap();
    }
    assert!(!actor.replica.status().fold_on_stop, "7 segments: not yet");
    actor.write("INSERT INTO t VALUES (6)");
    actor.replica.flush().await.unwrap();
    assert!(actor.replica.status().fold_on_stop);
    // The fold itself is a compaction: one snapshot, an empty chain, the same rows.
    actor.replica.rebase(&actor.db).unwrap();
    actor.replica.flush().await.unwrap();
    let (manifest, _) = p.read_manifest(&key()).await.unwrap();
    assert_eq!(manifest.wal.segments, 0);
    assert!(!actor.replica.status().fold_on_stop);
    let second = Instance::start(&p, 2).await.unwrap();
    assert_eq!(dump(&second.db).len(), 7);
}

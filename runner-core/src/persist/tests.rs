//! The persistence engine against an in-memory store: shipping, restore, fencing, compaction,
//! files, and failures.

use std::sync::Arc;

use super::scenarios::{Instance, dump, key, persisted};
use super::*;
use crate::object_store::{Fault, FaultPlan, FaultyStore, MemoryStore, PutMode};

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
    // One snapshot, whether one object or several parts.
    let snapshots = objects
        .iter()
        .filter(|o| o.key.contains("/snapshots/"))
        .map(|o| o.key.split(".part").next().unwrap_or_default())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
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

/// A guest can plant relative links in its files mount. A cold restore used to write each file
/// through `{name}.restoring` with a call that follows links, so a planted link redirected the
/// write out of the actor's directory (another tenant's data, a compiled artifact).
#[tokio::test]
async fn a_restore_never_writes_through_a_link_planted_in_the_mount() {
    let p = Persistence::new(memory(), "actors");
    let mut first = Instance::start(&p, 1).await.unwrap();
    std::fs::write(first.files_dir().join("x"), "the actor's file").unwrap();
    first.replica.after_commit(true);
    first.flush().await.unwrap();

    // The next instance's disk: the same actor directory, holding a link the guest planted
    // before a crash (no clean-stop marker, so the restore downloads).
    let root = tempfile::tempdir().unwrap();
    let files = root.path().join("ns/a1/files");
    std::fs::create_dir_all(&files).unwrap();
    let outside = root.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink("../../../outside/t", files.join("x.restoring")).unwrap();
    std::os::unix::fs::symlink("../../../outside/u", files.join("x")).unwrap();
    let second = Instance::start_in(&p, 2, root).await.unwrap();
    assert!(
        !outside.join("t").exists(),
        "the restore wrote through x.restoring"
    );
    assert!(!outside.join("u").exists(), "the restore wrote through x");
    let dir = second.files_dir();
    assert_eq!(
        std::fs::read_to_string(dir.join("x")).unwrap(),
        "the actor's file"
    );
    assert!(
        std::fs::symlink_metadata(dir.join("x.restoring")).is_err(),
        "planted links are removed by a restore"
    );
}

/// The shipper lists a file, then reads it while the actor's next call runs. A guest that swaps
/// the file for a link in between used to get the link's target uploaded (the runner's
/// environment, its secrets) and handed back on the next restore.
#[tokio::test]
async fn the_files_shipper_never_reads_through_a_link() {
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "RUNNER_SECRET=hunter2").unwrap();
    let store = memory();
    let tmp = tempfile::tempdir().unwrap();
    let files = tmp.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("x"), "harmless").unwrap();
    let mount = crate::disk::Mount::open(&files).unwrap();
    let mut index = files::scan(&mount, u64::MAX).unwrap();
    assert_eq!(index.len(), 1);
    std::fs::remove_file(files.join("x")).unwrap();
    std::os::unix::fs::symlink(secret.path(), files.join("x")).unwrap();
    files::upload(
        &store,
        &ActorPrefix::from_base("b"),
        &mount,
        &mut index,
        &files::FileIndex::new(),
    )
    .await
    .unwrap();
    for object in store.list("b/").await.unwrap() {
        let bytes = store.get(&object.key).await.unwrap().unwrap().bytes;
        assert!(
            !String::from_utf8_lossy(&bytes).contains("hunter2"),
            "{} holds the secret",
            object.key
        );
    }
    assert!(index.is_empty(), "a link is not a file: {index:?}");
    // A scan after the swap does not list it either.
    assert!(files::scan(&mount, u64::MAX).unwrap().is_empty());
}

/// The manifest write lands but every reply is lost. The next ship used to reuse the segment's
/// key, overwrite it with longer bytes, lose the compare-and-swap and call itself fenced; the
/// stored manifest then named a segment whose hash no longer matched, and every restore
/// failed as corrupt.
#[tokio::test]
async fn a_manifest_write_whose_replies_are_lost_never_corrupts_the_chain() {
    let store = Arc::new(FaultyStore::new(memory(), 7));
    let p = Persistence::new(store.clone(), "actors");
    let mut actor = Instance::start(&p, 1).await.unwrap();
    actor.write("CREATE TABLE t (v INTEGER)");
    actor.flush().await.unwrap();
    actor.write("INSERT INTO t VALUES (1)");
    store.set_plan(FaultPlan {
        lost_replies: Some(crate::object_store::LostReplies {
            key_contains: "manifest.json",
            puts: 4,
        }),
        ..FaultPlan::default()
    });
    let err = actor.flush().await.unwrap_err();
    assert!(err.to_string().contains("injected"), "{err}");
    assert_eq!(store.stats().lost_replies, 4, "the whole retry budget");
    store.set_plan(FaultPlan::default());
    actor.write("INSERT INTO t VALUES (2)");
    actor
        .flush()
        .await
        .expect("the lost write was this instance's own: not fenced");
    actor.write("INSERT INTO t VALUES (3)");
    actor.flush().await.unwrap();
    let expected = dump(&actor.db);
    drop(actor);
    let second = Instance::start(&p, 2).await.expect("restorable");
    assert_eq!(dump(&second.db), expected);
    assert_eq!(expected.len(), 3);
}

/// Wraps a store: just before the first manifest write armed by `arm`, an older generation's
/// shipper advances the manifest (as a zombie finishing a write would).
struct OlderWriterInterposes {
    inner: Arc<dyn ObjectStore>,
    armed: std::sync::atomic::AtomicBool,
}

impl ObjectStore for OlderWriterInterposes {
    fn get<'a>(
        &'a self,
        key: &'a str,
    ) -> crate::object_store::StoreFuture<'a, Option<crate::object_store::Object>> {
        self.inner.get(key)
    }
    fn get_range<'a>(
        &'a self,
        key: &'a str,
        range: std::ops::Range<u64>,
    ) -> crate::object_store::StoreFuture<'a, Option<bytes::Bytes>> {
        self.inner.get_range(key, range)
    }
    fn put<'a>(
        &'a self,
        key: &'a str,
        bytes: bytes::Bytes,
        mode: PutMode,
    ) -> crate::object_store::StoreFuture<'a, String> {
        Box::pin(async move {
            let armed = key.ends_with("manifest.json")
                && self.armed.swap(false, std::sync::atomic::Ordering::SeqCst);
            if armed {
                let current = self.inner.get(key).await?.expect("a manifest");
                let mut older: Manifest = serde_json::from_slice(&current.bytes).unwrap();
                older.seq += 1;
                self.inner
                    .put(
                        key,
                        older.encode(key).unwrap(),
                        PutMode::IfMatch(current.etag),
                    )
                    .await?;
            }
            self.inner.put(key, bytes, mode).await
        })
    }
    fn list<'a>(
        &'a self,
        prefix: &'a str,
    ) -> crate::object_store::StoreFuture<'a, Vec<crate::object_store::ObjectMeta>> {
        self.inner.list(prefix)
    }
    fn delete<'a>(&'a self, key: &'a str) -> crate::object_store::StoreFuture<'a, ()> {
        self.inner.delete(key)
    }
}

/// An older generation's write between the new generation's manifest read and its claim used
/// to make the new start fail as fenced, though the new generation outranks it.
#[tokio::test]
async fn an_older_generations_write_during_a_claim_does_not_fail_the_start() {
    let inner = memory();
    let interposer = Arc::new(OlderWriterInterposes {
        inner: inner.clone(),
        armed: false.into(),
    });
    let p = Persistence::new(interposer.clone(), "actors");
    let mut old = Instance::start(&p, 1).await.unwrap();
    old.write("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1)");
    old.flush().await.unwrap();
    interposer
        .armed
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let new = Instance::start(&p, 2)
        .await
        .expect("generation 2 outranks the older writer");
    assert_eq!(dump(&new.db).len(), 1);
    let (manifest, _) = p.read_manifest(&key()).await.unwrap();
    assert_eq!(manifest.generation, 2);
    // The older instance is fenced from now on.
    old.write("INSERT INTO t VALUES (2)");
    let err = old.flush().await.unwrap_err();
    assert!(err.to_string().contains("fenced"), "{err}");
}

/// A manifest declaring a huge WAL used to size an allocation before anything was checked.
#[tokio::test]
async fn a_manifest_that_lies_about_its_size_is_corrupt_not_an_allocation() {
    let store = memory();
    let p = Persistence::new(store.clone(), "actors");
    let mut actor = Instance::start(&p, 1).await.unwrap();
    actor.write("CREATE TABLE t (v INTEGER)");
    actor.flush().await.unwrap();
    drop(actor);
    let (mut manifest, etag) = p.read_manifest(&key()).await.unwrap();
    manifest.wal.len = 1 << 46;
    let manifest_key = "actors/ns/a1/manifest.json";
    store
        .put(
            manifest_key,
            manifest.encode(manifest_key).unwrap(),
            PutMode::IfMatch(etag.unwrap()),
        )
        .await
        .unwrap();
    match Instance::start(&p, 2).await {
        Err(PersistError::Corrupt { .. }) => {}
        Err(err) => panic!("not reported as corrupt: {err}"),
        Ok(_) => panic!("restored from a manifest that lies"),
    }
}

/// A guest can make a sparse file of a terabyte (no disk) with one WASI call; reading it whole to
/// hash it would exhaust the runner's memory. Files past the per-file limit, and mounts past the
/// quota, fail the ship with the reason instead, and nothing committed before is lost.
#[tokio::test]
async fn oversized_and_over_quota_files_fail_the_ship_clearly() {
    let p = Persistence::new(memory(), "actors").with_options(PersistOptions {
        max_files_bytes: 1 << 20,
        ..PersistOptions::default()
    });
    let mut actor = Instance::start(&p, 1).await.unwrap();
    actor.write("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1)");
    actor.flush().await.unwrap();
    let dir = actor.files_dir();
    let sparse = std::fs::File::create(dir.join("sparse")).unwrap();
    sparse.set_len(1 << 40).unwrap();
    actor.replica.after_commit(true);
    let err = actor.flush().await.unwrap_err();
    assert!(err.to_string().contains("at most"), "{err}");
    std::fs::remove_file(dir.join("sparse")).unwrap();
    for i in 0..3 {
        std::fs::write(dir.join(format!("f{i}")), vec![7u8; 400 << 10]).unwrap();
    }
    actor.replica.after_commit(true);
    let err = actor.flush().await.unwrap_err();
    assert!(err.to_string().contains("quota"), "{err}");
    // Under the quota again, everything ships; the rows were never at risk.
    std::fs::remove_file(dir.join("f2")).unwrap();
    actor.write("INSERT INTO t VALUES (2)");
    actor.replica.after_commit(true);
    actor.flush().await.unwrap();
    let expected = dump(&actor.db);
    drop(actor);
    let second = Instance::start(&p, 2).await.unwrap();
    assert_eq!(dump(&second.db), expected);
    assert!(second.files_dir().join("f1").exists());
}

/// A restore over a disk where the previous instance left a huge sparse file removes it instead
/// of reading it.
#[tokio::test]
async fn a_restore_removes_a_planted_sparse_file_without_reading_it() {
    let p = Persistence::new(memory(), "actors");
    let mut first = Instance::start(&p, 1).await.unwrap();
    first.write("CREATE TABLE t (v INTEGER)");
    first.flush().await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let files = root.path().join("ns/a1/files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::File::create(files.join("huge"))
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let second = Instance::start_in(&p, 2, root).await.unwrap();
    assert!(!second.files_dir().join("huge").exists());
}

/// Compaction uploads a large database in parts and a restore streams them (small parts in
/// tests); a part altered or cut short in the store is refused.
#[tokio::test]
async fn a_streamed_restore_refuses_an_altered_or_truncated_snapshot() {
    let store = memory();
    let p = Persistence::new(store.clone(), "actors");
    let mut actor = Instance::start(&p, 1).await.unwrap();
    actor.write("CREATE TABLE t (v BLOB); INSERT INTO t VALUES (randomblob(300000))");
    actor.flush().await.unwrap();
    actor.replica.rebase(&actor.db).unwrap();
    actor.flush().await.unwrap();
    let expected = dump(&actor.db);
    drop(actor);
    let (manifest, _) = p.read_manifest(&key()).await.unwrap();
    let snapshot = manifest.snapshot.clone().unwrap();
    assert!(
        snapshot.size > 4 * (64 << 10),
        "several parts: {}",
        snapshot.size
    );
    assert_eq!(
        snapshot.parts.map(u64::from),
        Some(snapshot.size.div_ceil(64 << 10)),
        "compaction uploads a large database in parts"
    );
    let restored = Instance::start(&p, 2).await.unwrap();
    assert_eq!(dump(&restored.db), expected);
    drop(restored);

    let victim = snapshot.part_key(1);
    let original = store.get(&victim).await.unwrap().unwrap().bytes;
    let mut altered = original.to_vec();
    altered[20_000] ^= 1;
    for bytes in [altered, original[..original.len() / 2].to_vec()] {
        store
            .put(&victim, bytes.into(), PutMode::Overwrite)
            .await
            .unwrap();
        match Instance::start(&p, 3).await {
            Err(PersistError::Corrupt { key, .. }) => assert_eq!(key, snapshot.key),
            Err(err) => panic!("not reported as corrupt: {err}"),
            Ok(_) => panic!("restored from an altered snapshot"),
        }
    }
}

/// A replica's starting status is not a change: the actor's loop must not wake (and, with a
/// spent budget, ask to sleep) before anything was shipped.
#[tokio::test]
async fn a_fresh_replica_reports_no_change_before_its_first_ship() {
    let p = Persistence::new(memory(), "actors");
    let dir = tempfile::tempdir().unwrap();
    let mut replica = p.restore(&key(), 1, dir.path()).await.unwrap();
    let changed = tokio::time::timeout(std::time::Duration::from_millis(300), replica.changed());
    assert!(changed.await.is_err(), "the status changed before any ship");
}

//! The persistence engine against an in-memory store: shipping, restore, fencing, compaction,
//! files, and failures.

use std::sync::Arc;

use rusqlite::Connection;

use super::*;
use crate::object_store::{Fault, FaultPlan, FaultyStore, MemoryStore};
use crate::storage::{ActorStore, close_database};

fn key() -> ActorKey {
    ActorKey {
        namespace: "ns".into(),
        actor_id: "a1".into(),
    }
}

/// One running instance: a data directory, a claimed replica and the open database.
struct Instance {
    _root: tempfile::TempDir,
    local: ActorStore,
    replica: Replica,
    db: Connection,
}

impl Instance {
    async fn start(p: &Persistence, generation: u32) -> Result<Self, PersistError> {
        Self::start_in(p, generation, tempfile::tempdir().unwrap()).await
    }

    async fn start_in(
        p: &Persistence,
        generation: u32,
        root: tempfile::TempDir,
    ) -> Result<Self, PersistError> {
        let local = ActorStore::new(root.path());
        let replica = p
            .restore(&key(), generation, &local.actor_dir(&key()))
            .await?;
        let db = local.open(&key(), true).unwrap().db;
        Ok(Self {
            _root: root,
            local,
            replica,
            db,
        })
    }

    fn files_dir(&self) -> std::path::PathBuf {
        self.local.actor_dir(&key()).join(crate::storage::FILES_DIR)
    }

    /// Runs `sql` as one transaction and reports the commit.
    fn write(&mut self, sql: &str) {
        self.db
            .execute_batch(&format!("BEGIN; {sql}; COMMIT;"))
            .unwrap();
        self.replica.after_commit(false);
    }

    async fn flush(&mut self) -> Result<String, PersistError> {
        let id = self.replica.flush().await?;
        if self.replica.status().compact {
            self.replica.rebase(&self.db)?;
            return self.replica.flush().await;
        }
        Ok(id)
    }

    /// A clean stop: flush, close, mark the local copy.
    async fn stop(mut self) -> tempfile::TempDir {
        let id = self.flush().await.unwrap();
        close_database(self.db, true).unwrap();
        self.replica.mark_clean(&id).unwrap();
        self._root
    }
}

fn dump(db: &Connection) -> Vec<String> {
    let mut tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    tables.retain(|t| !t.starts_with("sqlite_"));
    let mut out = Vec::new();
    for table in tables {
        let mut stmt = db
            .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY rowid"))
            .unwrap();
        let columns = stmt.column_count();
        let rows = stmt
            .query_map([], |row| {
                let mut line = format!("{table}:");
                for i in 0..columns {
                    let value: rusqlite::types::Value = row.get(i)?;
                    line.push_str(&format!("{value:?}|"));
                }
                Ok(line)
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

/// Restores the persisted state into a fresh directory (no claim) and dumps it.
async fn persisted(p: &Persistence) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    p.export(&key(), dir.path()).await.unwrap();
    let db = Connection::open(dir.path().join("actor.db")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    dump(&db)
}

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
    let p = Persistence::new(memory(), "actors");
    let mut zombie = Instance::start(&p, 1).await.unwrap();
    zombie.write("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('old')");
    zombie.flush().await.unwrap();

    let mut owner = Instance::start(&p, 2).await.unwrap();
    owner.write("INSERT INTO t VALUES ('new')");
    owner.flush().await.unwrap();

    zombie.write("INSERT INTO t VALUES ('zombie')");
    let err = zombie.flush().await.unwrap_err();
    assert!(err.to_string().contains("generation"), "{err}");
    assert!(zombie.replica.status().fenced);
    // Still fenced on the next try; the owner's data is intact and it keeps writing.
    zombie.write("INSERT INTO t VALUES ('zombie 2')");
    assert!(zombie.flush().await.is_err());
    owner.write("INSERT INTO t VALUES ('newer')");
    owner.flush().await.unwrap();
    let rows = persisted(&p).await;
    assert_eq!(
        rows,
        ["t:Text(\"old\")|", "t:Text(\"new\")|", "t:Text(\"newer\")|"]
    );

    // An older generation cannot even start.
    let err = Instance::start(&p, 1).await.err().unwrap();
    assert!(
        matches!(
            err,
            PersistError::Fenced {
                ours: 1,
                theirs: 2,
                ..
            }
        ),
        "{err}"
    );
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

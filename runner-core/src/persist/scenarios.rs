//! Persistence scenarios that run against any object store: the unit tests run them on the
//! in-memory store, the end-to-end tests on S3 (feature `testing`).

#![allow(
    missing_docs,
    clippy::missing_panics_doc,
    reason = "test scaffolding: panics are test failures"
)]

use std::sync::Arc;

use rusqlite::Connection;

use super::{PersistError, Persistence, Replica};
use crate::object_store::ObjectStore;
use crate::storage::{ActorKey, ActorStore, close_database};

pub fn key() -> ActorKey {
    ActorKey {
        namespace: "ns".into(),
        actor_id: "a1".into(),
    }
}

/// One running instance: a data directory, a claimed replica and the open database.
pub struct Instance {
    _root: tempfile::TempDir,
    local: ActorStore,
    /// The actor's replica.
    pub replica: Replica,
    /// The open database.
    pub db: Connection,
}

impl Instance {
    pub async fn start(p: &Persistence, generation: u32) -> Result<Self, PersistError> {
        Self::start_in(p, generation, tempfile::tempdir().unwrap()).await
    }

    pub async fn start_in(
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

    /// Bytes in the local WAL file and in the database file.
    pub fn local_sizes(&self) -> (u64, u64) {
        let db = self.local.actor_dir(&key()).join(crate::storage::DB_FILE);
        let size = |path: &std::path::Path| std::fs::metadata(path).map_or(0, |m| m.len());
        let mut wal = db.clone().into_os_string();
        wal.push("-wal");
        (size(std::path::Path::new(&wal)), size(&db))
    }

    pub fn files_dir(&self) -> std::path::PathBuf {
        self.local.actor_dir(&key()).join(crate::storage::FILES_DIR)
    }

    /// Runs `sql` as one transaction and reports the commit.
    pub fn write(&mut self, sql: &str) {
        self.db
            .execute_batch(&format!("BEGIN; {sql}; COMMIT;"))
            .unwrap();
        self.replica.after_commit(false);
    }

    pub async fn flush(&mut self) -> Result<String, PersistError> {
        let id = self.replica.flush().await?;
        if self.replica.status().compact {
            self.replica.rebase(&self.db)?;
            return self.replica.flush().await;
        }
        Ok(id)
    }

    /// A clean stop: flush, close, mark the local copy.
    pub async fn stop(mut self) -> tempfile::TempDir {
        let id = self.flush().await.unwrap();
        close_database(self.db, true).unwrap();
        self.replica.mark_clean(&id).unwrap();
        self._root
    }
}

pub fn dump(db: &Connection) -> Vec<String> {
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
pub async fn persisted(p: &Persistence) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    p.export(&key(), dir.path()).await.unwrap();
    let db = Connection::open(dir.path().join("actor.db")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    dump(&db)
}

/// A generation keeps writing after a newer one claimed the actor: its writes fail with
/// [`PersistError::Fenced`], the newer state is intact, and an older generation cannot start.
pub async fn zombie_is_fenced(store: Arc<dyn ObjectStore>) -> Result<(), PersistError> {
    let p = Persistence::new(store, "actors");
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
    Ok(())
}

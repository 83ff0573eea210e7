//! Where an actor's data lives while it runs.
//!
//! Each actor owns one directory: `{data_dir}/{namespace}/{actor_id}/` holding `actor.db` (a
//! SQLite database in WAL mode with the user's tables and the runner's internal `_rivet_*`
//! tables, persisted state included) and `files/` (the actor's mount). Keeping state inside the
//! same database as the user's tables makes every action one atomic commit: state and rows can
//! never disagree after a crash.
//!
//! This is the seam the object-store persistence replaces: [`ActorStore`] decides where the
//! directory comes from before an actor starts and what happens to it after it stops.

use std::path::{Path, PathBuf};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension};

use crate::error::StorageError;

/// The database file in an actor's directory.
pub const DB_FILE: &str = "actor.db";
/// The actor's mounted files directory, inside its directory.
pub const FILES_DIR: &str = "files";

/// Identifies one actor's data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActorKey {
    /// Engine namespace name.
    pub namespace: String,
    /// Rivet actor id.
    pub actor_id: String,
}

/// Local directory layout for actor data.
#[derive(Debug, Clone)]
pub struct ActorStore {
    root: PathBuf,
    max_db_bytes: u64,
}

/// The longest string or blob one SQL value may hold. A value is held whole in memory where it
/// is read (and a JavaScript actor's blob many times over), so `zeroblob(1e9)` is refused
/// instead of exhausting the runner's memory.
pub const MAX_SQL_VALUE_BYTES: i32 = 32 << 20;

/// The opened local data of one actor.
#[derive(Debug)]
pub struct ActorFiles {
    /// The actor's directory.
    pub dir: PathBuf,
    /// The actor's mounted files directory.
    pub files_dir: PathBuf,
    /// Open database connection.
    pub db: Connection,
}

impl ActorStore {
    /// Stores actor data under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            max_db_bytes: u64::MAX,
        }
    }

    /// Caps each actor's database at `bytes` (a quota; SQLite's `max_page_count`).
    pub fn with_max_db_bytes(mut self, bytes: u64) -> Self {
        self.max_db_bytes = bytes;
        self
    }

    /// The directory of one actor.
    pub fn actor_dir(&self, key: &ActorKey) -> PathBuf {
        self.root
            .join(sanitize(&key.namespace))
            .join(sanitize(&key.actor_id))
    }

    /// Opens (creating if needed) the actor's database and files directory. A `replicated`
    /// database never checkpoints on its own: its WAL is what gets shipped (see
    /// [`crate::persist`]), and only compaction folds it into the database file.
    pub fn open(&self, key: &ActorKey, replicated: bool) -> Result<ActorFiles, StorageError> {
        let dir = self.actor_dir(key);
        let files_dir = dir.join(FILES_DIR);
        create_dir(&files_dir)?;
        let db = open_database(&dir.join(DB_FILE), replicated, self.max_db_bytes)?;
        Ok(ActorFiles { dir, files_dir, db })
    }

    /// Removes every trace of the actor (on destroy).
    pub fn destroy(&self, key: &ActorKey) -> Result<(), StorageError> {
        let dir = self.actor_dir(key);
        crate::disk::remove_dir_all(&dir).map_err(|source| StorageError::Io {
            action: "remove actor directory",
            path: dir.display().to_string(),
            source,
        })
    }
}

/// Closes the database. A local-only database first folds its WAL into the main file, so the
/// directory is one self-contained file at rest; a replicated one keeps its WAL, which is
/// exactly what the object store holds.
pub fn close_database(db: Connection, replicated: bool) -> Result<(), StorageError> {
    if !replicated {
        db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    db.close().map_err(|(_, err)| StorageError::Sqlite(err))
}

/// Reads the persisted state blob, if the actor was created before.
pub fn load_state(db: &Connection) -> Result<Option<Vec<u8>>, StorageError> {
    Ok(db
        .query_row("SELECT state FROM _rivet_state WHERE id = 0", [], |row| {
            row.get(0)
        })
        .optional()?)
}

/// Writes the state blob (inside the caller's transaction).
pub fn save_state(db: &Connection, state: &[u8]) -> Result<(), StorageError> {
    db.execute(
        "INSERT INTO _rivet_state (id, state) VALUES (0, ?1)
         ON CONFLICT(id) DO UPDATE SET state = excluded.state",
        [state],
    )?;
    Ok(())
}

fn open_database(
    path: &Path,
    replicated: bool,
    max_db_bytes: u64,
) -> Result<Connection, StorageError> {
    let db = crate::disk::open_database(path)?;
    db.set_limit(
        rusqlite::limits::Limit::SQLITE_LIMIT_LENGTH,
        MAX_SQL_VALUE_BYTES,
    )?;
    // With no spill (below), a transaction's pages stay in memory: the page quota bounds them.
    let page_size: i64 = db.query_row("PRAGMA page_size", [], |row| row.get(0))?;
    let page_size = u64::try_from(page_size).unwrap_or(4096);
    let max_pages = (max_db_bytes / page_size.max(512)).clamp(1, u64::from(u32::MAX - 1));
    db.execute_batch(&format!("PRAGMA max_page_count = {max_pages};"))?;
    if replicated {
        // The shipper reads committed WAL bytes: no checkpoint may rewrite the log under it
        // (autocheckpoint, close), and no transaction may spill uncommitted pages into it.
        db.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
        db.execute_batch("PRAGMA wal_autocheckpoint = 0; PRAGMA cache_spill = OFF;")?;
    }
    // WAL + synchronous=NORMAL: a commit survives a process crash (the WAL is written before
    // the commit returns); fsync happens at checkpoints. busy_timeout guards against a stale
    // process that still holds the file after a fast restart.
    db.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA busy_timeout = 5000;
         PRAGMA foreign_keys = ON;
         CREATE TABLE IF NOT EXISTS _rivet_state (id INTEGER PRIMARY KEY CHECK (id = 0), state BLOB NOT NULL);
         CREATE TABLE IF NOT EXISTS _rivet_schedule (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             at_ms INTEGER NOT NULL,
             action TEXT NOT NULL,
             args BLOB NOT NULL
         );",
    )?;
    db.execute_batch(crate::actor::CRON_SCHEMA)?;
    db.execute_batch(crate::actor::QUEUE_SCHEMA)?;
    Ok(db)
}

fn create_dir(path: &Path) -> Result<(), StorageError> {
    crate::disk::create_dir_all(path).map_err(|source| StorageError::Io {
        action: "create actor directory",
        path: path.display().to_string(),
        source,
    })
}

/// Keeps a path component inside its parent whatever the engine sends.
fn sanitize(component: &str) -> String {
    let cleaned: String = component
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "_".to_owned()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> ActorKey {
        ActorKey {
            namespace: "default".into(),
            actor_id: id.into(),
        }
    }

    #[test]
    fn state_round_trips_through_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ActorStore::new(tmp.path());
        let files = store.open(&key("a1"), false).unwrap();
        assert_eq!(load_state(&files.db).unwrap(), None);
        save_state(&files.db, b"v1").unwrap();
        save_state(&files.db, b"v2").unwrap();
        close_database(files.db, false).unwrap();

        let files = store.open(&key("a1"), false).unwrap();
        assert_eq!(load_state(&files.db).unwrap().as_deref(), Some(&b"v2"[..]));
    }

    #[test]
    fn destroy_removes_the_directory_and_is_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ActorStore::new(tmp.path());
        let files = store.open(&key("a2"), false).unwrap();
        close_database(files.db, false).unwrap();
        assert!(store.actor_dir(&key("a2")).exists());
        store.destroy(&key("a2")).unwrap();
        assert!(!store.actor_dir(&key("a2")).exists());
        store.destroy(&key("a2")).unwrap();
    }

    #[test]
    fn a_database_over_its_quota_refuses_the_write_and_keeps_what_was_committed() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ActorStore::new(tmp.path()).with_max_db_bytes(256 << 10);
        let files = store.open(&key("q1"), false).unwrap();
        files
            .db
            .execute_batch("CREATE TABLE t (v BLOB); INSERT INTO t VALUES (randomblob(1000));")
            .unwrap();
        let err = files
            .db
            .execute_batch("BEGIN; INSERT INTO t VALUES (randomblob(1000000)); COMMIT;")
            .unwrap_err();
        assert!(err.to_string().contains("full"), "{err}");
        let _ = files.db.execute_batch("ROLLBACK");
        let rows: i64 = files
            .db
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
        // One value is capped whatever the quota: no gigabyte blob in memory.
        let err = files
            .db
            .query_row("SELECT length(zeroblob(999999999))", [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap_err();
        assert!(err.to_string().contains("too big"), "{err}");
    }

    #[test]
    fn hostile_ids_stay_inside_the_root() {
        let store = ActorStore::new("/data");
        let dir = store.actor_dir(&ActorKey {
            namespace: "..".into(),
            actor_id: "../../etc".into(),
        });
        assert_eq!(dir, PathBuf::from("/data/__/______etc"));
    }
}

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
}

/// The opened local data of one actor.
#[derive(Debug)]
pub struct ActorFiles {
    /// The actor's directory.
    pub dir: PathBuf,
    /// The actor's mounted files directory.
    pub files_dir: PathBuf,
    /// Open database connection.
    pub db: Connection,
    /// Whether the WAL is shipped (no automatic checkpoints).
    pub replicated: bool,
}

impl ActorStore {
    /// Stores actor data under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
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
        let db = open_database(&dir.join(DB_FILE), replicated)?;
        Ok(ActorFiles {
            dir,
            files_dir,
            db,
            replicated,
        })
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

fn open_database(path: &Path, replicated: bool) -> Result<Connection, StorageError> {
    let db = crate::disk::open_database(path)?;
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
    fn hostile_ids_stay_inside_the_root() {
        let store = ActorStore::new("/data");
        let dir = store.actor_dir(&ActorKey {
            namespace: "..".into(),
            actor_id: "../../etc".into(),
        });
        assert_eq!(dir, PathBuf::from("/data/__/______etc"));
    }
}

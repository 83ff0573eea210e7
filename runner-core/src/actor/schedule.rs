//! Scheduled actions, stored in the actor's database so they survive sleep and restarts.

use rusqlite::{Connection, OptionalExtension};

/// A scheduled action that is due.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scheduled {
    pub(crate) id: i64,
    pub(crate) action: String,
    pub(crate) args: Vec<u8>,
}

pub(crate) use crate::rt::now_ms;

pub(crate) fn insert(
    db: &Connection,
    at_ms: i64,
    action: &str,
    args: &[u8],
) -> rusqlite::Result<()> {
    db.execute(
        "INSERT INTO _rivet_schedule (at_ms, action, args) VALUES (?1, ?2, ?3)",
        rusqlite::params![at_ms, action, args],
    )?;
    Ok(())
}

/// The time of the earliest scheduled action.
pub(crate) fn next_due(db: &Connection) -> rusqlite::Result<Option<i64>> {
    db.query_row("SELECT MIN(at_ms) FROM _rivet_schedule", [], |row| {
        row.get(0)
    })
    .optional()
    .map(Option::flatten)
}

/// The earliest action due at `now`, if any.
pub(crate) fn take_due(db: &Connection, now: i64) -> rusqlite::Result<Option<Scheduled>> {
    db.query_row(
        "SELECT id, action, args FROM _rivet_schedule WHERE at_ms <= ?1 ORDER BY at_ms, id LIMIT 1",
        [now],
        |row| {
            Ok(Scheduled {
                id: row.get(0)?,
                action: row.get(1)?,
                args: row.get(2)?,
            })
        },
    )
    .optional()
}

pub(crate) fn remove(db: &Connection, id: i64) -> rusqlite::Result<()> {
    db.execute("DELETE FROM _rivet_schedule WHERE id = ?1", [id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch(
            "CREATE TABLE _rivet_schedule (id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, action TEXT NOT NULL, args BLOB NOT NULL);",
        )
        .unwrap();
        db
    }

    #[test]
    fn due_actions_come_out_in_time_order() {
        let db = db();
        assert_eq!(next_due(&db).unwrap(), None);
        insert(&db, 200, "b", b"2").unwrap();
        insert(&db, 100, "a", b"1").unwrap();
        assert_eq!(next_due(&db).unwrap(), Some(100));
        assert_eq!(take_due(&db, 50).unwrap(), None);
        let first = take_due(&db, 300).unwrap().unwrap();
        assert_eq!(first.action, "a");
        remove(&db, first.id).unwrap();
        assert_eq!(take_due(&db, 300).unwrap().unwrap().action, "b");
    }
}

//! Scheduled actions, stored in the actor's database so they survive sleep and restarts.

use rusqlite::{Connection, OptionalExtension};

/// A scheduled action that is due.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scheduled {
    pub(crate) id: i64,
    /// When it was due, in ms since the Unix epoch.
    pub(crate) at_ms: i64,
    pub(crate) action: String,
    pub(crate) args: Vec<u8>,
}

pub(crate) use crate::rt::now_ms;

use super::definition::ActionError;

/// Pending schedules one actor may hold (RivetKit's `maxSchedules`).
pub(crate) const MAX_SCHEDULES: i64 = 1000;
/// The largest arguments one schedule carries: all pending ones together (listed at once by
/// `c.schedule.list`) then stay within 16 MiB.
pub(crate) const MAX_SCHEDULE_ARGS_BYTES: usize = 16 << 10;

/// A pending scheduled action, as `c.schedule.get` and `c.schedule.list` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledEvent {
    /// The id `schedule_at`/`schedule_after` returned.
    pub id: String,
    /// The action it calls.
    pub action: String,
    /// Its arguments (a CBOR array).
    pub args: Vec<u8>,
    /// When it runs, in ms since the Unix epoch.
    pub run_at_ms: i64,
}

/// Stores a scheduled action; returns its id. Past [`MAX_SCHEDULES`] pending ones it is
/// refused.
pub(crate) fn insert(
    db: &Connection,
    at_ms: i64,
    action: &str,
    args: &[u8],
) -> Result<String, ActionError> {
    if args.len() > MAX_SCHEDULE_ARGS_BYTES {
        return Err(ActionError::new(
            "actor",
            "schedule_args_too_large",
            format!(
                "a schedule's arguments are at most {MAX_SCHEDULE_ARGS_BYTES} bytes encoded; store larger data in the state or the database"
            ),
        ));
    }
    if pending_count(db)? >= MAX_SCHEDULES {
        return Err(ActionError::new(
            "actor",
            "too_many_schedules",
            format!(
                "an actor holds at most {MAX_SCHEDULES} pending schedules and cron jobs together; cancel some first"
            ),
        ));
    }
    db.execute(
        "INSERT INTO _rivet_schedule (at_ms, action, args) VALUES (?1, ?2, ?3)",
        rusqlite::params![at_ms, action, args],
    )?;
    Ok(db.last_insert_rowid().to_string())
}

/// Pending one-shot schedules and cron jobs together: RivetKit's `maxSchedules` counts both.
pub(crate) fn pending_count(db: &Connection) -> rusqlite::Result<i64> {
    db.query_row(
        "SELECT (SELECT COUNT(*) FROM _rivet_schedule) + (SELECT COUNT(*) FROM _rivet_cron)",
        [],
        |row| row.get(0),
    )
}

/// Removes the pending schedule `id`; `false` if there is none (it ran, or never existed).
pub(crate) fn cancel(db: &Connection, id: &str) -> Result<bool, ActionError> {
    let Ok(id) = id.parse::<i64>() else {
        return Ok(false);
    };
    Ok(db.execute("DELETE FROM _rivet_schedule WHERE id = ?1", [id])? > 0)
}

/// The pending schedule `id`, if any.
pub(crate) fn get(db: &Connection, id: &str) -> Result<Option<ScheduledEvent>, ActionError> {
    let Ok(id) = id.parse::<i64>() else {
        return Ok(None);
    };
    Ok(db
        .query_row(
            "SELECT id, action, args, at_ms FROM _rivet_schedule WHERE id = ?1",
            [id],
            event,
        )
        .optional()?)
}

/// Every pending schedule, soonest first.
pub(crate) fn list(db: &Connection) -> Result<Vec<ScheduledEvent>, ActionError> {
    let mut statement =
        db.prepare("SELECT id, action, args, at_ms FROM _rivet_schedule ORDER BY at_ms, id")?;
    let events = statement.query_map([], event)?;
    Ok(events.collect::<Result<_, _>>()?)
}

fn event(row: &rusqlite::Row<'_>) -> rusqlite::Result<ScheduledEvent> {
    Ok(ScheduledEvent {
        id: row.get::<_, i64>(0)?.to_string(),
        action: row.get(1)?,
        args: row.get(2)?,
        run_at_ms: row.get(3)?,
    })
}

/// The time of the earliest scheduled action or cron job: the actor's alarm.
pub(crate) fn next_due(db: &Connection) -> rusqlite::Result<Option<i64>> {
    db.query_row(
        "SELECT MIN(at) FROM (SELECT MIN(at_ms) AS at FROM _rivet_schedule
                              UNION ALL SELECT MIN(next_ms) FROM _rivet_cron)",
        [],
        |row| row.get(0),
    )
}

/// The earliest action due at `now`, if any.
pub(crate) fn take_due(db: &Connection, now: i64) -> rusqlite::Result<Option<Scheduled>> {
    db.query_row(
        "SELECT id, at_ms, action, args FROM _rivet_schedule WHERE at_ms <= ?1 ORDER BY at_ms, id LIMIT 1",
        [now],
        |row| {
            Ok(Scheduled {
                id: row.get(0)?,
                at_ms: row.get(1)?,
                action: row.get(2)?,
                args: row.get(3)?,
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
        db.execute_batch(super::super::cron::SCHEMA).unwrap();
        db
    }

    #[test]
    fn schedules_have_ids_that_cancel_get_and_list_use() {
        let db = db();
        let late = insert(&db, 300, "late", b"\x80").unwrap();
        let soon = insert(&db, 100, "soon", b"\x81\x01").unwrap();
        assert_ne!(late, soon);
        let listed: Vec<_> = list(&db).unwrap().into_iter().map(|e| e.action).collect();
        assert_eq!(listed, ["soon", "late"]);
        let got = get(&db, &soon).unwrap().unwrap();
        assert_eq!(
            (got.run_at_ms, got.args.as_slice()),
            (100, &b"\x81\x01"[..])
        );
        assert!(cancel(&db, &soon).unwrap());
        assert!(
            !cancel(&db, &soon).unwrap(),
            "a second cancel finds nothing"
        );
        assert!(!cancel(&db, "not-an-id").unwrap());
        assert_eq!(get(&db, &soon).unwrap(), None);
        assert_eq!(list(&db).unwrap().len(), 1);
    }

    #[test]
    fn pending_schedules_are_bounded() {
        let db = db();
        for i in 0..MAX_SCHEDULES {
            insert(&db, i, "a", b"\x80").unwrap();
        }
        let err = insert(&db, 0, "a", b"\x80").unwrap_err();
        assert_eq!(err.code, "too_many_schedules");
        let big = vec![0u8; MAX_SCHEDULE_ARGS_BYTES + 1];
        assert_eq!(
            insert(&db, 0, "a", &big).unwrap_err().code,
            "schedule_args_too_large"
        );
        let first = list(&db).unwrap()[0].id.clone();
        assert!(cancel(&db, &first).unwrap());
        insert(&db, 0, "a", b"\x80").unwrap();
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

//! RivetKit's actor queue: durable messages by name, sent by clients (`POST /queue/{name}`,
//! to the queues the actor declares) or by the actor itself, and received in the order they
//! were sent. A message lives in the actor's database (`_rivet_queue`), written in the
//! transaction of the call that sent it; receiving removes it in the receiver's, unless it is
//! received to be completed (RivetKit's `completable`), in which case completing it removes it.

use rusqlite::{Connection, OptionalExtension, params};

use super::definition::ActionError;

/// Messages one actor's queue holds at most (RivetKit's `maxQueueSize`).
pub(crate) const MAX_QUEUE_SIZE: i64 = 1_000;
/// The largest message body, CBOR-encoded (RivetKit's `maxQueueMessageSize`).
pub(crate) const MAX_MESSAGE_BYTES: usize = 65_536;
/// The longest queue name.
pub(crate) const MAX_NAME_BYTES: usize = 256;
/// Messages one receive returns at most.
pub(crate) const MAX_BATCH: usize = 1_000;
/// Body bytes one receive returns at most (past the first message): a batch is copied into
/// the actor's runtime, and a full queue of large messages is not.
pub(crate) const MAX_BATCH_BYTES: usize = 1 << 20;
/// Names one receive filters on at most.
pub(crate) const MAX_NAMES: usize = 64;

/// The queue's table, created with the actor's database.
pub(crate) const QUEUE_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS _rivet_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS _rivet_queue_by_name ON _rivet_queue (name, id);";

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueMessage {
    /// Increasing in the order messages were sent; never reused.
    pub id: i64,
    pub name: String,
    /// The body, CBOR.
    #[serde(skip)]
    pub body: Vec<u8>,
    /// When it was sent, in milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// Adds a message to the queue.
pub(crate) fn send(
    db: &Connection,
    name: &str,
    body: &[u8],
    now_ms: i64,
) -> Result<QueueMessage, ActionError> {
    check_name(name)?;
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(ActionError::new(
            "queue",
            "message_too_large",
            format!(
                "Queue message too large ({} bytes). Limit is {MAX_MESSAGE_BYTES} bytes.",
                body.len()
            ),
        ));
    }
    let size: i64 = db
        .query_row("SELECT COUNT(*) FROM _rivet_queue", [], |row| row.get(0))
        .map_err(ActionError::internal)?;
    if size >= MAX_QUEUE_SIZE {
        return Err(ActionError::new(
            "queue",
            "full",
            format!("Queue is full. Limit is {MAX_QUEUE_SIZE} messages."),
        ));
    }
    db.execute(
        "INSERT INTO _rivet_queue (name, body, created_at) VALUES (?1, ?2, ?3)",
        params![name, body, now_ms],
    )
    .map_err(ActionError::internal)?;
    Ok(QueueMessage {
        id: db.last_insert_rowid(),
        name: name.to_owned(),
        body: body.to_vec(),
        created_at: now_ms,
    })
}

/// Up to `count` of the oldest messages, of `names` if given (none or an empty list: any),
/// and at most [`MAX_BATCH_BYTES`] of bodies past the first. Unless `completable`, they are
/// removed; a completable one stays until [`complete`] removes it.
pub(crate) fn receive(
    db: &Connection,
    names: Option<&[String]>,
    count: usize,
    completable: bool,
) -> Result<Vec<QueueMessage>, ActionError> {
    let names = names.filter(|names| !names.is_empty());
    if names.is_some_and(|names| names.len() > MAX_NAMES) {
        return Err(ActionError::new(
            "queue",
            "too_many_names",
            format!("a receive names at most {MAX_NAMES} queues"),
        ));
    }
    let count = count.clamp(1, MAX_BATCH);
    let filter = names.map_or(String::new(), |names| {
        format!("WHERE name IN ({})", vec!["?"; names.len()].join(", "))
    });
    // Only placeholders are spliced in: one statement per number of names.
    let sql =
        format!("SELECT id, name, body, created_at FROM _rivet_queue {filter} ORDER BY id LIMIT ?");
    let mut statement = db.prepare_cached(&sql).map_err(ActionError::internal)?;
    let mut params: Vec<rusqlite::types::Value> = names
        .unwrap_or_default()
        .iter()
        .map(|name| rusqlite::types::Value::Text(name.clone()))
        .collect();
    params.push(rusqlite::types::Value::Integer(count as i64));
    let params = rusqlite::params_from_iter(params);
    let mut rows = statement.query(params).map_err(ActionError::internal)?;
    let mut taken: Vec<QueueMessage> = Vec::new();
    let mut bytes = 0usize;
    while let Some(row) = rows.next().map_err(ActionError::internal)? {
        let body: Vec<u8> = row.get(2).map_err(ActionError::internal)?;
        bytes += body.len();
        if !taken.is_empty() && bytes > MAX_BATCH_BYTES {
            break;
        }
        taken.push(QueueMessage {
            id: row.get(0).map_err(ActionError::internal)?,
            name: row.get(1).map_err(ActionError::internal)?,
            body,
            created_at: row.get(3).map_err(ActionError::internal)?,
        });
    }
    drop(rows);
    if !completable {
        for message in &taken {
            db.execute("DELETE FROM _rivet_queue WHERE id = ?1", [message.id])
                .map_err(ActionError::internal)?;
        }
    }
    Ok(taken)
}

/// Whether any message waits.
pub(crate) fn is_empty(db: &Connection) -> Result<bool, ActionError> {
    db.query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM _rivet_queue)",
        [],
        |row| row.get(0),
    )
    .map_err(ActionError::internal)
}

/// Removes completed message `id`; `false` if it is gone already. A message of another name is
/// refused (`queue.message_identity_mismatch`) and kept.
pub(crate) fn complete(db: &Connection, id: i64, name: &str) -> Result<bool, ActionError> {
    let actual: Option<String> = db
        .query_row("SELECT name FROM _rivet_queue WHERE id = ?1", [id], |row| {
            row.get(0)
        })
        .optional()
        .map_err(ActionError::internal)?;
    match actual {
        None => Ok(false),
        Some(actual) if actual != name => Err(ActionError::new(
            "queue",
            "message_identity_mismatch",
            format!("Queue message {id} is named '{actual}', not '{name}'."),
        )),
        Some(_) => {
            db.execute("DELETE FROM _rivet_queue WHERE id = ?1", [id])
                .map_err(ActionError::internal)?;
            Ok(true)
        }
    }
}

fn check_name(name: &str) -> Result<(), ActionError> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(ActionError::new(
            "queue",
            "invalid_name",
            format!("a queue name is 1 to {MAX_NAME_BYTES} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch(QUEUE_SCHEMA).unwrap();
        db
    }

    #[test]
    fn messages_come_out_in_order_by_name_and_leave_unless_completable() {
        let db = db();
        for (name, body) in [("a", 1u8), ("b", 2), ("a", 3)] {
            send(&db, name, &[body], 10).unwrap();
        }
        let only_a = vec!["a".to_owned()];
        let held = receive(&db, Some(&only_a), 5, true).unwrap();
        assert_eq!(held.iter().map(|m| m.body[0]).collect::<Vec<_>>(), [1, 3]);
        let again = receive(&db, Some(&only_a), 1, false).unwrap();
        assert_eq!(
            again[0].body,
            [1],
            "a completable receive leaves the message"
        );
        assert!(complete(&db, held[1].id, "a").unwrap());
        assert!(
            !complete(&db, held[1].id, "a").unwrap(),
            "completing twice is a no-op"
        );
        let rest = receive(&db, None, 10, false).unwrap();
        assert_eq!(rest.iter().map(|m| m.body[0]).collect::<Vec<_>>(), [2]);
        assert!(receive(&db, None, 10, false).unwrap().is_empty());
        let next = send(&db, "a", &[4], 11).unwrap();
        assert!(next.id > held[1].id, "ids are not reused");
        let any = receive(&db, Some(&[]), 5, false).unwrap();
        assert_eq!(
            any.len(),
            1,
            "an empty list of names is any name, as in RivetKit"
        );
        assert!(is_empty(&db).unwrap());
    }

    #[test]
    fn a_batch_stops_at_its_byte_budget_but_always_takes_one() {
        let db = db();
        for _ in 0..40 {
            send(&db, "big", &vec![7; MAX_MESSAGE_BYTES], 0).unwrap();
        }
        let batch = receive(&db, None, 1_000, false).unwrap();
        assert_eq!(batch.len(), MAX_BATCH_BYTES / MAX_MESSAGE_BYTES);
        let too_many: Vec<String> = (0..=MAX_NAMES).map(|i| i.to_string()).collect();
        assert_eq!(
            receive(&db, Some(&too_many), 1, false).unwrap_err().code,
            "too_many_names"
        );
    }

    #[test]
    fn the_queue_and_its_messages_are_bounded() {
        let db = db();
        let err = send(&db, "a", &vec![0; MAX_MESSAGE_BYTES + 1], 0).unwrap_err();
        assert_eq!(err.code, "message_too_large");
        assert_eq!(send(&db, "", &[], 0).unwrap_err().code, "invalid_name");
        for _ in 0..MAX_QUEUE_SIZE {
            send(&db, "a", &[0], 0).unwrap();
        }
        assert_eq!(send(&db, "a", &[0], 0).unwrap_err().code, "full");
        let message = receive(&db, None, 1, true).unwrap().remove(0);
        let err = complete(&db, message.id, "b").unwrap_err();
        assert_eq!(err.code, "message_identity_mismatch");
    }
}

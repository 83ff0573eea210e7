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

/// The queue's table, created with the actor's database.
pub(crate) const QUEUE_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS _rivet_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at INTEGER NOT NULL
);";

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

/// Up to `count` of the oldest messages, of `names` if given. Unless `completable`, they are
/// removed; a completable one stays until [`complete`] removes it.
pub(crate) fn receive(
    db: &Connection,
    names: Option<&[String]>,
    count: usize,
    completable: bool,
) -> Result<Vec<QueueMessage>, ActionError> {
    let count = count.clamp(1, MAX_BATCH);
    let mut statement = db
        .prepare_cached("SELECT id, name, body, created_at FROM _rivet_queue ORDER BY id")
        .map_err(ActionError::internal)?;
    let rows = statement
        .query_map([], |row| {
            Ok(QueueMessage {
                id: row.get(0)?,
                name: row.get(1)?,
                body: row.get(2)?,
                created_at: row.get(3)?,
            })
        })
        .map_err(ActionError::internal)?;
    let mut taken = Vec::new();
    for row in rows {
        let message = row.map_err(ActionError::internal)?;
        if names.is_none_or(|names| names.contains(&message.name)) {
            taken.push(message);
            if taken.len() == count {
                break;
            }
        }
    }
    if !completable {
        for message in &taken {
            db.execute("DELETE FROM _rivet_queue WHERE id = ?1", [message.id])
                .map_err(ActionError::internal)?;
        }
    }
    Ok(taken)
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

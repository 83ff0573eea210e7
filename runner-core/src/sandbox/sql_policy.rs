//! What sandboxed code may do with its SQLite database.
//!
//! Guests get ordinary SQL on their own tables. They may not reach files outside the database
//! (`ATTACH`, `VACUUM INTO`), change how the database is stored or replicated (`PRAGMA`), end the
//! transaction the runner wraps each call in, or touch the runner's own tables (`_rivet_*`).
//! The policy applies only while a guest statement runs; the runner's own statements pass.
//! A guest statement also stops when the call's time is up (SQLite's progress handler), so a
//! query that never ends (`WITH RECURSIVE` without a bound) cannot outlive the call.

use std::sync::Arc;

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};

use super::call::CallGuard;

/// SQLite virtual-machine steps between two checks of the call's clock (a few microseconds).
const STEPS_PER_CLOCK_CHECK: i32 = 10_000;

/// Read-only pragmas a guest may use to inspect its own schema.
const READ_ONLY_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
];

/// Installs the policy on `db`. It is enforced while `guard` says guest SQL runs.
pub(crate) fn install(
    db: &mut rusqlite::Connection,
    guard: Arc<CallGuard>,
) -> rusqlite::Result<()> {
    let policy = guard.clone();
    db.authorizer(Some(move |ctx: AuthContext<'_>| {
        if !policy.in_guest_sql() || allowed(&ctx.action) {
            Authorization::Allow
        } else {
            Authorization::Deny
        }
    }))?;
    db.progress_handler(
        STEPS_PER_CLOCK_CHECK,
        Some(move || guard.in_guest_sql() && guard.clock.should_interrupt()),
    )
}

fn allowed(action: &AuthAction<'_>) -> bool {
    match action {
        AuthAction::Attach { .. }
        | AuthAction::Detach { .. }
        | AuthAction::Transaction { .. }
        | AuthAction::CreateVtable { .. }
        | AuthAction::DropVtable { .. }
        | AuthAction::Unknown { .. } => false,
        AuthAction::Pragma { pragma_name, .. } => READ_ONLY_PRAGMAS.contains(pragma_name),
        // The runner's savepoints (`rivet_on_state_change`) are its own: a guest that released
        // or re-made one would move what the runner undoes to.
        AuthAction::Savepoint { savepoint_name, .. } => !savepoint_name
            .get(..5)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case("rivet")),
        AuthAction::Function { function_name } => {
            !function_name.eq_ignore_ascii_case("load_extension")
        }
        AuthAction::Read { table_name, .. }
        | AuthAction::Insert { table_name }
        | AuthAction::Update { table_name, .. }
        | AuthAction::Delete { table_name }
        | AuthAction::CreateTable { table_name }
        | AuthAction::DropTable { table_name }
        | AuthAction::AlterTable { table_name, .. }
        | AuthAction::CreateIndex { table_name, .. }
        | AuthAction::DropIndex { table_name, .. }
        | AuthAction::CreateTrigger { table_name, .. }
        | AuthAction::DropTrigger { table_name, .. }
        | AuthAction::CreateTempTable { table_name }
        | AuthAction::DropTempTable { table_name }
        | AuthAction::CreateTempIndex { table_name, .. }
        | AuthAction::DropTempIndex { table_name, .. } => !is_runners(table_name),
        // A trigger's body runs inside whatever statement fires it, the runner's own included,
        // where the policy is off: no trigger may watch the runner's tables, temporary ones
        // included (they live in `temp` but may name `main`'s tables).
        AuthAction::CreateTempTrigger { table_name, .. }
        | AuthAction::DropTempTrigger { table_name, .. } => !is_runners(table_name),
        // A temporary view named like a runner's table would shadow it in the runner's own
        // unqualified statements on this connection.
        AuthAction::CreateView { view_name }
        | AuthAction::CreateTempView { view_name }
        | AuthAction::DropView { view_name }
        | AuthAction::DropTempView { view_name } => !is_runners(view_name),
        _ => true,
    }
}

/// The runner's own tables (state, schedule), and `sqlite_sequence`, which numbers the
/// runner's schedule rows. The rest of SQLite's own tables need no rule: writing the schema
/// directly takes `PRAGMA writable_schema`, which is refused.
fn is_runners(table: &str) -> bool {
    let table = table.to_ascii_lowercase();
    table.starts_with("_rivet") || table == "sqlite_sequence"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guarded() -> (rusqlite::Connection, Arc<CallGuard>) {
        let mut db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute_batch(
            "CREATE TABLE _rivet_state (id INTEGER PRIMARY KEY, state BLOB);
             CREATE TABLE _rivet_schedule (id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER);
             INSERT INTO _rivet_schedule (at_ms) VALUES (1);",
        )
        .unwrap();
        let guest = Arc::new(CallGuard::default());
        install(&mut db, guest.clone()).unwrap();
        guest.set_guest_sql(true);
        (db, guest)
    }

    #[test]
    fn guests_cannot_hook_or_renumber_the_runners_tables() {
        let (db, _guest) = guarded();
        for statement in [
            "CREATE TEMP TRIGGER spy AFTER UPDATE ON main._rivet_state BEGIN SELECT 1; END",
            "CREATE TRIGGER spy AFTER INSERT ON _rivet_schedule BEGIN SELECT 1; END",
            "UPDATE sqlite_sequence SET seq = 0",
            "DELETE FROM sqlite_sequence",
            "INSERT INTO sqlite_sequence VALUES ('_rivet_schedule', 99)",
            "CREATE TEMP TABLE _rivet_state (x)",
            "CREATE TEMP VIEW _rivet_schedule AS SELECT 1 AS id, 0 AS at_ms, 'x' AS action, x'' AS args",
            "UPDATE _rivet_state SET state = x'00'",
            "SAVEPOINT rivet_on_state_change",
            "RELEASE RIVET_on_state_change",
        ] {
            assert!(
                db.execute_batch(statement).is_err(),
                "{statement} was allowed"
            );
        }
    }

    #[test]
    fn guests_keep_ordinary_sql_including_autoincrement_and_their_own_triggers() {
        let (db, guest) = guarded();
        db.execute_batch(
            "CREATE TABLE log (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);
             CREATE TABLE audit (n INTEGER);
             CREATE TEMP TRIGGER counted AFTER INSERT ON log BEGIN INSERT INTO audit VALUES (1); END;
             INSERT INTO log (v) VALUES ('a'), ('b');
             SAVEPOINT mine; RELEASE mine;",
        )
        .unwrap();
        let audited: i64 = db
            .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
            .unwrap();
        assert_eq!(audited, 2);
        // The runner's own statements pass while no guest statement runs.
        guest.set_guest_sql(false);
        db.execute_batch("INSERT INTO _rivet_schedule (at_ms) VALUES (2)")
            .unwrap();
    }

    /// A query that never ends used to run past the call's limit, holding the actor forever.
    #[test]
    fn a_guest_query_that_never_ends_stops_at_the_calls_deadline() {
        let (db, guest) = guarded();
        guest.clock.start(std::time::Duration::from_millis(300));
        let started = std::time::Instant::now();
        let result: rusqlite::Result<i64> = db.query_row(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
            [],
            |row| row.get(0),
        );
        assert!(result.is_err(), "{result:?}");
        assert!(guest.clock.hit());
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}

//! What sandboxed code may do with its SQLite database.
//!
//! Guests get ordinary SQL on their own tables. They may not reach files outside the database
//! (`ATTACH`, `VACUUM INTO`), change how the database is stored or replicated (`PRAGMA`), end the
//! transaction the runner wraps each call in, or touch the runner's own tables (`_rivet_*`).
//! The policy applies only while a guest statement runs; the runner's own statements pass.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};

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

/// Installs the policy on `db`. It is enforced while `guest_running` is set.
pub(crate) fn install(
    db: &mut rusqlite::Connection,
    guest_running: Arc<AtomicBool>,
) -> rusqlite::Result<()> {
    db.authorizer(Some(move |ctx: AuthContext<'_>| {
        if !guest_running.load(Ordering::Acquire) || allowed(&ctx.action) {
            Authorization::Allow
        } else {
            Authorization::Deny
        }
    }))
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
        | AuthAction::DropTrigger { table_name, .. } => !is_runners(table_name),
        _ => true,
    }
}

/// The runner's own tables (state, schedule). SQLite's own tables need no rule: writing the
/// schema directly takes `PRAGMA writable_schema`, which is refused.
fn is_runners(table: &str) -> bool {
    table.to_ascii_lowercase().starts_with("_rivet")
}

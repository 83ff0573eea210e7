//! The database of the call in progress, lent to a sandbox's host functions.
//!
//! A call's database is the transaction the instance opened for it. It is lent for the
//! duration of the (synchronous) guest call through a scoped thread-local, so no borrowed
//! reference ever has to live inside a `'static` store or JavaScript closure.

use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::Connection;

use super::clock::CallClock;

/// What one instance's call is allowed, shared by its runtime and the hooks SQLite calls: the
/// call's clock, and whether the SQL running now is the guest's (the policy applies to it).
#[derive(Debug, Default)]
pub(crate) struct CallGuard {
    pub(crate) clock: CallClock,
    guest_sql: AtomicBool,
}

impl CallGuard {
    /// Whether a guest statement is running.
    pub(crate) fn in_guest_sql(&self) -> bool {
        self.guest_sql.load(Ordering::Acquire)
    }

    #[cfg(test)]
    pub(crate) fn set_guest_sql(&self, on: bool) {
        self.guest_sql.store(on, Ordering::Release);
    }
}

scoped_tls::scoped_thread_local!(static CALL_DB: Connection);

/// Runs `f` with `db` lent to the host functions.
pub(super) fn with_call_db<R>(db: &Connection, f: impl FnOnce() -> R) -> R {
    CALL_DB.set(db, f)
}

/// `f` on the call's database; `None` outside a call.
pub(super) fn call_db<R>(f: impl FnOnce(&Connection) -> R) -> Option<R> {
    CALL_DB.is_set().then(|| CALL_DB.with(f))
}

/// `f` on the call's database with the guest SQL policy on (see `sql_policy`), and the call's
/// time limit applied to it.
pub(super) fn guest_sql<R>(
    guard: &CallGuard,
    f: impl FnOnce(&Connection) -> rusqlite::Result<R>,
) -> Option<rusqlite::Result<R>> {
    call_db(|db| {
        guard.guest_sql.store(true, Ordering::Release);
        let result = f(db);
        guard.guest_sql.store(false, Ordering::Release);
        result
    })
}

/// Enters the guest. On a multi-threaded runtime the worker hands its other tasks off first,
/// so a guest that runs up to its time limit does not stall other actors; WASI's synchronous
/// calls then also find a runtime they may block on.
pub(super) fn run_blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// The most a guest query's rows may hold, in the host's memory, before they reach the guest.
pub(crate) const MAX_QUERY_RESULT_BYTES: usize = 16 << 20;

/// Counts a query's result size as its rows are read, and refuses one past
/// [`MAX_QUERY_RESULT_BYTES`], so a guest cannot make the host collect an unbounded result.
#[derive(Debug, Default)]
pub(crate) struct ResultBudget {
    used: usize,
}

impl ResultBudget {
    /// Accounts for `value` (as `weight` times its bytes: a JavaScript blob becomes a JSON array
    /// of numbers, several bytes per byte).
    pub(crate) fn spend(
        &mut self,
        value: &rusqlite::types::Value,
        blob_weight: usize,
    ) -> rusqlite::Result<()> {
        use rusqlite::types::Value;
        let bytes = match value {
            Value::Null | Value::Integer(_) | Value::Real(_) => 16,
            Value::Text(text) => 16 + text.len(),
            Value::Blob(blob) => 16 + blob.len().saturating_mul(blob_weight),
        };
        self.spend_bytes(bytes)
    }

    /// Accounts for `bytes` more of the result.
    pub(crate) fn spend_bytes(&mut self, bytes: usize) -> rusqlite::Result<()> {
        self.used = self.used.saturating_add(bytes);
        if self.used > MAX_QUERY_RESULT_BYTES {
            return Err(rusqlite::Error::ToSqlConversionFailure(
                format!(
                    "the query's result is larger than {MAX_QUERY_RESULT_BYTES} bytes; \
                     select fewer rows or columns (LIMIT, OFFSET)"
                )
                .into(),
            ));
        }
        Ok(())
    }
}

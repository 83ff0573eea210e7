//! The `rivet:actor/host` imports, and the per-instance store data they work on. The call's
//! database comes from [`crate::sandbox::call`].

use std::sync::Arc;

use rusqlite::types::Value as SqlValue;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::actor::{ActorMeta, Effects};
use crate::sandbox::call::{self, CallGuard};
use crate::sandbox::outbound::{FetchError, Outbound, OutboundRequest};

use super::rivet::actor::host::Host;
use super::rivet::actor::types::{
    self, ActorError, HttpRequest, HttpResponse, LogLevel, Rows, Value,
};

/// Where the actor's files mount appears inside the sandbox.
pub(super) const GUEST_FILES_DIR: &str = "/data";

/// Everything one instance's host functions and WASI need.
pub(crate) struct HostState {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) limiter: MemoryLimiter,
    pub(super) meta: Option<ActorMeta>,
    /// The actor's state (CBOR), owned by the host so a trapped instance loses nothing.
    pub(super) state: Vec<u8>,
    /// What the current call asked for; moved in before and out after each call.
    pub(super) effects: Effects,
    /// The call's clock (its deadline, what waiting on the host it was given back), and
    /// whether a guest SQL statement runs (the SQL policy applies to it alone).
    pub(super) guard: Arc<CallGuard>,
    /// The namespace's outbound HTTP rules; `None` denies every request.
    pub(super) outbound: Option<Outbound>,
}

/// Caps the instance's linear memory, and remembers that the cap was hit so the trap that
/// follows can be reported as what it is.
pub(crate) struct MemoryLimiter {
    pub(super) max_bytes: usize,
    pub(super) hit: bool,
}

/// Table elements an instance may grow to (function references, not data).
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for HostState {}

impl HostState {
    fn meta(&self) -> Option<&ActorMeta> {
        self.meta.as_ref()
    }

    /// Runs guest SQL on the call's database with the guest policy on.
    fn guest_sql<R>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<R>,
    ) -> Result<R, ActorError> {
        call::guest_sql(&self.guard, f)
            .ok_or_else(no_database)?
            .map_err(|err| error("actor", "sql_error", &err.to_string()))
    }

    /// Runs the runner's own SQL (not the guest's, so no policy) on the call's database.
    fn runner_sql<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, crate::actor::ActionError>,
    ) -> Result<T, ActorError> {
        call::call_db(f)
            .ok_or_else(no_database)?
            .map_err(|err| error(&err.group, &err.code, &err.message))
    }
}

fn no_database() -> ActorError {
    error(
        "actor",
        "no_database",
        "the database is only available during a call",
    )
}

fn error(group: &str, code: &str, message: &str) -> ActorError {
    ActorError {
        group: group.to_owned(),
        code: code.to_owned(),
        message: message.to_owned(),
    }
}

fn to_sql(value: Value) -> SqlValue {
    match value {
        Value::Null => SqlValue::Null,
        Value::Integer(v) => SqlValue::Integer(v),
        Value::Real(v) => SqlValue::Real(v),
        Value::Text(v) => SqlValue::Text(v),
        Value::Blob(v) => SqlValue::Blob(v),
    }
}

fn from_sql(value: SqlValue) -> Value {
    match value {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(v) => Value::Integer(v),
        SqlValue::Real(v) => Value::Real(v),
        SqlValue::Text(v) => Value::Text(v),
        SqlValue::Blob(v) => Value::Blob(v),
    }
}

impl Host for HostState {
    fn actor_id(&mut self) -> String {
        self.meta().map(|m| m.actor_id.clone()).unwrap_or_default()
    }

    fn generation(&mut self) -> u32 {
        self.meta().map_or(0, |m| m.generation)
    }

    fn key(&mut self) -> Option<String> {
        self.meta().and_then(|m| m.key.clone())
    }

    fn state(&mut self) -> Vec<u8> {
        self.state.clone()
    }

    fn set_state(&mut self, state: Vec<u8>) {
        self.state = state;
    }

    fn execute(&mut self, sql: String, params: Vec<Value>) -> Result<u64, ActorError> {
        self.guest_sql(|db| {
            if params.is_empty() {
                db.execute_batch(&sql)?;
                return Ok(db.changes());
            }
            let params: Vec<SqlValue> = params.into_iter().map(to_sql).collect();
            db.execute(&sql, rusqlite::params_from_iter(params))
                .map(|n| n as u64)
        })
    }

    fn query(&mut self, sql: String, params: Vec<Value>) -> Result<Rows, ActorError> {
        self.guest_sql(|db| {
            let mut statement = db.prepare(&sql)?;
            let columns: Vec<String> = statement.column_names().map(str::to_owned).collect();
            let width = columns.len();
            let params: Vec<SqlValue> = params.into_iter().map(to_sql).collect();
            let mut budget = call::ResultBudget::default();
            let rows = statement
                .query_map(rusqlite::params_from_iter(params), |row| {
                    (0..width)
                        .map(|i| {
                            let value = row.get::<_, SqlValue>(i)?;
                            budget.spend(&value, 1)?;
                            Ok(from_sql(value))
                        })
                        .collect::<rusqlite::Result<Vec<Value>>>()
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Rows { columns, rows })
        })
    }

    fn broadcast(&mut self, name: String, args: Vec<u8>) {
        self.effects.broadcast(name, args);
    }

    fn schedule_at(&mut self, at_ms: i64, action: String, args: Vec<u8>) -> Result<(), ActorError> {
        self.runner_sql(|db| crate::actor::schedule_insert(db, at_ms, &action, &args))?;
        self.effects.schedule_changed = true;
        Ok(())
    }

    fn now_ms(&mut self) -> i64 {
        crate::actor::now_ms()
    }

    fn request_sleep(&mut self) {
        self.effects.sleep_requested = true;
    }

    fn files_dir(&mut self) -> String {
        self.effects.files_touched.set(true);
        GUEST_FILES_DIR.to_owned()
    }

    fn log(&mut self, level: LogLevel, message: String) {
        let message = message.as_str();
        match level {
            LogLevel::Trace => tracing::trace!(target: "actor", message),
            LogLevel::Debug => tracing::debug!(target: "actor", message),
            LogLevel::Info => tracing::info!(target: "actor", message),
            LogLevel::Warn => tracing::warn!(target: "actor", message),
            LogLevel::Error => tracing::error!(target: "actor", message),
        }
    }

    fn fetch(&mut self, request: HttpRequest) -> Result<HttpResponse, ActorError> {
        let request = OutboundRequest {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
        };
        let started = std::time::Instant::now();
        let result = match &self.outbound {
            Some(outbound) => outbound.fetch(request),
            None => Err(FetchError::Denied(request.url)),
        };
        self.guard.clock.give_back(started.elapsed());
        let response = result.map_err(|err| error("actor", err.code(), &err.to_string()))?;
        Ok(HttpResponse {
            status: response.status,
            headers: response.headers,
            body: response.body,
        })
    }
}

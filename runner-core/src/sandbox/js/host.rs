//! The native functions behind a JavaScript actor's context (`c.db`, `c.files`, `c.broadcast`…),
//! and the per-instance data they work on. They exchange JSON strings with the prelude;
//! fallible ones answer `{"ok": …}` or `{"error": {group, code, message}}`, which the prelude
//! turns into a value or a thrown error.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use rquickjs::{Ctx, Function, Object};
use rusqlite::types::Value as SqlValue;
use serde_json::{Value as Json, json};

use super::http::BodySlots;
use crate::actor::{ActionError, ActorMeta, ConnTable, Effects, cbor_from_json, cbor_to_json};
use crate::disk::Mount;
use crate::sandbox::call::{self, CallGuard};
use crate::sandbox::outbound::Outbound;

/// Everything one instance's native functions need.
pub(super) struct JsHost {
    /// What the current call asked for; moved in before and out after each call.
    pub(super) effects: Mutex<Effects>,
    /// The actor's connections, lent for the call like `effects`.
    pub(super) conns: Mutex<ConnTable>,
    pub(super) meta: Mutex<Option<ActorMeta>>,
    pub(super) files_dir: Option<PathBuf>,
    /// The call's clock, and whether guest SQL runs (the SQL policy applies to it alone).
    pub(super) guard: Arc<CallGuard>,
    pub(super) outbound: Option<Outbound>,
    /// Bodies crossing as bytes (`http.rs`).
    pub(super) bodies: Mutex<BodySlots>,
}

impl JsHost {
    /// Native functions over `files_dir` (none: no files mount), before any call.
    pub(super) fn new(
        files_dir: Option<PathBuf>,
        guard: Arc<CallGuard>,
        outbound: Option<Outbound>,
    ) -> Self {
        Self {
            effects: Mutex::default(),
            conns: Mutex::default(),
            meta: Mutex::default(),
            files_dir,
            guard,
            outbound,
            bodies: Mutex::default(),
        }
    }

    pub(super) fn effects(&self) -> MutexGuard<'_, Effects> {
        self.effects.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn conns(&self) -> MutexGuard<'_, ConnTable> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn bodies(&self) -> MutexGuard<'_, BodySlots> {
        self.bodies.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn meta_json(&self) -> String {
        let meta = self.meta.lock().unwrap_or_else(|e| e.into_inner());
        match meta.as_ref() {
            Some(m) => json!({
                "actorId": m.actor_id,
                "name": m.name,
                "key": m.key_parts,
                "generation": m.generation,
                "namespace": m.namespace,
            })
            .to_string(),
            None => "{}".to_owned(),
        }
    }
}

/// An error reply.
pub(super) fn fail(group: &str, code: &str, message: impl std::fmt::Display) -> String {
    json!({"error": {"group": group, "code": code, "message": message.to_string()}}).to_string()
}

fn ok(value: Json) -> String {
    json!({ "ok": value }).to_string()
}

fn no_database() -> String {
    fail(
        "actor",
        "no_database",
        "the database is only available during a call",
    )
}

/// The `host` object handed to the prelude.
pub(super) fn host_object<'js>(
    ctx: &Ctx<'js>,
    host: &Arc<JsHost>,
) -> rquickjs::Result<Object<'js>> {
    let object = Object::new(ctx.clone())?;
    object.set(
        "isPlainArray",
        Function::new(ctx.clone(), |value: rquickjs::Value<'js>| value.is_array())?,
    )?;
    let h = host.clone();
    object.set("meta", Function::new(ctx.clone(), move || h.meta_json())?)?;
    let h = host.clone();
    object.set(
        "execute",
        Function::new(ctx.clone(), move |sql: String, params: String| {
            execute(&h, &sql, &params)
        })?,
    )?;
    let h = host.clone();
    object.set(
        "query",
        Function::new(
            ctx.clone(),
            move |sql: String, params: String, script: rquickjs::function::Opt<bool>| {
                query(&h, &sql, &params, script.0.unwrap_or(false))
            },
        )?,
    )?;
    let h = host.clone();
    object.set(
        "broadcast",
        Function::new(ctx.clone(), move |name: String, args: String| {
            broadcast(&h, name, &args)
        })?,
    )?;
    schedule_functions(ctx, &object, host)?;
    super::cron::cron_functions(ctx, &object, host)?;
    super::queue::queue_functions(ctx, &object, host)?;
    object.set("randomHex", Function::new(ctx.clone(), random_hex)?)?;
    super::conns::conn_functions(ctx, &object, host)?;
    let h = host.clone();
    object.set(
        "sleep",
        Function::new(ctx.clone(), move || h.effects().sleep_requested = true)?,
    )?;
    let h = host.clone();
    object.set(
        "destroy",
        Function::new(ctx.clone(), move || h.effects().destroy_requested = true)?,
    )?;
    object.set("log", Function::new(ctx.clone(), log)?)?;
    super::http::http_functions(ctx, &object, host)?;
    let h = host.clone();
    object.set(
        "readFile",
        Function::new(ctx.clone(), move |path: String| {
            with_file(&h, &path, |mount, name| {
                let bytes = mount.read(name)?;
                String::from_utf8(bytes)
                    .map(Json::String)
                    .map_err(|_| std::io::Error::other("the file is not UTF-8 text"))
            })
        })?,
    )?;
    let h = host.clone();
    object.set(
        "writeFile",
        Function::new(ctx.clone(), move |path: String, text: String| {
            with_file(&h, &path, |mount, name| {
                mount.write(name, text.as_bytes()).map(|()| Json::Null)
            })
        })?,
    )?;
    let h = host.clone();
    object.set(
        "listFiles",
        Function::new(ctx.clone(), move |path: String| {
            with_file(&h, &path, list_dir)
        })?,
    )?;
    let h = host.clone();
    object.set(
        "removeFile",
        Function::new(ctx.clone(), move |path: String| {
            with_file(&h, &path, |mount, name| {
                mount.remove_file(name).map(|()| Json::Null)
            })
        })?,
    )?;
    Ok(object)
}

fn execute(host: &JsHost, sql: &str, params: &str) -> String {
    let params = match sql_params(params) {
        Ok(params) => params,
        Err(reply) => return reply,
    };
    let result = call::guest_sql(&host.guard, |db| {
        if params.is_empty() {
            run_script(
                &host.guard,
                db,
                sql,
                &[],
                &mut call::ResultBudget::default(),
            )?;
            return Ok(db.changes());
        }
        db.execute(sql, rusqlite::params_from_iter(params))
            .map(|n| n as u64)
    });
    match result {
        None => no_database(),
        Some(Ok(changes)) => ok(json!(changes)),
        Some(Err(err)) => fail("actor", "sql_error", err),
    }
}

/// `c.db.query`: one statement's rows. With `script` (RivetKit's `c.db.execute`), a script of
/// several statements (a migration) runs whole and answers the last one's rows.
fn query(host: &JsHost, sql: &str, params: &str, script: bool) -> String {
    let params = match sql_params(params) {
        Ok(params) => params,
        Err(reply) => return reply,
    };
    let result = call::guest_sql(&host.guard, |db| {
        let mut budget = call::ResultBudget::default();
        if script {
            return run_script(&host.guard, db, sql, &params, &mut budget);
        }
        statement_rows(&mut db.prepare(sql)?, &params, &mut budget)
    });
    match result {
        None => no_database(),
        Some(Ok(rows)) => ok(Json::Array(rows)),
        Some(Err(err)) => fail("actor", "sql_error", err),
    }
}

/// The statements one script may hold.
const MAX_SCRIPT_STATEMENTS: usize = 10_000;

/// Runs `sql` a statement at a time, each prepared once the one before has run, the clock
/// checked before each (preparing is not stepping: the progress handler does not see it);
/// `params` go to the first statement, the rows come from the last.
fn run_script(
    guard: &CallGuard,
    db: &rusqlite::Connection,
    sql: &str,
    params: &[SqlValue],
    budget: &mut call::ResultBudget,
) -> rusqlite::Result<Vec<Json>> {
    use rusqlite::fallible_iterator::FallibleIterator as _;
    let mut batch = rusqlite::Batch::new(db, sql);
    let mut rows = Vec::new();
    for n in 0.. {
        if guard.clock.should_interrupt() {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_INTERRUPT),
                Some("the call ran out of time".to_owned()),
            ));
        }
        if n >= MAX_SCRIPT_STATEMENTS {
            return Err(rusqlite::Error::ToSqlConversionFailure(
                format!("a script runs at most {MAX_SCRIPT_STATEMENTS} statements").into(),
            ));
        }
        let Some(mut statement) = batch.next()? else {
            break;
        };
        let bound: &[SqlValue] = if n == 0 { params } else { &[] };
        rows = statement_rows(&mut statement, bound, budget)?;
    }
    Ok(rows)
}

/// Runs one statement with `params`; its rows as objects by column name.
fn statement_rows(
    statement: &mut rusqlite::Statement<'_>,
    params: &[SqlValue],
    budget: &mut call::ResultBudget,
) -> rusqlite::Result<Vec<Json>> {
    let columns: Vec<String> = statement.column_names().map(str::to_owned).collect();
    statement
        .query_map(rusqlite::params_from_iter(params), |row| {
            let mut object = serde_json::Map::new();
            for (i, column) in columns.iter().enumerate() {
                let value: SqlValue = row.get(i)?;
                // Every row repeats its column names (as JSON keys, in a map): they count too.
                budget.spend_bytes(column.len().saturating_add(32))?;
                budget.spend(&value, 4)?;
                object.insert(column.clone(), from_sql(value));
            }
            Ok(Json::Object(object))
        })?
        .collect()
}

/// `n` random bytes from the host, as hex, for `crypto.getRandomValues` (which asks for at
/// most 65 536); empty if the host has none, which the prelude turns into an error.
fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n.min(65_536)];
    match getrandom::fill(&mut bytes) {
        Ok(()) => hex::encode(bytes),
        Err(err) => {
            tracing::error!(error = %err, "no randomness for crypto.getRandomValues");
            String::new()
        }
    }
}

fn sql_params(json: &str) -> Result<Vec<SqlValue>, String> {
    match serde_json::from_str::<Vec<Json>>(json) {
        Ok(values) => Ok(values.into_iter().map(to_sql).collect()),
        Err(err) => Err(fail("actor", "sql_error", format!("parameters: {err}"))),
    }
}

fn to_sql(value: Json) -> SqlValue {
    match value {
        Json::Null => SqlValue::Null,
        Json::Bool(b) => SqlValue::Integer(i64::from(b)),
        Json::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => SqlValue::Text(s),
        // Arrays and objects are stored as their JSON text.
        other => SqlValue::Text(other.to_string()),
    }
}

fn from_sql(value: SqlValue) -> Json {
    match value {
        SqlValue::Null => Json::Null,
        SqlValue::Integer(i) => json!(i),
        SqlValue::Real(r) => json!(r),
        SqlValue::Text(s) => Json::String(s),
        SqlValue::Blob(b) => json!(b),
    }
}

fn broadcast(host: &JsHost, name: String, args: &str) {
    let encoded = serde_json::from_str::<Json>(args)
        .map_err(|e| e.to_string())
        .and_then(|args| cbor_from_json(&args));
    match encoded {
        Ok(args) => host.effects().broadcast(name, args),
        Err(err) => {
            tracing::warn!(target: "actor", event = %name, error = %err, "dropped an event whose arguments are not JSON")
        }
    }
}

/// `c.schedule`: `schedule` (after/at; returns the id), `cancelSchedule`, `getSchedule`,
/// `listSchedules`.
fn schedule_functions<'js>(
    ctx: &Ctx<'js>,
    object: &Object<'js>,
    host: &Arc<JsHost>,
) -> rquickjs::Result<()> {
    let h = host.clone();
    object.set(
        "schedule",
        Function::new(ctx.clone(), move |at: f64, action: String, args: String| {
            schedule(&h, at, &action, &args)
        })?,
    )?;
    let h = host.clone();
    object.set(
        "cancelSchedule",
        Function::new(ctx.clone(), move |id: String| {
            answer(
                call::call_db(|db| crate::actor::schedule_cancel(db, &id)),
                |cancelled| {
                    if cancelled {
                        h.effects().schedule_changed = true;
                    }
                    Json::Bool(cancelled)
                },
            )
        })?,
    )?;
    object.set(
        "getSchedule",
        Function::new(ctx.clone(), move |id: String| {
            answer(
                call::call_db(|db| crate::actor::schedule_get(db, &id)),
                |event| event.map_or(Json::Null, |event| scheduled_json(&event)),
            )
        })?,
    )?;
    object.set(
        "listSchedules",
        Function::new(ctx.clone(), move || {
            answer(call::call_db(crate::actor::schedule_list), |events| {
                Json::Array(events.iter().map(scheduled_json).collect())
            })
        })?,
    )?;
    Ok(())
}

/// A host reply from a runner-side database call (`None`: no call is running).
pub(super) fn answer<T>(
    result: Option<Result<T, ActionError>>,
    to_json: impl FnOnce(T) -> Json,
) -> String {
    match result {
        None => no_database(),
        Some(Ok(value)) => ok(to_json(value)),
        Some(Err(err)) => fail(&err.group, &err.code, err.message),
    }
}

/// RivetKit's `ScheduledEventInfo`: `{id, action, args, runAt}`.
fn scheduled_json(event: &crate::actor::ScheduledEvent) -> Json {
    json!({
        "id": event.id,
        "action": event.action,
        "args": cbor_to_json(&event.args).unwrap_or(Json::Null),
        "runAt": event.run_at_ms,
    })
}

fn schedule(host: &JsHost, at_ms: f64, action: &str, args: &str) -> String {
    if !at_ms.is_finite() {
        return fail("actor", "invalid_schedule", "the time is not a number");
    }
    let args = match serde_json::from_str::<Json>(args)
        .map_err(|e| e.to_string())
        .and_then(|args| cbor_from_json(&args))
    {
        Ok(args) => args,
        Err(err) => return fail("actor", "invalid_schedule", err),
    };
    let at_ms = at_ms as i64;
    answer(
        call::call_db(|db| crate::actor::schedule_insert(db, at_ms, action, &args)),
        |id| {
            host.effects().schedule_changed = true;
            Json::String(id)
        },
    )
}

fn log(level: String, message: String) {
    let message = message.as_str();
    match level.as_str() {
        "trace" => tracing::trace!(target: "actor", message),
        "debug" => tracing::debug!(target: "actor", message),
        "warn" => tracing::warn!(target: "actor", message),
        "error" => tracing::error!(target: "actor", message),
        _ => tracing::info!(target: "actor", message),
    }
}

/// Runs `f` on `path` in the actor's files mount ([`Mount`], which follows no link out of it);
/// paths that leave it are refused.
fn with_file(
    host: &JsHost,
    path: &str,
    f: impl FnOnce(&Mount, &str) -> std::io::Result<Json>,
) -> String {
    let Some(root) = &host.files_dir else {
        return fail("actor", "no_files", "this actor has no files mount");
    };
    let Some(name) = mount_name(path) else {
        return fail(
            "actor",
            "file_denied",
            format!("`{path}` is outside the actor's files"),
        );
    };
    host.effects().files_touched.set(true);
    let result = Mount::open(root).and_then(|mount| f(&mount, &name));
    match result {
        Ok(value) => ok(value),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => fail(
            "actor",
            "file_not_found",
            format!("`{path}` does not exist"),
        ),
        Err(err) if err.kind() == std::io::ErrorKind::InvalidInput => {
            fail("actor", "file_denied", format!("`{path}`: {err}"))
        }
        Err(err) => fail("actor", "file_error", format!("`{path}`: {err}")),
    }
}

/// `path` (relative, or absolute under `/data` as wasm actors see the mount) as a name in the
/// mount (`""`: the mount itself), unless its spelling leaves it: another absolute path or `..`.
/// Links are the mount's business: it never follows one out.
fn mount_name(path: &str) -> Option<String> {
    let relative = match path.strip_prefix("/data") {
        Some("") => "",
        Some(rest) if rest.starts_with('/') => &rest[1..],
        _ if path.starts_with('/') => return None,
        _ => path,
    };
    let mut parts = Vec::new();
    for part in relative.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            part if part.contains(['\0', '\\']) => return None,
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

fn list_dir(mount: &Mount, name: &str) -> std::io::Result<Json> {
    let names: Vec<String> = mount
        .read_dir(name)?
        .into_iter()
        .map(|entry| {
            if entry.is_dir {
                format!("{}/", entry.name)
            } else {
                entry.name
            }
        })
        .collect();
    Ok(json!(names))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_leave_the_mount_by_spelling_are_refused() {
        let inside = [
            ("a.txt", "a.txt"),
            ("notes/b.md", "notes/b.md"),
            ("/data/notes/c", "notes/c"),
            ("/data", ""),
            ("./y", "y"),
            ("new//dir/z", "new/dir/z"),
        ];
        for (path, name) in inside {
            assert_eq!(mount_name(path).as_deref(), Some(name), "{path}");
        }
        for path in [
            "../x",
            "notes/../../x",
            "/data/../etc",
            "/etc/passwd",
            "/database",
        ] {
            assert_eq!(mount_name(path), None, "{path}");
        }
    }

    /// A dangling link used to count as "does not exist", so `writeFile` created its target
    /// outside the mount.
    #[test]
    fn write_file_through_a_dangling_link_stays_inside_the_mount() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("files");
        std::fs::create_dir(&root).unwrap();
        let target = tmp.path().join("outside");
        std::os::unix::fs::symlink(&target, root.join("link")).unwrap();
        let host = JsHost::new(Some(root.clone()), Arc::default(), None);
        let reply = with_file(&host, "link", |mount, name| {
            mount.write(name, b"x").map(|()| Json::Null)
        });
        assert_eq!(reply, ok(Json::Null));
        assert!(!target.exists(), "the write created the link's target");
        let read = with_file(&host, "link/../../outside", |mount, name| {
            mount.read(name).map(|_| Json::Null)
        });
        assert!(read.contains("file_denied"), "{read}");
        std::os::unix::fs::symlink(tmp.path(), root.join("up")).unwrap();
        let read = with_file(&host, "up/outside", |mount, name| {
            mount.read(name).map(|_| Json::Null)
        });
        assert!(read.contains("error"), "{read}");
    }
}

//! The native functions behind a JavaScript actor's context (`c.db`, `c.files`, `c.fetch`…),
//! and the per-instance data they work on. They exchange JSON strings with the prelude;
//! fallible ones answer `{"ok": …}` or `{"error": {group, code, message}}`, which the prelude
//! turns into a value or a thrown error.

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use rquickjs::{Ctx, Function, Object};
use rusqlite::types::Value as SqlValue;
use serde_json::{Value as Json, json};

use crate::actor::{ActorMeta, Effects, cbor_from_json};
use crate::sandbox::call;
use crate::sandbox::outbound::{Outbound, OutboundRequest};

/// Everything one instance's native functions need.
pub(super) struct JsHost {
    /// What the current call asked for; moved in before and out after each call.
    pub(super) effects: Mutex<Effects>,
    pub(super) meta: Mutex<Option<ActorMeta>>,
    pub(super) files_dir: Option<PathBuf>,
    /// Set while guest SQL runs, so the SQL policy applies to it alone.
    pub(super) guest_sql: Arc<AtomicBool>,
    pub(super) outbound: Option<Outbound>,
    pub(super) clock: Arc<CallClock>,
}

impl JsHost {
    /// Native functions over `files_dir` (none: no files mount), before any call.
    pub(super) fn new(
        files_dir: Option<PathBuf>,
        guest_sql: Arc<AtomicBool>,
        outbound: Option<Outbound>,
    ) -> Self {
        Self {
            effects: Mutex::default(),
            meta: Mutex::default(),
            files_dir,
            guest_sql,
            outbound,
            clock: Arc::default(),
        }
    }

    pub(super) fn effects(&self) -> MutexGuard<'_, Effects> {
        self.effects.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn meta_json(&self) -> String {
        let meta = self.meta.lock().unwrap_or_else(|e| e.into_inner());
        match meta.as_ref() {
            Some(m) => json!({
                "actorId": m.actor_id,
                "key": m.key,
                "generation": m.generation,
                "namespace": m.namespace,
            })
            .to_string(),
            None => "{}".to_owned(),
        }
    }
}

/// The deadline of the call in progress, which the interrupt handler polls.
#[derive(Debug, Default)]
pub(super) struct CallClock {
    /// Nanoseconds after [`epoch`] the call must end by; 0 when no call runs.
    deadline: AtomicU64,
    /// The deadline passed and the call was interrupted.
    pub(super) hit: AtomicBool,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn nanos_since_epoch() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl CallClock {
    pub(super) fn start(&self, limit: Duration) {
        let limit = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX / 2);
        self.hit.store(false, Ordering::Release);
        self.deadline.store(
            nanos_since_epoch().saturating_add(limit).max(1),
            Ordering::Release,
        );
    }

    pub(super) fn stop(&self) {
        self.deadline.store(0, Ordering::Release);
    }

    /// Gives back time the call spent waiting on the host.
    fn extend(&self, waited: Duration) {
        let waited = u64::try_from(waited.as_nanos()).unwrap_or(0);
        self.deadline.fetch_add(waited, Ordering::AcqRel);
    }

    /// For the interrupt handler: whether to stop the running code.
    pub(super) fn should_interrupt(&self) -> bool {
        let deadline = self.deadline.load(Ordering::Acquire);
        if deadline != 0 && nanos_since_epoch() > deadline {
            self.hit.store(true, Ordering::Release);
            return true;
        }
        false
    }
}

/// An error reply.
fn fail(group: &str, code: &str, message: impl std::fmt::Display) -> String {
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
        Function::new(ctx.clone(), move |sql: String, params: String| {
            query(&h, &sql, &params)
        })?,
    )?;
    let h = host.clone();
    object.set(
        "broadcast",
        Function::new(ctx.clone(), move |name: String, args: String| {
            broadcast(&h, name, &args)
        })?,
    )?;
    let h = host.clone();
    object.set(
        "schedule",
        Function::new(ctx.clone(), move |at: f64, action: String, args: String| {
            schedule(&h, at, &action, &args)
        })?,
    )?;
    let h = host.clone();
    object.set(
        "sleep",
        Function::new(ctx.clone(), move || h.effects().sleep_requested = true)?,
    )?;
    object.set("log", Function::new(ctx.clone(), log)?)?;
    let h = host.clone();
    object.set(
        "fetch",
        Function::new(ctx.clone(), move |request: String| fetch(&h, &request))?,
    )?;
    let h = host.clone();
    object.set(
        "readFile",
        Function::new(ctx.clone(), move |path: String| {
            with_file(&h, &path, |p| std::fs::read_to_string(p).map(Json::String))
        })?,
    )?;
    let h = host.clone();
    object.set(
        "writeFile",
        Function::new(ctx.clone(), move |path: String, text: String| {
            with_file(&h, &path, |p| {
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(p, text.as_bytes()).map(|()| Json::Null)
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
            with_file(&h, &path, |p| std::fs::remove_file(p).map(|()| Json::Null))
        })?,
    )?;
    Ok(object)
}

fn execute(host: &JsHost, sql: &str, params: &str) -> String {
    let params = match sql_params(params) {
        Ok(params) => params,
        Err(reply) => return reply,
    };
    let result = call::guest_sql(&host.guest_sql, |db| {
        if params.is_empty() {
            db.execute_batch(sql)?;
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

fn query(host: &JsHost, sql: &str, params: &str) -> String {
    let params = match sql_params(params) {
        Ok(params) => params,
        Err(reply) => return reply,
    };
    let result = call::guest_sql(&host.guest_sql, |db| {
        let mut statement = db.prepare(sql)?;
        let columns: Vec<String> = statement.column_names().map(str::to_owned).collect();
        let rows = statement
            .query_map(rusqlite::params_from_iter(params), |row| {
                let mut object = serde_json::Map::new();
                for (i, column) in columns.iter().enumerate() {
                    object.insert(column.clone(), from_sql(row.get(i)?));
                }
                Ok(Json::Object(object))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Json::Array(rows))
    });
    match result {
        None => no_database(),
        Some(Ok(rows)) => ok(rows),
        Some(Err(err)) => fail("actor", "sql_error", err),
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
        Ok(args) => host.effects().events.push((name, args)),
        Err(err) => {
            tracing::warn!(target: "actor", event = %name, error = %err, "dropped an event whose arguments are not JSON")
        }
    }
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
    match call::call_db(|db| crate::actor::schedule_insert(db, at_ms, action, &args)) {
        None => no_database(),
        Some(Ok(())) => {
            host.effects().schedule_changed = true;
            ok(Json::Null)
        }
        Some(Err(err)) => fail("actor", "internal_error", err),
    }
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

fn fetch(host: &JsHost, request: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Request {
        method: String,
        url: String,
        headers: Vec<(String, String)>,
        body: String,
    }
    let request: Request = match serde_json::from_str(request) {
        Ok(request) => request,
        Err(err) => return fail("actor", "fetch_invalid", err),
    };
    let request = OutboundRequest {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: request.body.into_bytes(),
    };
    let Some(outbound) = &host.outbound else {
        let denied = crate::sandbox::outbound::FetchError::Denied(request.url);
        return fail("actor", denied.code(), denied);
    };
    let started = Instant::now();
    let result = outbound.fetch(request);
    host.clock.extend(started.elapsed());
    match result {
        Ok(response) => ok(json!({
            "status": response.status,
            "headers": response.headers,
            "body": String::from_utf8_lossy(&response.body),
        })),
        Err(err) => fail("actor", err.code(), err),
    }
}

/// Runs `f` on `path` inside the actor's files mount; paths that leave it are refused.
fn with_file(host: &JsHost, path: &str, f: impl FnOnce(&Path) -> std::io::Result<Json>) -> String {
    let Some(root) = &host.files_dir else {
        return fail("actor", "no_files", "this actor has no files mount");
    };
    let Some(full) = confine(root, path) else {
        return fail(
            "actor",
            "file_denied",
            format!("`{path}` is outside the actor's files"),
        );
    };
    host.effects().files_touched.set(true);
    match f(&full) {
        Ok(value) => ok(value),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => fail(
            "actor",
            "file_not_found",
            format!("`{path}` does not exist"),
        ),
        Err(err) => fail("actor", "file_error", format!("`{path}`: {err}")),
    }
}

/// `path` (relative, or absolute under `/data` as wasm actors see the mount) under `root`,
/// unless it names something outside it: another absolute path, `..`, or a symbolic link that
/// leads out.
fn confine(root: &Path, path: &str) -> Option<PathBuf> {
    let relative = match path.strip_prefix("/data") {
        Some("") => "",
        Some(rest) if rest.starts_with('/') => &rest[1..],
        _ if path.starts_with('/') => return None,
        _ => path,
    };
    let mut full = root.to_path_buf();
    for component in Path::new(relative).components() {
        match component {
            Component::Normal(part) => full.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    // Whatever exists of the path must resolve inside the root.
    let root = root.canonicalize().ok()?;
    let existing = full.ancestors().find(|p| p.exists())?;
    existing
        .canonicalize()
        .ok()?
        .starts_with(&root)
        .then_some(full)
}

fn list_dir(path: &Path) -> std::io::Result<Json> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let mut name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_dir() {
            name.push('/');
        }
        names.push(name);
    }
    names.sort();
    Ok(json!(names))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_confined_to_the_mount() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("notes")).unwrap();
        let inside = [
            "a.txt",
            "notes/b.md",
            "/data/notes/c",
            "/data",
            "./y",
            "new/dir/z",
        ];
        for path in inside {
            let full = confine(root.path(), path).unwrap_or_else(|| panic!("{path}"));
            assert!(full.starts_with(root.path()), "{path}");
        }
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("link")).unwrap();
        let outside_paths = [
            "../x",
            "notes/../../x",
            "/data/../etc",
            "/etc/passwd",
            "/database",
            "link/secret",
            "link",
        ];
        for path in outside_paths {
            assert_eq!(confine(root.path(), path), None, "{path}");
        }
    }

    #[test]
    fn the_clock_interrupts_after_its_deadline_and_gives_back_host_time() {
        let clock = CallClock::default();
        assert!(!clock.should_interrupt(), "no call, no deadline");
        clock.start(Duration::from_millis(20));
        assert!(!clock.should_interrupt());
        std::thread::sleep(Duration::from_millis(30));
        clock.extend(Duration::from_millis(200));
        assert!(!clock.should_interrupt(), "host time is given back");
        clock.start(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(1));
        assert!(clock.should_interrupt());
        assert!(clock.hit.load(Ordering::Acquire));
        clock.stop();
        assert!(!clock.should_interrupt());
    }
}

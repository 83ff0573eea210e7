//! An AI agent's workspace as a WebAssembly component. The agent keeps notes as files in its
//! mount (`/data`), records every step in a SQLite log, and asks an LLM API that the operator
//! allowed for its namespace. The API key never enters the sandbox: the runner adds it to the
//! outbound request (`RUNNER_OUTBOUND`).
//!
//! Files and the log persist across sleep and re-allocation to another runner: the runner
//! ships both to the object store.

use rivet_actor_guest::{
    ActionError, Actions, Actor, Ctx, HttpRequest, Value, export_actor, user_error,
};
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

struct Workspace;

#[derive(Serialize, Deserialize)]
struct State {
    /// Where `ask` sends prompts.
    llm_url: Option<String>,
}

#[derive(Deserialize)]
struct Input {
    llm_url: Option<String>,
}

#[derive(Serialize)]
struct Step {
    kind: String,
    detail: String,
    generation: u32,
}

impl Actor for Workspace {
    type State = State;
    type Input = Input;

    fn create_state(input: Option<Input>) -> Result<State, ActionError> {
        Ok(State {
            llm_url: input.and_then(|i| i.llm_url),
        })
    }

    fn on_create(ctx: &mut Ctx<Self>) -> Result<(), ActionError> {
        ctx.execute(
            "CREATE TABLE steps (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 kind TEXT NOT NULL,
                 detail TEXT NOT NULL,
                 generation INTEGER NOT NULL
             )",
            &[],
        )?;
        Ok(())
    }

    fn actions(actions: &mut Actions<Self>) {
        actions
            .add("write", write)
            .add("read", read)
            .add("list", list)
            .add("steps", steps)
            .add("ask", ask)
            .add("goToSleep", |ctx: &mut Ctx<Self>, (): ()| {
                ctx.sleep();
                Ok(())
            });
    }
}

/// Writes a note and logs it.
fn write(ctx: &mut Ctx<Workspace>, (path, text): (String, String)) -> Result<u64, ActionError> {
    let full = note_path(ctx, &path)?;
    if let Some(parent) = full.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error(&path, &e))?;
    }
    std::fs::write(&full, text.as_bytes()).map_err(|e| io_error(&path, &e))?;
    record(ctx, "write", &format!("{path} ({} bytes)", text.len()))?;
    Ok(text.len() as u64)
}

fn read(ctx: &mut Ctx<Workspace>, (path,): (String,)) -> Result<String, ActionError> {
    let full = note_path(ctx, &path)?;
    std::fs::read_to_string(full).map_err(|e| io_error(&path, &e))
}

/// Every file in the workspace, relative to it, sorted.
fn list(ctx: &mut Ctx<Workspace>, (): ()) -> Result<Vec<String>, ActionError> {
    let root = ctx.files_dir();
    let mut files = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| io_error(&dir.display().to_string(), &e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(relative) = path.strip_prefix(&root) {
                files.push(relative.display().to_string());
            }
        }
    }
    files.sort();
    Ok(files)
}

fn steps(ctx: &mut Ctx<Workspace>, (): ()) -> Result<Vec<Step>, ActionError> {
    let rows = ctx.query(
        "SELECT kind, detail, generation FROM steps ORDER BY id",
        &[],
    )?;
    Ok(rows
        .rows
        .iter()
        .map(|row| Step {
            kind: row[0].as_str().unwrap_or_default().to_owned(),
            detail: row[1].as_str().unwrap_or_default().to_owned(),
            generation: row[2]
                .as_i64()
                .and_then(|g| u32::try_from(g).ok())
                .unwrap_or_default(),
        })
        .collect())
}

/// Sends `prompt` to the LLM API, saves the answer as a note, and returns it.
fn ask(ctx: &mut Ctx<Workspace>, (prompt,): (String,)) -> Result<String, ActionError> {
    let url = ctx
        .state()?
        .llm_url
        .clone()
        .ok_or_else(|| user_error("no_llm", "this workspace was created without an llm_url"))?;
    let body = serde_json::to_vec(&serde_json::json!({ "prompt": prompt }))
        .map_err(|e| user_error("bad_prompt", e.to_string()))?;
    let response = ctx.fetch(&HttpRequest {
        method: "POST".to_owned(),
        url,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body,
    })?;
    if response.status != 200 {
        return Err(user_error(
            "llm_failed",
            format!("the LLM API answered {}", response.status),
        ));
    }
    let answer = String::from_utf8_lossy(&response.body).into_owned();
    let count = ctx.query("SELECT COUNT(*) FROM steps WHERE kind = 'ask'", &[])?;
    let n = count.rows.first().and_then(|r| r[0].as_i64()).unwrap_or(0) + 1;
    write(ctx, (format!("answers/{n}.md"), answer.clone()))?;
    record(ctx, "ask", &prompt)?;
    Ok(answer)
}

fn record(ctx: &mut Ctx<Workspace>, kind: &str, detail: &str) -> Result<(), ActionError> {
    let generation = ctx.generation();
    ctx.execute(
        "INSERT INTO steps (kind, detail, generation) VALUES (?1, ?2, ?3)",
        &[
            Value::from(kind),
            Value::from(detail),
            Value::from(generation),
        ],
    )?;
    Ok(())
}

/// `path` inside the workspace; anything that would leave it is refused here (and by the
/// sandbox, which has nothing else mounted).
fn note_path(ctx: &Ctx<Workspace>, path: &str) -> Result<PathBuf, ActionError> {
    let relative = Path::new(path);
    let inside = !path.is_empty()
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if !inside {
        return Err(user_error(
            "bad_path",
            format!("`{path}` is not a relative path inside the workspace"),
        ));
    }
    Ok(ctx.files_dir().join(relative))
}

fn io_error(path: &str, error: &std::io::Error) -> ActionError {
    user_error("file_error", format!("{path}: {error}"))
}

export_actor!(Workspace);

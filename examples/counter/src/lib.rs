//! The counter actor: `increment(n)` adds `n` and returns the new count, `count` reads it,
//! every increment broadcasts `newCount` and is recorded in a SQLite table.
//!
//! Hosted by the container adapter by default; run it with `./dev` from the repository root.

use std::time::Duration;

use runner_core::actor::{ActionError, Actions, Actor, Ctx, RawRequest, RawResponse};
use serde::{Deserialize, Serialize};

/// The counter actor type.
#[derive(Debug)]
pub struct Counter;

/// Persisted state of a counter.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CounterState {
    /// The current count.
    pub count: i64,
}

/// Optional create input: the starting count.
#[derive(Debug, Deserialize)]
pub struct CounterInput {
    /// Initial count.
    pub start: i64,
}

impl Actor for Counter {
    const NAME: &'static str = "counter";
    type State = CounterState;
    type Input = CounterInput;

    fn create_state(input: Option<CounterInput>) -> CounterState {
        CounterState {
            count: input.map_or(0, |i| i.start),
        }
    }

    fn on_create(ctx: &mut Ctx<'_, Self>) -> Result<(), ActionError> {
        ctx.sql().execute_batch(
            "CREATE TABLE increments (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 amount INTEGER NOT NULL,
                 total INTEGER NOT NULL,
                 generation INTEGER NOT NULL
             );",
        )?;
        Ok(())
    }

    fn actions(actions: &mut Actions<Self>) {
        actions
            .add("increment", increment)
            .add("count", count)
            .add("history", history)
            .add("incrementLater", increment_later)
            .add("goToSleep", go_to_sleep)
            .add("writeNote", write_note)
            .add("readNote", read_note);
    }

    fn on_request(ctx: &mut Ctx<'_, Self>, request: &RawRequest) -> Option<RawResponse> {
        let body = format!("count={} path={}\n", ctx.state().count, request.path);
        Some(RawResponse {
            status: 200,
            headers: [("content-type".to_owned(), "text/plain".to_owned())].into(),
            body: body.into_bytes(),
        })
    }
}

/// Adds `n`, records it, broadcasts `newCount`, returns the new count.
fn increment(ctx: &mut Ctx<'_, Counter>, (n,): (i64,)) -> Result<i64, ActionError> {
    let total = ctx
        .state()
        .count
        .checked_add(n)
        .ok_or_else(|| ActionError::user("overflow", "the count would overflow"))?;
    ctx.state_mut().count = total;
    ctx.sql().execute(
        "INSERT INTO increments (amount, total, generation) VALUES (?1, ?2, ?3)",
        (n, total, ctx.generation()),
    )?;
    ctx.broadcast("newCount", &total)?;
    Ok(total)
}

fn count(ctx: &mut Ctx<'_, Counter>, (): ()) -> Result<i64, ActionError> {
    Ok(ctx.state().count)
}

/// One recorded increment.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Increment {
    /// Amount added.
    pub amount: i64,
    /// Count after it.
    pub total: i64,
    /// Actor generation that applied it.
    pub generation: u32,
}

/// Every increment recorded in SQLite, oldest first.
fn history(ctx: &mut Ctx<'_, Counter>, (): ()) -> Result<Vec<Increment>, ActionError> {
    let mut statement = ctx
        .sql()
        .prepare("SELECT amount, total, generation FROM increments ORDER BY id")?;
    let rows = statement.query_map([], |row| {
        Ok(Increment {
            amount: row.get(0)?,
            total: row.get(1)?,
            generation: row.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Schedules `increment(n)` after `delay_ms`; it runs even if the actor sleeps meanwhile.
/// Returns the schedule's id.
fn increment_later(
    ctx: &mut Ctx<'_, Counter>,
    (n, delay_ms): (i64, u64),
) -> Result<String, ActionError> {
    ctx.schedule_after(Duration::from_millis(delay_ms), "increment", &(n,))
}

/// Asks the engine to put this actor to sleep.
fn go_to_sleep(ctx: &mut Ctx<'_, Counter>, (): ()) -> Result<(), ActionError> {
    ctx.sleep();
    Ok(())
}

/// Saves `text` as the file `notes/{name}` in the actor's files (persisted with its data).
fn write_note(
    ctx: &mut Ctx<'_, Counter>,
    (name, text): (String, String),
) -> Result<(), ActionError> {
    ctx.files().write(&format!("notes/{name}"), text)
}

/// The text of `notes/{name}`, or `null` if there is none.
fn read_note(
    ctx: &mut Ctx<'_, Counter>,
    (name,): (String,),
) -> Result<Option<String>, ActionError> {
    let bytes = ctx.files().read(&format!("notes/{name}"))?;
    Ok(bytes.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

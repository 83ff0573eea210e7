//! The counter actor as a WebAssembly component: `increment(n)` adds `n` and returns the new
//! count, `count` reads it, every increment is broadcast as `newCount` and recorded in SQLite.

use std::time::Duration;

use rivet_actor_guest::{
    ActionError, Actions, Actor, Ctx, HttpRequest, HttpResponse, Value, export_actor, user_error,
};
use serde::{Deserialize, Serialize};

struct Counter;

#[derive(Serialize, Deserialize)]
struct State {
    count: i64,
}

#[derive(Deserialize)]
struct Input {
    start: i64,
}

#[derive(Serialize)]
struct Increment {
    amount: i64,
    total: i64,
    generation: u32,
}

impl Actor for Counter {
    type State = State;
    type Input = Input;

    fn create_state(input: Option<Input>) -> Result<State, ActionError> {
        Ok(State {
            count: input.map_or(0, |i| i.start),
        })
    }

    fn on_create(ctx: &mut Ctx<Self>) -> Result<(), ActionError> {
        ctx.execute(
            "CREATE TABLE increments (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 amount INTEGER NOT NULL,
                 total INTEGER NOT NULL,
                 generation INTEGER NOT NULL
             )",
            &[],
        )?;
        Ok(())
    }

    fn actions(actions: &mut Actions<Self>) {
        actions
            .add("increment", increment)
            .add("count", |ctx: &mut Ctx<Self>, (): ()| {
                Ok(ctx.state()?.count)
            })
            .add("history", history)
            .add("incrementLater", increment_later)
            .add("goToSleep", |ctx: &mut Ctx<Self>, (): ()| {
                ctx.sleep();
                Ok(())
            });
    }

    fn on_request(ctx: &mut Ctx<Self>, request: &HttpRequest) -> Option<HttpResponse> {
        let count = ctx.state().ok()?.count;
        Some(HttpResponse {
            status: 200,
            headers: vec![("content-type".to_owned(), "text/plain".to_owned())],
            body: format!("count={count} path={}\n", request.url).into_bytes(),
        })
    }
}

fn increment(ctx: &mut Ctx<Counter>, (n,): (i64,)) -> Result<i64, ActionError> {
    let state = ctx.state_mut()?;
    let total = state
        .count
        .checked_add(n)
        .ok_or_else(|| user_error("overflow", "the count would overflow"))?;
    state.count = total;
    let generation = ctx.generation();
    ctx.execute(
        "INSERT INTO increments (amount, total, generation) VALUES (?1, ?2, ?3)",
        &[Value::from(n), Value::from(total), Value::from(generation)],
    )?;
    ctx.broadcast("newCount", &total)?;
    Ok(total)
}

fn history(ctx: &mut Ctx<Counter>, (): ()) -> Result<Vec<Increment>, ActionError> {
    let rows = ctx.query(
        "SELECT amount, total, generation FROM increments ORDER BY id",
        &[],
    )?;
    Ok(rows
        .rows
        .iter()
        .map(|row| Increment {
            amount: row[0].as_i64().unwrap_or_default(),
            total: row[1].as_i64().unwrap_or_default(),
            generation: row[2]
                .as_i64()
                .and_then(|g| u32::try_from(g).ok())
                .unwrap_or_default(),
        })
        .collect())
}

fn increment_later(ctx: &mut Ctx<Counter>, (n, delay_ms): (i64, u64)) -> Result<(), ActionError> {
    ctx.schedule_after(Duration::from_millis(delay_ms), "increment", &(n,))
}

export_actor!(Counter);

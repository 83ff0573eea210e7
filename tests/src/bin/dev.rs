//! The local demo: `./dev` (or `cargo run -p runner-tests --bin dev`).
//!
//! Installs the Rivet engine from npm into a local cache, starts it on loopback, starts the
//! runner with the counter actor, registers the runner config, and narrates an actor's life:
//! create, increment, events, idle sleep, wake, lifespan drain and re-allocation, state intact
//! throughout. Then it stays up so you can call the actor yourself (Ctrl+C to stop), unless
//! `--once` is given.
#![allow(
    clippy::print_stdout,
    reason = "a demo talks to the person watching it"
)]

use std::time::{Duration, Instant};

use anyhow::Context as _;
use runner_tests::{Engine, TestRunner, wait_for};
use serde_json::{Value, json};

const IDLE_SLEEP_MS: &str = "3000";
const LIFESPAN_S: u32 = 20;
const DRAIN_GRACE_S: u32 = 5;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let once = std::env::args().any(|a| a == "--once");
    let clock = Instant::now();
    let say = |text: String| println!("[{:>5.1}s] {text}", clock.elapsed().as_secs_f64());

    say(
        "installing/locating the Rivet engine (npm @rivetkit/engine-cli-linux-x64-musl@2.3.19)"
            .into(),
    );
    let engine_bin = tokio::task::spawn_blocking(runner_tests::engine::engine_binary).await??;
    say(format!("engine binary: {}", engine_bin.display()));
    let engine = Engine::start().await.context("start the engine")?;
    say(format!("engine up at {}", engine.url()));

    let runner =
        TestRunner::start(&engine.url(), &[("RUNNER_IDLE_SLEEP_MS", IDLE_SLEEP_MS)]).await?;
    say(format!(
        "runner serving {} (idle sleep {IDLE_SLEEP_MS} ms)",
        runner.url()
    ));
    engine
        .put_runner_config(&runner.runner_config(LIFESPAN_S, DRAIN_GRACE_S))
        .await?;
    say(format!(
        "registered runner config: request_lifespan={LIFESPAN_S}s drain_grace_period={DRAIN_GRACE_S}s, secret header set"
    ));

    let gw = engine.gateway();
    let id = engine.create_actor("counter", "demo", None).await?;
    say(format!("created actor counter/demo: {id}"));

    let mut conn = gw.connect(&id, "json").await?;
    conn.recv().await?;
    conn.send(
        json!({"tag": "SubscriptionRequest", "val": {"eventName": "newCount", "subscribe": true}}),
    )
    .await?;
    for n in [1, 2, 3] {
        let reply = gw.action_reply(&id, "increment", json!([n])).await?;
        say(format!(
            "increment({n}) → {} (generation {:?})",
            reply.body, reply.generation
        ));
        let event = conn.recv().await?;
        say(format!(
            "  /connect client got event {} {}",
            event["val"]["name"], event["val"]["args"]
        ));
    }
    drop(conn);

    say("waiting for the idle actor to ask the engine for sleep…".into());
    wait_for("sleep", Duration::from_secs(30), || async {
        engine.actor(&id).await.ok()?["sleep_ts"].as_i64()
    })
    .await?;
    say(format!(
        "asleep (actors running in the runner: {})",
        runner.runner.running_actors()
    ));

    let woken = gw.action_reply(&id, "count", json!([])).await?;
    say(format!(
        "count → {} : woken at generation {:?}, state intact",
        woken.body, woken.generation
    ));
    show_history(&gw, &id, &say).await?;

    say(format!(
        "waiting for the engine to drain this request at lifespan − grace = {}s and re-allocate…",
        LIFESPAN_S - DRAIN_GRACE_S
    ));
    let before = woken.generation;
    let reallocated = wait_for("re-allocation", Duration::from_secs(60), || {
        let gw = gw.clone();
        let id = id.clone();
        async move {
            let reply = gw.action_reply(&id, "count", json!([])).await.ok()?;
            (reply.generation > before).then_some(reply)
        }
    })
    .await?;
    say(format!(
        "re-allocated at generation {:?}: count → {}, state intact",
        reallocated.generation, reallocated.body
    ));
    let reply = gw.action_reply(&id, "increment", json!([10])).await?;
    say(format!(
        "increment(10) → {} (generation {:?})",
        reply.body, reply.generation
    ));
    show_history(&gw, &id, &say).await?;

    if once {
        say("demo complete".into());
        return Ok(());
    }
    println!("\nThe engine and runner stay up. Try:");
    println!(
        "  curl -X POST {}/gateway/{id}/action/increment -H 'content-type: application/json' -d '{{\"args\":[5]}}'",
        engine.url()
    );
    println!("  curl {}/gateway/{id}/request/hello", engine.url());
    println!("Ctrl+C to stop.");
    tokio::signal::ctrl_c().await?;
    runner.shutdown(Duration::from_secs(10)).await;
    Ok(())
}

async fn show_history(
    gw: &runner_tests::Gateway,
    id: &str,
    say: &impl Fn(String),
) -> anyhow::Result<()> {
    let history = gw.action(id, "history", json!([])).await?;
    let rows: Vec<String> = history
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|row: &Value| {
            format!(
                "+{}→{} (gen {})",
                row["amount"], row["total"], row["generation"]
            )
        })
        .collect();
    say(format!("SQLite increments table: {}", rows.join(", ")));
    Ok(())
}

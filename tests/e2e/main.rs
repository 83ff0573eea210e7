//! End-to-end tests: the real Rivet engine (npm, 2.3.19) on loopback drives the runner through
//! its serverless endpoint; clients call actors through the engine gateway.
//!
//! Each test starts its own engine and runner (free ports, fresh data directories).

mod binary;
mod client_limits;
mod connect;
mod deploy;
mod js;
mod js_http;
mod js_work;
mod lambda;
mod lifecycle;
mod npm_client;
mod object_store;
mod official_client;
mod persistence;
mod queue;
mod resilience;
mod sandbox;
mod sandbox_limits;
mod start_security;
mod workers;

use std::time::Duration;

use runner_tests::{Engine, TestRunner};

/// An engine with the runner registered as the `default` serverless pool.
pub(crate) struct Setup {
    pub(crate) engine: Engine,
    pub(crate) runner: TestRunner,
}

pub(crate) async fn setup(idle_sleep_ms: u64, lifespan: u32, drain: u32) -> anyhow::Result<Setup> {
    runner_tests::init_tracing();
    let engine = Engine::start().await?;
    let idle = idle_sleep_ms.to_string();
    let runner =
        TestRunner::start(&engine.url(), &[("RUNNER_IDLE_SLEEP_MS", idle.as_str())]).await?;
    engine
        .put_runner_config(&runner.runner_config(lifespan, drain))
        .await?;
    Ok(Setup { engine, runner })
}

/// Waits until the runner hosts no actor (the engine marks an actor asleep slightly before its
/// stop command reaches the runner).
pub(crate) async fn wait_runner_idle(runner: &TestRunner) -> anyhow::Result<()> {
    runner_tests::wait_for(
        "the runner to stop its actors",
        Duration::from_secs(15),
        || async { (runner.runner.running_actors() == 0).then_some(()) },
    )
    .await
}

/// Waits until the engine reports the actor asleep.
pub(crate) async fn wait_asleep(
    engine: &Engine,
    actor_id: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    runner_tests::wait_for("actor to sleep", timeout, || async {
        let actor = engine.actor(actor_id).await.ok()?;
        actor["sleep_ts"].as_i64().map(|_| ())
    })
    .await
}

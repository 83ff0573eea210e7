//! The kill test: writes go through the engine gateway while the `rivet-runner` process is
//! killed with SIGKILL at random moments; a new process (on a fresh disk or the same one)
//! takes over, and the actor must hold every write that was acknowledged, in an intact
//! database.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;

use crate::process::{process_runner_config, spawn_runner};
use crate::runner::persisted_db;
use crate::{Engine, free_port, wait_for};

/// What the trials found.
#[derive(Debug, Default, Clone)]
pub struct KillReport {
    /// Trials run.
    pub trials: u32,
    /// Increments acknowledged to the client over all trials.
    pub acknowledged: i64,
    /// Trials after which an acknowledged increment was missing.
    pub lost: Vec<String>,
    /// Trials after which the count exceeded what was attempted.
    pub phantom: Vec<String>,
    /// Time from restart to the actor answering again, per trial.
    pub recoveries: Vec<Duration>,
}

impl KillReport {
    /// One line per figure, for logs and `docs/benchmarks.md`.
    pub fn summary(&self) -> String {
        let mut sorted = self.recoveries.clone();
        sorted.sort();
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
        let max = sorted.last().copied().unwrap_or_default();
        format!(
            "{} trials, {} acknowledged increments, {} trials lost an acknowledged write, {} \
             trials had a write beyond the attempted ones, recovery median {:.1} s / max {:.1} s",
            self.trials,
            self.acknowledged,
            self.lost.len(),
            self.phantom.len(),
            median.as_secs_f64(),
            max.as_secs_f64()
        )
    }
}

/// Runs `trials` kill/restart cycles against one actor. `seed` makes the kill moments
/// reproducible; `env` adds `RUNNER_*` variables (for example the durability mode).
pub async fn kill_trials(
    trials: u32,
    seed: u64,
    env: &[(&str, &str)],
) -> anyhow::Result<KillReport> {
    let engine = Engine::start().await?;
    let root = tempfile::Builder::new().prefix("kill-test-").tempdir()?;
    let objects = root.path().join("objects");
    let port = free_port()?;
    let mut disk = 0;
    let data = |n: u32| root.path().join(format!("data-{n}"));
    let mut runner = spawn_runner(&engine, port, &data(disk), &objects, env).await?;
    engine
        .put_runner_config(&process_runner_config(port, 300, 10))
        .await?;
    let gw = engine.gateway();
    let id = engine.create_actor("counter", "kill-test", None).await?;
    let mut acked = gw
        .action(&id, "increment", json!([1]))
        .await?
        .as_i64()
        .context("count")?;
    // Only strict mode promises that the store holds what the actor answered.
    let strict = !env.contains(&("RUNNER_DURABILITY", "interval"));
    let mut rng = seed | 1;
    let mut report = KillReport {
        trials,
        ..KillReport::default()
    };
    for trial in 0..trials {
        let last_ack = Arc::new(AtomicI64::new(acked));
        let writer = {
            let (gw, id, last_ack) = (gw.clone(), id.clone(), last_ack.clone());
            tokio::spawn(async move {
                loop {
                    match gw.action(&id, "increment", json!([1])).await {
                        Ok(count) => {
                            last_ack.fetch_max(count.as_i64().unwrap_or(0), Ordering::SeqCst);
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
            })
        };
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        tokio::time::sleep(Duration::from_millis(50 + rng % 1200)).await;
        runner.start_kill()?;
        runner.wait().await?;
        writer.abort();
        let _ = writer.await;
        let acknowledged = last_ack.load(Ordering::SeqCst);
        report.acknowledged += acknowledged - acked;

        // Alternate between a new instance (empty disk) and the same machine restarting.
        if trial % 2 == 0 {
            disk += 1;
        }
        runner = spawn_runner(&engine, port, &data(disk), &objects, env).await?;
        let started = Instant::now();
        let count = wait_for("the actor after the kill", Duration::from_secs(120), || {
            let (gw, id) = (gw.clone(), id.clone());
            async move { gw.action(&id, "count", json!([])).await.ok()?.as_i64() }
        })
        .await
        .map_err(|e| anyhow::anyhow!("trial {trial}: {e}; engine log:\n{}", engine.log_tail()))?;
        report.recoveries.push(started.elapsed());
        if strict {
            check_persisted_log(&objects, &id, count)
                .await
                .with_context(|| format!("trial {trial}"))?;
        }
        // At most the one increment in flight at the kill may have landed unacknowledged.
        if count < acknowledged {
            report.lost.push(format!(
                "trial {trial}: acknowledged {acknowledged}, found {count}"
            ));
        } else if count > acknowledged + 1 {
            report.phantom.push(format!(
                "trial {trial}: acknowledged {acknowledged}, found {count}"
            ));
        }
        tracing::info!(trial, acknowledged, count, "kill trial");
        acked = count;
    }
    Ok(report)
}

/// The persisted database is intact and its increment log is complete up to `count`.
async fn check_persisted_log(
    objects: &std::path::Path,
    actor_id: &str,
    count: i64,
) -> anyhow::Result<()> {
    let persisted = persisted_db(
        Arc::new(runner_core::object_store::LocalStore::new(objects)),
        actor_id,
    )
    .await
    .context("the persisted database")?;
    let (rows, total): (i64, i64) = persisted.db.query_row(
        "SELECT count(*), coalesce(max(total), 0) FROM increments",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    anyhow::ensure!(
        rows == total && total == count,
        "the persisted log has {rows} rows up to {total}, the actor says {count}"
    );
    Ok(())
}

//! `kill-test [TRIALS] [SEED]`: the SIGKILL trial harness, for long runs (the test suite runs
//! 20 trials). Prints one summary line; exits non-zero if any acknowledged write was lost.

#![allow(
    clippy::print_stdout,
    reason = "a command-line harness reports to the terminal"
)]

use anyhow::Context as _;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let mut args = std::env::args().skip(1);
    let trials: u32 = args
        .next()
        .map_or(Ok(100), |a| a.parse())
        .context("TRIALS")?;
    let seed: u64 = match args.next() {
        Some(seed) => seed.parse().context("SEED")?,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos() as u64,
    };
    println!("kill-test: {trials} trials, seed {seed}");
    let report = runner_tests::kill::kill_trials(trials, seed, &[]).await?;
    println!("{}", report.summary());
    for line in report.lost.iter().chain(&report.phantom) {
        println!("  {line}");
    }
    anyhow::ensure!(report.lost.is_empty(), "acknowledged writes were lost");
    Ok(())
}

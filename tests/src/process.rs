//! The real `rivet-runner` binary as a child process.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::process::{Child, Command};

use crate::{Engine, RunnerConfigSpec, wait_for};

/// The shared secret the process is started with.
pub const PROCESS_SECRET: &str = "bin-secret";

/// `target/{profile}/rivet-runner`, next to the running test or harness binary (built by
/// `cargo test --workspace` / `cargo build --workspace --bins`).
pub fn runner_binary() -> anyhow::Result<PathBuf> {
    workspace_binary("rivet-runner")
}

/// A binary of this workspace in `target/{profile}/`, found from the running executable.
pub fn workspace_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("executable directory")?;
    // Test binaries live in `target/{profile}/deps`, harness binaries in `target/{profile}`.
    let candidates = [dir.join(name), dir.join("..").join(name)];
    candidates
        .iter()
        .find(|path| path.exists())
        .cloned()
        .with_context(|| {
            format!(
                "{name} is missing next to {}: build it with `cargo build --workspace --bins`",
                exe.display()
            )
        })
}

/// Starts `rivet-runner` on `port` with its data in `data_dir` and its object store (a local
/// directory) in `objects_dir`; waits until it listens. `extra` adds or overrides variables.
pub async fn spawn_runner(
    engine: &Engine,
    port: u16,
    data_dir: &Path,
    objects_dir: &Path,
    extra: &[(&str, &str)],
) -> anyhow::Result<Child> {
    spawn_binary("rivet-runner", engine, port, data_dir, objects_dir, extra).await
}

/// Like [`spawn_runner`], for another binary of the workspace that serves a runner (one that
/// calls `runner_container::run`).
pub async fn spawn_binary(
    name: &str,
    engine: &Engine,
    port: u16,
    data_dir: &Path,
    objects_dir: &Path,
    extra: &[(&str, &str)],
) -> anyhow::Result<Child> {
    let mut command = Command::new(workspace_binary(name)?);
    command
        .env("RUNNER_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUNNER_SECRET", PROCESS_SECRET)
        .env("RUNNER_ENGINE_ENDPOINTS", engine.url())
        .env("RUNNER_DATA_DIR", data_dir)
        .env("RUNNER_OBJECT_STORE_DIR", objects_dir)
        .env("RUNNER_IDLE_SLEEP_MS", "120000")
        .env("RUNNER_SHUTDOWN_GRACE_MS", "20000")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (name, value) in extra {
        command.env(name, value);
    }
    let child = command.spawn()?;
    wait_for(
        &format!("{name} to listen"),
        Duration::from_secs(10),
        || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
        },
    )
    .await?;
    Ok(child)
}

/// The runner config for a process on `port`.
pub fn process_runner_config(port: u16, lifespan: u32, drain: u32) -> RunnerConfigSpec {
    RunnerConfigSpec {
        pool: "default".into(),
        url: format!("http://127.0.0.1:{port}/api/rivet"),
        headers: vec![("x-runner-secret".into(), PROCESS_SECRET.into())],
        request_lifespan: lifespan,
        drain_grace_period: drain,
    }
}

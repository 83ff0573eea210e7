//! Test and demo harness: starts the real Rivet engine (installed from npm into a local cache)
//! and the runner, and talks to both the way the engine and clients do.
//!
//! Used by the end-to-end tests (`tests/e2e`) and by the `dev` demo binary.

pub mod engine;
pub mod fake_api;
pub mod fixtures;
pub mod gateway;
pub mod kill;
pub mod lambda_emulator;
pub mod npm_client;
pub mod outage_proxy;
pub mod process;
pub mod runner;
pub mod s3_server;
pub mod sandbox;
pub mod start_spy;
pub mod workers;

pub use engine::{Engine, RunnerConfigSpec};
pub use gateway::Gateway;
pub use runner::TestRunner;

/// A free TCP port on loopback (bound, read, released).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(free_ports::<1>()?[0])
}

/// `N` distinct free TCP ports on loopback: all are held until all are picked (ports picked
/// one by one and released at once can repeat, and a process given the same port twice fails
/// to start).
pub fn free_ports<const N: usize>() -> anyhow::Result<[u16; N]> {
    let listeners = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ports = [0; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr()?.port();
    }
    Ok(ports)
}

/// Polls `check` every 100 ms until it returns `Some`, or fails after `timeout`.
pub async fn wait_for<T, F, Fut>(
    what: &str,
    timeout: std::time::Duration,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Installs a plain-text tracing subscriber once (honours `RUST_LOG`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

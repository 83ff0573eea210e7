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

/// The ports handed out: below Linux's ephemeral range (32768–60999), so neither an outgoing
/// connection nor another process's bind to port 0 can take one between the moment it is
/// picked and the moment the server it is for binds it (SeaweedFS once failed so on a gRPC port).
const PORT_RANGE: std::ops::Range<u32> = 20_000..32_000;

/// `N` distinct free TCP ports on loopback: all are held until all are picked (ports picked
/// one by one and released at once can repeat, and a process given the same port twice fails
/// to start). A process-wide cursor walks [`PORT_RANGE`] from a point that differs per process,
/// so tests running at once never get the same port either.
pub fn free_ports<const N: usize>() -> anyhow::Result<[u16; N]> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static CURSOR: std::sync::OnceLock<AtomicU32> = std::sync::OnceLock::new();
    let span = PORT_RANGE.end - PORT_RANGE.start;
    let cursor = CURSOR.get_or_init(|| {
        let seed = std::process::id().wrapping_mul(2_654_435_761)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
        AtomicU32::new(seed % span)
    });
    let mut held = Vec::with_capacity(N);
    for _ in 0..span {
        if held.len() == N {
            break;
        }
        let port = PORT_RANGE.start + cursor.fetch_add(1, Ordering::Relaxed) % span;
        if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port as u16)) {
            held.push(listener);
        }
    }
    anyhow::ensure!(held.len() == N, "no {N} free ports in {PORT_RANGE:?}");
    let mut ports = [0; N];
    for (port, listener) in ports.iter_mut().zip(&held) {
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

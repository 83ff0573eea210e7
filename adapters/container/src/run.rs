//! [`run`]: the whole container process for a registry of actors: configuration from the
//! environment, logging, the runner, the server, and the drain on SIGTERM.

use std::time::Duration;

use runner_core::Runner;
use runner_core::actor::Registry;
use runner_core::assembly::BuildError;
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;

use crate::{ConfigError, ContainerConfig, serve};

/// Why [`run`] stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A `RUNNER_*` variable is invalid.
    #[error("invalid configuration")]
    Config(#[source] ConfigError),
    /// The runner could not be built (a store, a sandboxed actor).
    #[error("could not start the runner")]
    Build(#[source] BuildError),
    /// The listener could not be bound.
    #[error("bind {addr}")]
    Bind {
        /// `RUNNER_LISTEN`.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A signal handler could not be installed.
    #[error("install {signal} handler")]
    Signal {
        /// `SIGTERM` or `SIGINT`.
        signal: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Serves `registry`'s actors (with the sandboxed ones the settings add) as configured by the
/// `RUNNER_*` environment, until SIGTERM or SIGINT; then drains them within
/// `RUNNER_SHUTDOWN_GRACE_MS` and returns. Installs the log subscriber (`RUST_LOG`,
/// `RUNNER_LOG_FORMAT`) unless the process already has one.
pub async fn run(registry: Registry) -> Result<(), RunError> {
    let config = ContainerConfig::from_env().map_err(RunError::Config)?;
    init_tracing(config.json_logs);
    let runner = Runner::builder(config.settings.clone())
        .registry(registry)
        .build()
        .await
        .map_err(RunError::Build)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| RunError::Bind {
            addr: config.listen,
            source,
        })?;
    tracing::info!(listen = %config.listen, base_path = %config.settings.runner.base_path, "serving");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(serve(
        listener,
        runner.clone(),
        config.settings.request_timeout,
        stop_rx,
    ));
    wait_for_termination().await?;
    // Keep serving while actors drain: their /start streams must end with `stopping`.
    runner.shutdown(config.shutdown_grace).await;
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_termination() -> Result<(), RunError> {
    let mut term = signal(SignalKind::terminate()).map_err(|source| RunError::Signal {
        signal: "SIGTERM",
        source,
    })?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: draining"),
        result = tokio::signal::ctrl_c() => {
            result.map_err(|source| RunError::Signal { signal: "SIGINT", source })?;
            tracing::info!("SIGINT: draining");
        }
    }
    Ok(())
}

fn init_tracing(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // A host that installed its own subscriber keeps it.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

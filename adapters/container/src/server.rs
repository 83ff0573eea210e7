//! The hyper server: reads requests (bounded), calls the core, streams the answer back.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body as HttpBody, Frame};
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
) -> Response<StreamingBody> {
    let limit = runner.max_body_bytes();
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(size) = declared.filter(|size| *size > limit) {
        return runner.body_too_large(size).map(StreamingBody);
    }
    let (parts, body) = request.into_parts();
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return runner.body_too_large(limit + 1).map(StreamingBody),
    };
    runner
        .handle(Request::from_parts(parts, bytes), deadline)
        .await
        .map(StreamingBody)
}

/// Adapts the core's body to hyper.
pub struct StreamingBody(Body);

impl std::fmt::Debug for StreamingBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamingBody")
    }
}

impl HttpBody for StreamingBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.get_mut().0 {
            Body::Full(bytes) if bytes.is_empty() => Poll::Ready(None),
            Body::Full(bytes) => Poll::Ready(Some(Ok(Frame::data(std::mem::take(bytes))))),
            Body::Stream(rx) => rx
                .poll_recv(cx)
                .map(|chunk| chunk.map(|c| Ok(Frame::data(c)))),
        }
    }
}

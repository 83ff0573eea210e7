//! `bootstrap`: the runner on AWS Lambda (`provided.al2023`) behind a Function URL with
//! `invoke_mode = RESPONSE_STREAM`.
//!
//! Everything is the core's: this file turns a Function URL invocation into an HTTP request,
//! the invocation deadline into the core's [`Deadline`], and streams the core's response back.
//! Configuration is the shared `RUNNER_*` table (the container's README lists it) with the
//! container's defaults, read once per execution environment; the runner (and its envoy
//! connection) lives as long as the environment. The actors it hosts are this binary's choice:
//! the example counter.

use std::convert::Infallible;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use lambda_http::{Request, RequestExt as _, service_fn};
use runner_core::actor::Registry;
use runner_core::assembly::{Defaults, Settings};
use runner_core::serverless::{BodyError, read_body};
use runner_core::{Body, Deadline, Runner};

mod init_error;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_logging();
    let config = match configuration() {
        Ok(config) => config,
        Err(message) => {
            tracing::error!(error = %message, "bad configuration");
            init_error::report(&message).await;
            return Err(message.into());
        }
    };
    let registry = Registry::new().with_actor::<example_counter::Counter>();
    let runner = match Runner::builder(config).registry(registry).build().await {
        Ok(runner) => runner,
        Err(err) => {
            let message = err.to_string();
            tracing::error!(error = %message, "could not start the runner");
            init_error::report(&message).await;
            return Err(message.into());
        }
    };
    lambda_http::run_with_streaming_response(service_fn(move |request| {
        let runner = runner.clone();
        async move { Ok::<_, Infallible>(answer(&runner, request).await) }
    }))
    .await
}

/// The `RUNNER_*` configuration, or why it cannot run on Lambda.
fn configuration() -> Result<Settings, String> {
    let config = Settings::from_lookup(|name| std::env::var(name).ok(), Defaults::default())
        .map_err(|err| err.to_string())?;
    if config.runner.access.secret.is_none() {
        return Err("RUNNER_SECRET is required: a Function URL is reachable by anyone".to_owned());
    }
    Ok(config)
}

async fn answer(runner: &Runner, request: Request) -> http::Response<Body> {
    let deadline = deadline_of(request.lambda_context_ref().map(|c| c.deadline));
    let (parts, body) = request.into_parts();
    // Lambda has delivered the whole body already; admission still decides whether it counts.
    let limit = match runner.admit(&parts) {
        Ok(limit) => limit,
        Err(refusal) => return refusal,
    };
    let bytes = match body {
        _ if limit == 0 => Bytes::new(),
        lambda_http::Body::Empty => Bytes::new(),
        lambda_http::Body::Text(text) => Bytes::from(text),
        lambda_http::Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    let whole = futures_util::stream::iter([Ok::<_, Infallible>(bytes)]);
    let bytes = match read_body(whole, limit).await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge { size }) => return runner.body_too_large(size),
        Err(BodyError::Read(never)) => match never {},
    };
    runner
        .handle(http::Request::from_parts(parts, bytes), deadline)
        .await
}

/// Lambda's deadline (ms since the Unix epoch) as an instant on this machine's clock.
fn deadline_of(deadline_ms: Option<u64>) -> Option<Deadline> {
    let deadline_ms = deadline_ms.filter(|ms| *ms > 0)?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_millis();
    let left = u64::try_from(u128::from(deadline_ms).saturating_sub(now_ms)).unwrap_or(0);
    Some(Deadline(Instant::now() + Duration::from_millis(left)))
}

/// JSON logs when the function's log format is JSON (`AWS_LAMBDA_LOG_FORMAT`), at
/// `AWS_LAMBDA_LOG_LEVEL` (or `RUST_LOG`).
fn init_logging() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .map(|l| l.to_ascii_lowercase())
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .without_time();
    if std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().with_current_span(false).init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invocation_deadline_becomes_an_instant() {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let Deadline(at) = deadline_of(Some(now_ms + 30_000)).unwrap();
        let left = at.duration_since(Instant::now());
        assert!(
            left > Duration::from_secs(29) && left <= Duration::from_secs(30),
            "{left:?}"
        );
        assert!(deadline_of(None).is_none());
        let Deadline(past) = deadline_of(Some(now_ms - 5_000)).unwrap();
        assert!(past <= Instant::now() + Duration::from_millis(1));
    }
}

//! What differs between a native target and `wasm32` (Cloudflare Workers): how a task is
//! spawned, how a task sleeps, where the clock comes from, and whether boxed futures must be `Send`.
//! Everything else in the core is the same code on both.
//!
//! - Native: tasks go to the multi-threaded tokio runtime, so they must be `Send`; timers are
//!   tokio's.
//! - `wasm32`: there is one thread and no tokio runtime. Tasks are spawned on the tokio
//!   `LocalSet` the adapter drives (the envoy client spawns its own tasks the same way), timers
//!   are the host's `setTimeout`, and the clock is the host's (`std::time::Instant` panics there).

use std::future::Future;
use std::time::Duration;

pub use web_time::{Instant, SystemTime, UNIX_EPOCH};

/// A boxed future that is `Send` where tasks need it to be.
#[cfg(not(target_arch = "wasm32"))]
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;
/// A boxed future that is `Send` where tasks need it to be.
#[cfg(target_arch = "wasm32")]
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + 'a>>;

/// Runs `future` as a detached task.
#[cfg(not(target_arch = "wasm32"))]
pub fn spawn<F>(future: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(future);
}

/// Runs `future` as a detached task on the `LocalSet` being driven.
#[cfg(target_arch = "wasm32")]
pub fn spawn<F>(future: F)
where
    F: Future<Output = ()> + 'static,
{
    tokio::task::spawn_local(future);
}

/// Runs blocking work (opening SQLite, reading files) off the async workers where there are
/// threads to spare; inline where there is one thread.
#[cfg(not(target_arch = "wasm32"))]
pub async fn run_blocking<T, F>(work: F) -> Result<T, BlockingError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| BlockingError(err.to_string()))
}

/// Runs blocking work (opening SQLite, reading files) off the async workers where there are
/// threads to spare; inline where there is one thread.
#[cfg(target_arch = "wasm32")]
pub async fn run_blocking<T, F>(work: F) -> Result<T, BlockingError>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    Ok(work())
}

/// Blocking work that panicked or was cancelled.
#[derive(Debug, thiserror::Error)]
#[error("blocking task failed: {0}")]
pub struct BlockingError(String);

/// Waits for `duration`.
#[cfg(not(target_arch = "wasm32"))]
pub async fn sleep(duration: Duration) {
    tokio::time::sleep(duration).await;
}

/// Waits for `duration` (the host's `setTimeout`).
#[cfg(target_arch = "wasm32")]
pub async fn sleep(duration: Duration) {
    rivet_envoy_client::utils::sleep(duration).await;
}

/// Waits until `at`; returns at once if it has passed.
pub async fn sleep_until(at: Instant) {
    sleep(at.saturating_duration_since(Instant::now())).await;
}

/// Waits until `at`, or forever without one: for timers that may be off.
pub async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The future's output, or [`Elapsed`] if `duration` passes first.
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    tokio::select! {
        output = future => Ok(output),
        () = sleep(duration) => Err(Elapsed),
    }
}

/// A [`timeout`] ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timed out")]
pub struct Elapsed;

/// Ticks every `period`, the first tick at once; a late tick does not cause a burst.
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    next: Instant,
}

impl Interval {
    /// An interval whose first tick is now.
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            next: Instant::now(),
        }
    }

    /// Waits for the next tick.
    pub async fn tick(&mut self) {
        sleep_until(self.next).await;
        let now = Instant::now();
        self.next = (self.next + self.period).max(now);
    }
}

/// Milliseconds since the Unix epoch, by the host's clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

//! Bounded retries with backoff for object-store calls.

use std::future::Future;
use std::time::Duration;

use crate::object_store::ObjectStoreError;

/// Attempts per call, the first included. With the delays below a call gives up after about
/// 1.3 s of waiting; the S3 client retries inside each attempt as well.
const ATTEMPTS: u32 = 4;
const FIRST_DELAY: Duration = Duration::from_millis(100);

/// Runs `op` until it succeeds, fails for good, or [`ATTEMPTS`] are spent. Only throttling
/// (S3 503 SlowDown, 429) and transient unavailability are retried.
pub(crate) async fn retry<T, F, Fut>(what: &str, mut op: F) -> Result<T, ObjectStoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ObjectStoreError>>,
{
    let mut delay = FIRST_DELAY;
    let mut attempt = 1;
    loop {
        match op().await {
            Err(err) if err.is_retryable() && attempt < ATTEMPTS => {
                tracing::warn!(what, attempt, error = %err, "object store call failed; retrying");
                crate::rt::sleep(jitter(delay)).await;
                delay *= 3;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Spreads retries of concurrent actors apart (between 50% and 100% of `delay`).
fn jitter(delay: Duration) -> Duration {
    let nanos = crate::rt::SystemTime::now()
        .duration_since(crate::rt::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    delay / 2 + delay.mul_f64(f64::from(nanos % 1000) / 2000.0)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn throttling_is_retried_a_bounded_number_of_times() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = retry("test", || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(ObjectStoreError::Throttled("SlowDown".into())) }
        })
        .await;
        assert!(matches!(result, Err(ObjectStoreError::Throttled(_))));
        assert_eq!(calls.load(Ordering::SeqCst), ATTEMPTS);
    }

    #[tokio::test(start_paused = true)]
    async fn a_transient_failure_then_success_succeeds_and_conflicts_are_not_retried() {
        let calls = AtomicU32::new(0);
        let result = retry("test", || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err(ObjectStoreError::Unavailable("reset".into()))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(result.unwrap(), 1);

        let calls = AtomicU32::new(0);
        let result: Result<(), _> = retry("test", || {
            calls.fetch_add(1, Ordering::SeqCst);
            async {
                Err(ObjectStoreError::PreconditionFailed {
                    key: "manifest.json".into(),
                })
            }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}

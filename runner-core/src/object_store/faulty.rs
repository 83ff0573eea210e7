//! A wrapping store that injects failures and delays and counts what passes through: for fault
//! injection tests and for measuring requests and bytes.

use std::ops::Range;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;

use super::{Object, ObjectMeta, ObjectStore, ObjectStoreError, PutMode, StoreFuture};

/// Which failure a faulty call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// S3's `503 SlowDown`.
    SlowDown,
    /// A connection reset or 500.
    Unavailable,
}

/// What to inject.
#[derive(Debug, Clone, Copy, Default)]
pub struct FaultPlan {
    /// Fraction of calls (0.0–1.0) that fail.
    pub failure_rate: f64,
    /// The failure they return.
    pub fault: Option<Fault>,
    /// Added to every call.
    pub delay: Duration,
    /// Every call fails (a full outage).
    pub outage: bool,
    /// Puts whose replies are lost: see [`LostReplies`].
    pub lost_replies: Option<LostReplies>,
}

/// The next `puts` puts to keys containing `key_contains` answer `Unavailable`; the first of
/// them is applied to the store before its reply is lost (a write that landed while the
/// connection dropped), the others are not.
#[derive(Debug, Clone, Copy)]
pub struct LostReplies {
    /// Which keys.
    pub key_contains: &'static str,
    /// How many puts.
    pub puts: u32,
}

/// Calls and bytes seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// `put` calls that succeeded.
    pub puts: u64,
    /// Bytes in successful `put`s.
    pub put_bytes: u64,
    /// `get` and `get_range` calls.
    pub gets: u64,
    /// Bytes returned by gets.
    pub get_bytes: u64,
    /// `list` calls.
    pub lists: u64,
    /// `delete` calls.
    pub deletes: u64,
    /// Calls that were made to fail.
    pub injected_failures: u64,
    /// Puts whose replies were lost ([`LostReplies`]).
    pub lost_replies: u64,
}

impl StoreStats {
    /// Calls that reached the store (conditional puts that lost a race are not counted).
    pub fn requests(&self) -> u64 {
        self.puts + self.gets + self.lists + self.deletes + self.injected_failures
    }
}

struct State {
    plan: FaultPlan,
    /// The next lost reply is the first of its plan (the one applied).
    first_lost_reply: bool,
    stats: StoreStats,
    rng: u64,
}

/// Wraps a store with [`FaultPlan`] and [`StoreStats`].
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    state: Mutex<State>,
}

impl std::fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyStore")
            .field("plan", &self.lock().plan)
            .finish_non_exhaustive()
    }
}

impl FaultyStore {
    /// Wraps `inner`, injecting nothing until [`Self::set_plan`]. `seed` makes failures
    /// reproducible.
    pub fn new(inner: Arc<dyn ObjectStore>, seed: u64) -> Self {
        Self {
            inner,
            state: Mutex::new(State {
                plan: FaultPlan::default(),
                first_lost_reply: true,
                stats: StoreStats::default(),
                rng: seed | 1,
            }),
        }
    }

    /// Replaces the fault plan.
    pub fn set_plan(&self, plan: FaultPlan) {
        let mut state = self.lock();
        state.plan = plan;
        state.first_lost_reply = true;
    }

    /// What passed through so far.
    pub fn stats(&self) -> StoreStats {
        self.lock().stats
    }

    /// Resets the counters.
    pub fn reset_stats(&self) {
        self.lock().stats = StoreStats::default();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Decides this call's fate: the delay to wait, and the failure to return if any.
    fn roll(&self, key: &str) -> (Duration, Option<ObjectStoreError>) {
        let mut state = self.lock();
        // xorshift64: reproducible without a dependency.
        state.rng ^= state.rng << 13;
        state.rng ^= state.rng >> 7;
        state.rng ^= state.rng << 17;
        let draw = (state.rng % 1_000_000) as f64 / 1_000_000.0;
        let plan = state.plan;
        let fails = plan.outage || draw < plan.failure_rate;
        if !fails {
            return (plan.delay, None);
        }
        state.stats.injected_failures += 1;
        let error = match plan.fault.unwrap_or(Fault::Unavailable) {
            Fault::SlowDown => {
                ObjectStoreError::Throttled(format!("SlowDown (injected) on `{key}`"))
            }
            Fault::Unavailable => {
                ObjectStoreError::Unavailable(format!("connection reset (injected) on `{key}`"))
            }
        };
        (plan.delay, Some(error))
    }

    /// Whether this put's reply is lost (`Some`), and if so whether it is applied first.
    fn lose_reply(&self, key: &str) -> Option<bool> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let lost = state.plan.lost_replies.as_mut()?;
        if lost.puts == 0 || !key.contains(lost.key_contains) {
            return None;
        }
        lost.puts -= 1;
        let first = std::mem::replace(&mut state.first_lost_reply, false);
        state.stats.lost_replies += 1;
        state.stats.injected_failures += 1;
        Some(first)
    }

    async fn gate(&self, key: &str) -> Result<(), ObjectStoreError> {
        let (delay, failure) = self.roll(key);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        failure.map_or(Ok(()), Err)
    }

    fn count(&self, update: impl FnOnce(&mut StoreStats)) {
        update(&mut self.lock().stats);
    }
}

impl ObjectStore for FaultyStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Object>> {
        Box::pin(async move {
            self.gate(key).await?;
            let object = self.inner.get(key).await?;
            let bytes = object.as_ref().map_or(0, |o| o.bytes.len() as u64);
            self.count(|s| {
                s.gets += 1;
                s.get_bytes += bytes;
            });
            Ok(object)
        })
    }

    fn get_range<'a>(&'a self, key: &'a str, range: Range<u64>) -> StoreFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            self.gate(key).await?;
            let bytes = self.inner.get_range(key, range).await?;
            let len = bytes.as_ref().map_or(0, |b| b.len() as u64);
            self.count(|s| {
                s.gets += 1;
                s.get_bytes += len;
            });
            Ok(bytes)
        })
    }

    fn put<'a>(&'a self, key: &'a str, bytes: Bytes, mode: PutMode) -> StoreFuture<'a, String> {
        Box::pin(async move {
            self.gate(key).await?;
            if let Some(apply) = self.lose_reply(key) {
                if apply {
                    self.inner.put(key, bytes, mode).await?;
                }
                return Err(ObjectStoreError::Unavailable(format!(
                    "connection reset after the request was sent (injected) on `{key}`"
                )));
            }
            let len = bytes.len() as u64;
            let etag = self.inner.put(key, bytes, mode).await?;
            self.count(|s| {
                s.puts += 1;
                s.put_bytes += len;
            });
            Ok(etag)
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<ObjectMeta>> {
        Box::pin(async move {
            self.gate(prefix).await?;
            self.count(|s| s.lists += 1);
            self.inner.list(prefix).await
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.gate(key).await?;
            self.count(|s| s.deletes += 1);
            self.inner.delete(key).await
        })
    }
}

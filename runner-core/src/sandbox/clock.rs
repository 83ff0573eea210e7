//! The time limit of one sandboxed call, shared by everything that can spend the call's time:
//! the guest's own code (wasm epochs, the QuickJS interrupt handler), the guest's SQL (SQLite's
//! progress handler), and WASI sleeps.
//!
//! Time the call spends waiting on the host's network calls (`fetch`) is given back, up to
//! [`MAX_GIVEN_BACK`] per call, so a slow API does not count as the guest's CPU while a guest
//! cannot keep a call alive forever by fetching in a loop.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The most waiting on the host one call is given back.
pub(crate) const MAX_GIVEN_BACK: Duration = Duration::from_secs(30);

/// The deadline of the call in progress.
#[derive(Debug, Default)]
pub(crate) struct CallClock {
    /// Nanoseconds after [`epoch`] the call must end by; 0 when no call runs.
    deadline: AtomicU64,
    /// Nanoseconds given back to this call so far.
    given_back: AtomicU64,
    /// The deadline passed and the call was interrupted.
    hit: AtomicBool,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn nanos_since_epoch() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX / 4)
}

impl CallClock {
    /// A call starts with `limit` to run.
    pub(crate) fn start(&self, limit: Duration) {
        self.hit.store(false, Ordering::Release);
        self.given_back.store(0, Ordering::Release);
        self.deadline.store(
            nanos_since_epoch().saturating_add(nanos(limit)).max(1),
            Ordering::Release,
        );
    }

    /// No call runs.
    pub(crate) fn stop(&self) {
        self.deadline.store(0, Ordering::Release);
    }

    /// Gives back time the call spent waiting on the host, within [`MAX_GIVEN_BACK`].
    pub(crate) fn give_back(&self, waited: Duration) {
        let cap = nanos(MAX_GIVEN_BACK);
        let before = self
            .given_back
            .fetch_add(nanos(waited), Ordering::AcqRel)
            .min(cap);
        let granted = nanos(waited).min(cap - before);
        if self.deadline.load(Ordering::Acquire) != 0 {
            self.deadline.fetch_add(granted, Ordering::AcqRel);
        }
    }

    /// What more this call can be given back.
    pub(crate) fn left_to_give_back(&self) -> Duration {
        let given = self.given_back.load(Ordering::Acquire);
        Duration::from_nanos(nanos(MAX_GIVEN_BACK).saturating_sub(given))
    }

    /// Whether the running call is past its deadline; if so it is marked as having hit it.
    pub(crate) fn should_interrupt(&self) -> bool {
        let deadline = self.deadline.load(Ordering::Acquire);
        if deadline != 0 && nanos_since_epoch() > deadline {
            self.hit.store(true, Ordering::Release);
            return true;
        }
        false
    }

    /// What is left of the running call's time (`None` when no call runs). Wasm's sleeps and
    /// epochs read it.
    #[cfg(any(test, feature = "wasmtime"))]
    pub(crate) fn remaining(&self) -> Option<Duration> {
        let deadline = self.deadline.load(Ordering::Acquire);
        (deadline != 0).then(|| Duration::from_nanos(deadline.saturating_sub(nanos_since_epoch())))
    }

    /// Whether the call (the last one, once stopped) hit its deadline.
    pub(crate) fn hit(&self) -> bool {
        self.hit.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_interrupts_after_its_deadline_and_gives_back_host_time() {
        let clock = CallClock::default();
        assert!(!clock.should_interrupt(), "no call, no deadline");
        assert_eq!(clock.remaining(), None);
        clock.start(Duration::from_millis(20));
        assert!(!clock.should_interrupt());
        std::thread::sleep(Duration::from_millis(30));
        clock.give_back(Duration::from_millis(200));
        assert!(!clock.should_interrupt(), "host time is given back");
        assert!(clock.remaining().unwrap() > Duration::from_millis(100));
        clock.start(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(1));
        assert!(clock.should_interrupt());
        assert!(clock.hit());
        clock.stop();
        assert!(!clock.should_interrupt());
    }

    #[test]
    fn what_is_given_back_is_capped_per_call() {
        let clock = CallClock::default();
        clock.start(Duration::from_millis(10));
        for _ in 0..1000 {
            clock.give_back(Duration::from_secs(1));
        }
        let left = clock.remaining().unwrap();
        assert!(
            left <= MAX_GIVEN_BACK + Duration::from_millis(10),
            "{left:?}"
        );
        // The next call starts with nothing given back.
        clock.start(Duration::from_millis(10));
        clock.give_back(Duration::from_secs(1));
        assert!(clock.remaining().unwrap() > Duration::from_millis(900));
    }
}

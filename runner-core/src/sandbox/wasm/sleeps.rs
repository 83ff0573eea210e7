//! WASI sleeps bounded by the call's deadline.
//!
//! A guest's `sleep` (or `poll` with a timeout) waits inside the host, where wasmtime's epoch
//! interruption cannot reach it: a guest could sleep for an hour inside one call. So the
//! runner defines `wasi:clocks/monotonic-clock`'s `subscribe-duration` and `subscribe-instant`
//! over wasmtime-wasi's: a sleep ends at the call's deadline at the latest, and the guest's next
//! instruction then finds the deadline passed and traps with the time limit.
//!
//! The monotonic clock is the runner's own ([`MonotonicClock`]), so `subscribe-instant` can
//! turn an instant into a wait.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};

use super::host::HostState;

/// The interface as wasmtime-wasi 48 defines it (guests' older 0.2 imports resolve to it).
const INTERFACE: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Replaces the two subscribe functions in `linker` (which already has WASI).
pub(super) fn bound_sleeps(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(INTERFACE)?;
    clock.func_wrap(
        "subscribe-duration",
        |store: StoreContextMut<'_, HostState>, (nanos,): (u64,)| {
            subscribe_sleep(store, Duration::from_nanos(nanos)).map(|p| (p,))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |store: StoreContextMut<'_, HostState>, (when,): (u64,)| {
            let wait = when.saturating_sub(MonotonicClock::nanos());
            subscribe_sleep(store, Duration::from_nanos(wait)).map(|p| (p,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

fn subscribe_sleep(
    mut store: StoreContextMut<'_, HostState>,
    wait: Duration,
) -> wasmtime::Result<Resource<DynPollable>> {
    let data = store.data_mut();
    // Outside a call (instantiation) there is no clock: no sleep may outlast a short bound.
    let left = data
        .guard
        .clock
        .remaining()
        .unwrap_or(Duration::from_millis(100));
    let until = tokio::time::Instant::now() + wait.min(left);
    let sleep = data.table.push(BoundedSleep(until))?;
    subscribe(&mut data.table, sleep)
}

/// A sleep that ends at the earlier of its own end and the call's deadline.
struct BoundedSleep(tokio::time::Instant);

#[wasmtime_wasi::async_trait]
impl Pollable for BoundedSleep {
    async fn ready(&mut self) {
        tokio::time::sleep_until(self.0).await;
    }
}

/// The guest's monotonic clock: nanoseconds since this process first read it.
pub(super) struct MonotonicClock;

impl MonotonicClock {
    fn nanos() -> u64 {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        u64::try_from(ORIGIN.get_or_init(Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

impl wasmtime_wasi::HostMonotonicClock for MonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        Self::nanos()
    }
}

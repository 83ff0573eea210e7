//! A cap on the object-store requests one claim of an actor may make, for platforms that limit
//! the outbound requests of one invocation (a Worker: 50 per request on the Free plan, 1,000
//! or 10,000 on paid plans). The actor asks to sleep before the cap, so the engine wakes it
//! in a fresh invocation with a fresh allowance, while enough is left to persist its last
//! writes.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;

use crate::object_store::{
    Object, ObjectMeta, ObjectStore, ObjectStoreError, PutMode, StoreFuture,
};

/// Requests one claim may make, and how many are kept back for the final flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestBudget {
    /// Object-store requests (retries included) from restore to the last flush.
    pub requests: u32,
}

impl RequestBudget {
    /// Requests kept back for stopping: the last WAL segment, changed files, the manifest,
    /// and a retry or two.
    pub(crate) fn reserve(self) -> u32 {
        (self.requests / 8).clamp(4, 200)
    }

    /// Whether a claim that has made `used` requests should ask to sleep now.
    pub(crate) fn spent(self, used: u32) -> bool {
        used.saturating_add(self.reserve()) >= self.requests
    }

    /// A WAL chain this long is folded into a snapshot, so that restoring it (one request per
    /// segment) stays a small part of the next claim's budget.
    pub(crate) fn max_segments(self) -> u32 {
        (self.requests / 8).max(1)
    }
}

/// Counts the requests made through it and refuses any beyond the budget, without sending
/// them: past the platform's limit they would fail anyway, only slower.
pub(crate) struct Budgeted {
    inner: Arc<dyn ObjectStore>,
    budget: RequestBudget,
    used: Arc<AtomicU32>,
}

impl Budgeted {
    pub(crate) fn new(inner: Arc<dyn ObjectStore>, budget: RequestBudget) -> Self {
        Self {
            inner,
            budget,
            used: Arc::new(AtomicU32::new(0)),
        }
    }

    /// The counter, for the shipper to read.
    pub(crate) fn used(&self) -> Arc<AtomicU32> {
        self.used.clone()
    }

    fn take(&self) -> Result<(), ObjectStoreError> {
        let used = self.used.fetch_add(1, Ordering::Relaxed);
        if used >= self.budget.requests {
            return Err(ObjectStoreError::Other(format!(
                "this start's object-store request budget ({}) is spent",
                self.budget.requests
            )));
        }
        Ok(())
    }
}

impl ObjectStore for Budgeted {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Object>> {
        match self.take() {
            Ok(()) => self.inner.get(key),
            Err(err) => Box::pin(std::future::ready(Err(err))),
        }
    }

    fn get_range<'a>(&'a self, key: &'a str, range: Range<u64>) -> StoreFuture<'a, Option<Bytes>> {
        match self.take() {
            Ok(()) => self.inner.get_range(key, range),
            Err(err) => Box::pin(std::future::ready(Err(err))),
        }
    }

    fn put<'a>(&'a self, key: &'a str, bytes: Bytes, mode: PutMode) -> StoreFuture<'a, String> {
        match self.take() {
            Ok(()) => self.inner.put(key, bytes, mode),
            Err(err) => Box::pin(std::future::ready(Err(err))),
        }
    }

    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<ObjectMeta>> {
        match self.take() {
            Ok(()) => self.inner.list(prefix),
            Err(err) => Box::pin(std::future::ready(Err(err))),
        }
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        match self.take() {
            Ok(()) => self.inner.delete(key),
            Err(err) => Box::pin(std::future::ready(Err(err))),
        }
    }
}

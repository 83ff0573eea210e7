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

/// What one claim has spent of its budget, if it has one: the shipper's view of [`Budgeted`].
#[derive(Debug, Clone)]
pub(crate) struct BudgetMeter {
    budget: Option<RequestBudget>,
    used: Arc<AtomicU32>,
}

impl BudgetMeter {
    /// A claim without a cap.
    pub(crate) fn unlimited() -> Self {
        Self {
            budget: None,
            used: Arc::new(AtomicU32::new(0)),
        }
    }

    /// Requests made so far.
    fn used(&self) -> u32 {
        self.used.load(Ordering::Relaxed)
    }

    /// The claim should ask to sleep now, while its reserve can still persist its last writes.
    pub(crate) fn spent(&self) -> bool {
        self.budget.is_some_and(|budget| budget.spent(self.used()))
    }

    /// `cost` more requests would leave the reserve for stopping intact.
    pub(crate) fn affords(&self, cost: u32) -> bool {
        self.budget
            .is_none_or(|budget| !budget.spent(self.used().saturating_add(cost)))
    }

    /// Whether a chain of `segments` should be folded to keep the next restore within budget.
    pub(crate) fn chain_too_long(&self, segments: u32) -> bool {
        self.budget
            .is_some_and(|budget| segments >= budget.max_segments())
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

    /// The meter the shipper reads.
    pub(crate) fn meter(&self) -> BudgetMeter {
        BudgetMeter {
            budget: Some(self.budget),
            used: self.used.clone(),
        }
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

//! What the actor's output gate knows of its shipper.

use std::sync::Arc;
use std::time::Duration;

/// When a running actor's writes reach the object store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DurabilityMode {
    /// Every reply and event leaves the runner only after the writes before it are durable.
    #[default]
    Strict,
    /// Ship every interval; acknowledged writes since the last upload may be lost on a crash.
    Interval(Duration),
}

/// What the shipper has achieved, as the actor's output gate sees it.
#[derive(Debug, Clone, Default)]
pub struct ReplicaStatus {
    /// Every commit numbered up to this is durable.
    pub durable: u64,
    /// Commits up to this could not be shipped; their held outputs fail.
    pub failed: u64,
    /// Why the last ship failed.
    pub error: Option<Arc<str>>,
    /// A newer generation owns the actor: nothing this instance writes will be persisted.
    pub fenced: bool,
    /// The WAL chain is long enough to fold into a new snapshot.
    pub compact: bool,
    /// The claim's object-store request budget is nearly spent: the actor should sleep while
    /// enough is left to persist its last writes.
    pub budget_spent: bool,
    /// Folding the chain now would make the next cold restore much cheaper: many segments over
    /// a small snapshot. Worth doing at a stop after which the local copy is dropped.
    pub fold_on_stop: bool,
}

//! Native Rust actors: the typed API actor authors use, and the runtime that hosts one actor.
//!
//! An actor is a type implementing [`Actor`]. It has persisted `State` (serde), a SQLite
//! database, actions (name → typed args → typed output), events broadcast to subscribed
//! connections, and scheduled actions. Every action runs inside one SQLite transaction that also
//! stores the state, so an action either happens completely or not at all.

mod behavior;
mod cbor;
mod conns;
mod context;
mod cron;
mod definition;
mod factory;
mod files;
mod gate;
mod instance;
mod key;
mod mailbox;
mod queue;
mod queue_ctx;
mod schedule;

pub use conns::{ConnParams, ConnRef};
pub use context::Ctx;
pub use cron::{Cadence, CronFire, CronJob, FireResult};
pub use definition::{ActionError, Actions, Actor, RawRequest, RawResponse};
pub use factory::{
    ActorControl, ActorFactory, ActorInit, ActorResolver, NativeFactory, Registry, ResolveFuture,
};
pub use files::Files;
pub(crate) use mailbox::MAX_QUEUE_WAIT;
pub use mailbox::{ActorHandle, ConnId, ConnSink, QueueSendOutcome, StopError, StopOutcome};
pub use queue::QueueMessage;

pub(crate) use cbor::{cbor_from_json, cbor_to_json};
pub(crate) use conns::MAX_CONN_PARAMS_BYTES;
pub(crate) use context::cut_close_reason;
pub(crate) use cron::SCHEMA as CRON_SCHEMA;
#[cfg(feature = "js")]
pub(crate) use cron::{
    delete as cron_delete, get as cron_get, history as cron_history, list as cron_list,
    set as cron_set,
};
pub(crate) use queue::QUEUE_SCHEMA;
#[cfg(feature = "js")]
pub(crate) use queue::{complete as queue_complete, receive as queue_receive, send as queue_send};

// What the sandboxed runtimes (crate::sandbox) build on.
#[cfg(any(feature = "wasmtime", feature = "js"))]
pub(crate) use behavior::{Behavior, Scope};
#[cfg(feature = "js")]
pub(crate) use behavior::{Pending, ScheduledFire};
#[cfg(feature = "js")]
pub(crate) use conns::ConnTable;
#[cfg(any(feature = "wasmtime", feature = "js"))]
pub(crate) use context::{ActorMeta, Effects};
#[cfg(any(feature = "wasmtime", feature = "js"))]
pub(crate) use instance::start as start_instance;
pub use schedule::ScheduledEvent;
#[cfg(any(feature = "wasmtime", feature = "js"))]
pub(crate) use schedule::insert as schedule_insert;
#[cfg(any(feature = "wasmtime", feature = "js"))]
pub(crate) use schedule::now_ms;
#[cfg(feature = "js")]
pub(crate) use schedule::{cancel as schedule_cancel, get as schedule_get, list as schedule_list};

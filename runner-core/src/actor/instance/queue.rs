//! The instance's side of RivetKit's queue: a client's message taken in a transaction on its
//! own connection (declared queues only, through `canPublish`), the clients waiting for their
//! message to be completed, and waking the code that waits for messages.

use std::collections::HashMap;

use tokio::sync::oneshot;

use crate::actor::conns::ConnId;
use crate::actor::definition::ActionError;
use crate::actor::gate::{CompletionWait, Output};
use crate::actor::queue;

use super::{Instance, MIN_TURN_GAP};
use crate::rt::Instant;

/// Clients waiting for their queue message, by message id.
pub(super) type QueueWaiters = HashMap<i64, oneshot::Sender<Option<Vec<u8>>>>;

impl Instance {
    /// A client's message for queue `name`: taken if the code declares the queue and allows
    /// the connection to publish to it, ignored (`None`, as completed) if it does not declare
    /// it. With `wait`, the client hears when the message is completed or received.
    pub(super) fn queue_send(
        &mut self,
        conn: Option<ConnId>,
        name: &str,
        body: &[u8],
        wait: bool,
    ) -> Result<Option<CompletionWait>, ActionError> {
        let sent = self.transact_as(conn, |code, scope| {
            if !code.accepts_queue(scope, name)? {
                return Ok(None);
            }
            let message = queue::send(scope.db, name, body, crate::actor::schedule::now_ms())?;
            scope.effects.queue_sent = true;
            Ok(Some(message.id))
        })?;
        match sent {
            Some(id) if wait => {
                // Waiters whose client gave up are dropped here, so they stay bounded by the
                // queue's size.
                self.queue_waiters.retain(|_, waiter| !waiter.is_closed());
                let (tx, rx) = oneshot::channel();
                self.queue_waiters.insert(id, tx);
                Ok(Some(rx))
            }
            _ => Ok(None),
        }
    }

    /// After a commit: clients waiting on the messages it took out hear it (through the gate),
    /// and code waiting for messages gets a turn if it sent some.
    pub(super) fn after_queue_commit(&mut self, done: Vec<(i64, Option<Vec<u8>>)>, sent: bool) {
        for (id, response) in done {
            if let Some(waiter) = self.queue_waiters.remove(&id) {
                self.deliver(Output::QueueDone(waiter, response));
            }
        }
        self.queue_kick |= sent;
    }

    /// When the code waiting for messages is due its turn: [`MIN_TURN_GAP`] after the last.
    pub(super) fn next_kick(&self) -> Option<Instant> {
        if !self.queue_kick {
            return None;
        }
        Some(
            self.last_kick
                .map_or_else(Instant::now, |last| last + MIN_TURN_GAP),
        )
    }

    /// Hands new messages to the code waiting for them (`c.queue.next`, a native `on_queue`),
    /// in a transaction of its own, once its turn is due.
    pub(super) fn run_queue_kick(&mut self) {
        if self.next_kick().is_none_or(|at| at > Instant::now()) {
            return;
        }
        self.queue_kick = false;
        if !self.behavior.wants_queue_ready() {
            return;
        }
        let result = self.transact(|code, scope| code.queue_ready(scope));
        self.last_kick = Some(Instant::now());
        if let Err(err) = result {
            tracing::warn!(error = %err, "handing queue messages to the actor failed; its writes are undone");
            // Undone by the code or at the commit alike: nothing may keep what it received.
            self.behavior.queue_turn_undone();
            self.refresh_pending();
        }
    }
}

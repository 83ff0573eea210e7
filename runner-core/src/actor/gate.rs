//! The output gate: in strict durability mode nothing an actor produces (a reply, an event)
//! leaves it before every write committed up to that moment is durable in the object store.
//! Outputs wait in commit order; a failed upload fails the outputs that depended on it.

use std::collections::VecDeque;

use tokio::sync::oneshot;

use crate::persist::ReplicaStatus;

use super::conns::ConnId;
use super::context::Outgoing;
use super::definition::{ActionError, RawResponse};

/// Where a call's events and disconnects go once they may leave.
pub(crate) trait Deliver {
    fn deliver(&mut self, outgoing: Outgoing);
    /// A connection was opened for a client that will never learn it (it left, or the open
    /// could not be made durable): it is to be closed.
    fn abandoned(&mut self, conn: ConnId);
}

/// Something an actor sends out.
pub(crate) enum Output {
    Action(
        oneshot::Sender<Result<Vec<u8>, ActionError>>,
        Result<Vec<u8>, ActionError>,
    ),
    Request(
        oneshot::Sender<Result<Option<RawResponse>, ActionError>>,
        Result<Option<RawResponse>, ActionError>,
    ),
    /// A connection the connect hooks accepted (or their refusal).
    Opened(
        oneshot::Sender<Result<ConnId, ActionError>>,
        Result<ConnId, ActionError>,
    ),
    /// Events and disconnects, in the order the call made them.
    Events(Vec<Outgoing>),
    /// A client's queue message was taken (or ignored); a waiting sender gets its completion
    /// through the receiver.
    Queued(
        oneshot::Sender<Result<Option<CompletionWait>, ActionError>>,
        Result<Option<CompletionWait>, ActionError>,
    ),
    /// A message a client waits on was completed (with the actor's response) or received.
    QueueDone(oneshot::Sender<Option<Vec<u8>>>, Option<Vec<u8>>),
}

/// Where a client waiting on its queue message hears it was completed.
pub(crate) type CompletionWait = oneshot::Receiver<Option<Vec<u8>>>;

impl Output {
    /// Sends the output; events and disconnects go through `out`.
    pub(crate) fn send(self, out: &mut impl Deliver) {
        match self {
            Self::Action(reply, result) => {
                let _ = reply.send(result);
            }
            Self::Request(reply, response) => {
                let _ = reply.send(response);
            }
            Self::Opened(reply, opened) => {
                if let Err(Ok(conn)) = reply.send(opened) {
                    out.abandoned(conn);
                }
            }
            Self::Events(events) => {
                for outgoing in events {
                    out.deliver(outgoing);
                }
            }
            Self::Queued(reply, result) => {
                let _ = reply.send(result);
            }
            Self::QueueDone(waiter, response) => {
                let _ = waiter.send(response);
            }
        }
    }

    /// Answers with `error` instead; events are dropped. Returns a connection that was opened
    /// for nobody.
    fn fail(self, error: &ActionError) -> Option<ConnId> {
        match self {
            Self::Action(reply, _) => {
                let _ = reply.send(Err(error.clone()));
            }
            Self::Request(reply, _) => {
                let _ = reply.send(Err(error.clone()));
            }
            Self::Opened(reply, opened) => {
                let _ = reply.send(Err(error.clone()));
                return opened.ok();
            }
            Self::Queued(reply, _) => {
                let _ = reply.send(Err(error.clone()));
            }
            // The waiting client is told nothing; its wait times out.
            Self::Events(_) | Self::QueueDone(..) => {}
        }
        None
    }
}

/// Outputs waiting for their commit to become durable.
#[derive(Default)]
pub(crate) struct OutputGate {
    held: VecDeque<(u64, Output)>,
}

impl OutputGate {
    /// Holds `output` until commit `after` is durable.
    pub(crate) fn hold(&mut self, after: u64, output: Output) {
        self.held.push_back((after, output));
    }

    /// Sends what is now durable and fails what could not be made durable, in order.
    pub(crate) fn settle(&mut self, status: &ReplicaStatus, out: &mut impl Deliver) {
        while let Some((after, output)) = self.held.pop_front() {
            if after <= status.durable {
                output.send(out);
            } else if after <= status.failed {
                let reason = status.error.as_deref().unwrap_or("upload failed");
                if let Some(conn) = output.fail(&ActionError::not_durable(reason)) {
                    out.abandoned(conn);
                }
            } else {
                self.held.push_front((after, output));
                break;
            }
        }
    }

    /// Fails everything still held (the writes will not be saved); returns the connections
    /// that were opened for nobody.
    pub(crate) fn fail_all(&mut self, reason: &str) -> Vec<ConnId> {
        let error = ActionError::not_durable(reason);
        self.held
            .drain(..)
            .filter_map(|(_, output)| output.fail(&error))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Sent(Vec<Outgoing>);
    impl Deliver for Sent {
        fn deliver(&mut self, outgoing: Outgoing) {
            self.0.push(outgoing);
        }
        fn abandoned(&mut self, _conn: ConnId) {}
    }

    fn status(durable: u64, failed: u64) -> ReplicaStatus {
        ReplicaStatus {
            durable,
            failed,
            error: Some("SlowDown".into()),
            ..ReplicaStatus::default()
        }
    }

    #[test]
    fn outputs_leave_in_order_once_durable_and_fail_when_their_upload_failed() {
        let mut gate = OutputGate::default();
        let (tx1, mut rx1) = oneshot::channel();
        let (tx2, mut rx2) = oneshot::channel();
        let (tx3, mut rx3) = oneshot::channel();
        gate.hold(1, Output::Action(tx1, Ok(b"one".to_vec())));
        gate.hold(2, Output::Action(tx2, Ok(b"two".to_vec())));
        gate.hold(3, Output::Action(tx3, Ok(b"three".to_vec())));
        let mut sent = Sent::default();
        gate.hold(
            2,
            Output::Events(vec![Outgoing::Event {
                to: crate::actor::context::To::Subscribers,
                name: "e".into(),
                args: vec![1],
            }]),
        );
        let broadcast = &mut sent;

        gate.settle(&status(0, 0), broadcast);
        assert!(rx1.try_recv().is_err(), "nothing is durable yet");

        gate.settle(&status(1, 0), broadcast);
        assert_eq!(rx1.try_recv().unwrap().unwrap(), b"one");
        assert!(rx2.try_recv().is_err());

        gate.settle(&status(1, 2), broadcast);
        assert_eq!(rx2.try_recv().unwrap().unwrap_err().code, "not_durable");
        assert!(rx3.try_recv().is_err(), "commit 3 is still in flight");

        assert!(sent.0.is_empty(), "events of a failed commit are dropped");
        assert!(gate.fail_all("stopping").is_empty());
        assert_eq!(rx3.try_recv().unwrap().unwrap_err().code, "not_durable");
    }
}

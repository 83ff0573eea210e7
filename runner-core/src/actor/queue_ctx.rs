//! A native actor's side of RivetKit's queue: [`Ctx`] methods over the actor's queue in the
//! call's transaction, and [`QueueMessage`]'s body.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cbor::{from_cbor, to_cbor};
use super::context::Ctx;
use super::definition::{ActionError, Actor};
use super::queue::{self, QueueMessage};

impl QueueMessage {
    /// The message's body, decoded.
    pub fn body<T: DeserializeOwned>(&self) -> Result<T, ActionError> {
        from_cbor(&self.body).map_err(|e| {
            ActionError::new("queue", "invalid_body", format!("message {}: {e}", self.id))
        })
    }
}

impl<A: Actor> Ctx<'_, A> {
    /// Sends `body` to the actor's own queue `name` (RivetKit's `c.queue.send`); with the call's
    /// commit, [`Actor::on_queue`] runs. At most 1 000 messages wait, each at most 64 KiB.
    pub fn queue_send<T: Serialize>(
        &mut self,
        name: &str,
        body: &T,
    ) -> Result<QueueMessage, ActionError> {
        let body = to_cbor(body).map_err(ActionError::internal)?;
        let message = queue::send(self.db, name, &body, super::schedule::now_ms())?;
        self.effects.queue_sent = true;
        Ok(message)
    }

    /// Takes up to `count` of the oldest messages, of `names` if given (RivetKit's
    /// `c.queue.tryNextBatch`); a client waiting on one hears it was received.
    pub fn queue_receive(
        &mut self,
        names: Option<&[&str]>,
        count: usize,
    ) -> Result<Vec<QueueMessage>, ActionError> {
        let names: Option<Vec<String>> = names.map(|n| n.iter().map(|s| (*s).to_owned()).collect());
        let messages = queue::receive(self.db, names.as_deref(), count, false)?;
        self.effects
            .queue_done
            .extend(messages.iter().map(|message| (message.id, None)));
        Ok(messages)
    }

    /// Like [`Ctx::queue_receive`], but the messages stay until [`Ctx::queue_complete`]
    /// (RivetKit's `completable: true`): one not completed is received again later.
    pub fn queue_receive_completable(
        &mut self,
        names: Option<&[&str]>,
        count: usize,
    ) -> Result<Vec<QueueMessage>, ActionError> {
        let names: Option<Vec<String>> = names.map(|n| n.iter().map(|s| (*s).to_owned()).collect());
        queue::receive(self.db, names.as_deref(), count, true)
    }

    /// Completes `message` with `response` for a client waiting on it; `false` if it was
    /// completed already.
    pub fn queue_complete<T: Serialize>(
        &mut self,
        message: &QueueMessage,
        response: Option<&T>,
    ) -> Result<bool, ActionError> {
        let response = response
            .map(|r| to_cbor(r).map_err(ActionError::internal))
            .transpose()?;
        let completed = queue::complete(self.db, message.id, &message.name)?;
        if completed {
            self.effects.queue_done.push((message.id, response));
        }
        Ok(completed)
    }
}

//! The type-erased interface to a running actor: messages in, replies out.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::definition::{ActionError, RawRequest, RawResponse};
use super::gate::CompletionWait;

pub use super::conns::ConnId;

/// How an actor reaches one connected client. The client layer implements it with the
/// connection's encoding; the actor only deals in event names and CBOR arguments.
pub trait ConnSink: Send + Sync {
    /// Delivers an event (CBOR argument list) to the client.
    fn event(&self, name: &str, args: &[u8]);
    /// Closes the connection because the actor is going away.
    fn close(&self, reason: &str);
    /// Delivers a raw WebSocket's message, text or binary.
    fn frame(&self, _data: &[u8], _binary: bool) {}
    /// Closes the connection with `code` (a raw WebSocket's `close(code, reason)`).
    fn close_with(&self, _code: u16, reason: &str) {
        self.close(reason);
    }
}

/// Why an actor's stop did not save its data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StopError {
    /// Its last writes did not reach the object store.
    #[error("the actor's last writes were not persisted: {0}")]
    NotPersisted(#[source] crate::persist::PersistError),
    /// Its local database could not be closed cleanly.
    #[error("close the actor's database: {0}")]
    Close(#[source] crate::error::StorageError),
    /// Its data could not be deleted from the object store (on destroy).
    #[error("delete the actor's stored data: {0}")]
    DeleteStored(#[source] crate::persist::PersistError),
    /// Its local data could not be deleted (on destroy, or a local copy after a sleep).
    #[error("delete the actor's local data: {0}")]
    DeleteLocal(#[source] crate::error::StorageError),
    /// The instance's task ended before it could answer.
    #[error("the actor's task ended before it stopped")]
    Gone,
}

/// The result of stopping an actor.
pub type StopOutcome = Result<(), StopError>;

pub(crate) enum Mail {
    /// Save (or, if `destroy`, prepare to delete) and end the task.
    Stop {
        destroy: bool,
        reply: oneshot::Sender<StopOutcome>,
    },
    /// Anything else, handled in order.
    Work(Work),
}

/// Who a call comes from: RivetKit's `c.conn`.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// The runner itself (a test, an internal call): no connection.
    Runner,
    /// An open connection (an action over `/connect`).
    Conn(ConnId),
    /// An HTTP request: it runs on a connection of its own, opened for the call with these
    /// params (CBOR, empty for none) and closed after it, as in RivetKit.
    Http { params: Vec<u8> },
}

pub(crate) enum Work {
    Action {
        name: String,
        args: Vec<u8>,
        caller: Caller,
        reply: oneshot::Sender<Result<Vec<u8>, ActionError>>,
    },
    Request {
        request: RawRequest,
        params: Vec<u8>,
        reply: oneshot::Sender<Result<Option<RawResponse>, ActionError>>,
    },
    ConnOpen {
        sink: Arc<dyn ConnSink>,
        params: Vec<u8>,
        reply: oneshot::Sender<Result<ConnId, ActionError>>,
    },
    Subscribe {
        conn: ConnId,
        event: String,
        subscribe: bool,
        reply: oneshot::Sender<Result<(), ActionError>>,
    },
    ConnClose {
        conn: ConnId,
    },
    SocketOpen {
        sink: Arc<dyn ConnSink>,
        params: Vec<u8>,
        request: RawRequest,
        reply: oneshot::Sender<Result<ConnId, ActionError>>,
    },
    SocketMessage {
        conn: ConnId,
        data: Vec<u8>,
        binary: bool,
        reply: oneshot::Sender<()>,
    },
    SocketClose {
        conn: ConnId,
        code: u16,
        reason: String,
    },
    QueueSend {
        name: String,
        body: Vec<u8>,
        wait: bool,
        params: Vec<u8>,
        reply: oneshot::Sender<Result<Option<CompletionWait>, ActionError>>,
    },
}

/// What a client's queue send came to (RivetKit's `QueueSendResult`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueSendOutcome {
    /// Taken, or ignored (the actor declares no such queue); for a sender that waited, with
    /// the response (CBOR) the actor completed it with, if any.
    Completed(Option<Vec<u8>>),
    /// The sender waited, and the message was not completed in time.
    TimedOut,
}

/// The longest a client waits for its queue message to be completed.
pub(crate) const MAX_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// A handle to one running actor instance. Cloning it is cheap.
#[derive(Clone, Debug)]
pub struct ActorHandle {
    tx: mpsc::Sender<Mail>,
    actor_id: Arc<str>,
    generation: u32,
    key: Option<Arc<str>>,
}

impl ActorHandle {
    pub(crate) fn new(
        tx: mpsc::Sender<Mail>,
        actor_id: &str,
        generation: u32,
        key: Option<&str>,
    ) -> Self {
        Self {
            tx,
            actor_id: actor_id.into(),
            generation,
            key: key.map(Into::into),
        }
    }

    /// The Rivet actor id.
    pub fn actor_id(&self) -> &str {
        &self.actor_id
    }

    /// The instance's generation.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// The actor's key.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Runs an action with CBOR-encoded positional args, for no connection; returns the CBOR
    /// output.
    pub async fn action(&self, name: &str, args: Vec<u8>) -> Result<Vec<u8>, ActionError> {
        self.call(name, args, Caller::Runner).await
    }

    /// Runs an action a client called over its connection `conn`.
    pub async fn conn_action(
        &self,
        conn: ConnId,
        name: &str,
        args: Vec<u8>,
    ) -> Result<Vec<u8>, ActionError> {
        self.call(name, args, Caller::Conn(conn)).await
    }

    /// Runs an action a client called over HTTP with connection `params` (CBOR, empty for
    /// none): on a connection of its own, as RivetKit does, so the connection hooks run.
    pub async fn http_action(
        &self,
        name: &str,
        args: Vec<u8>,
        params: Vec<u8>,
    ) -> Result<Vec<u8>, ActionError> {
        self.call(name, args, Caller::Http { params }).await
    }

    async fn call(
        &self,
        name: &str,
        args: Vec<u8>,
        caller: Caller,
    ) -> Result<Vec<u8>, ActionError> {
        let (reply, rx) = oneshot::channel();
        self.send(Work::Action {
            name: name.to_owned(),
            args,
            caller,
            reply,
        })
        .await?;
        rx.await.map_err(|_| stopped())?
    }

    /// Hands a raw HTTP request to the actor's `on_request`, on a connection of its own with
    /// `params` (CBOR, empty for none). `None` is the actor's 404.
    pub async fn request(
        &self,
        request: RawRequest,
        params: Vec<u8>,
    ) -> Result<Option<RawResponse>, ActionError> {
        let (reply, rx) = oneshot::channel();
        self.send(Work::Request {
            request,
            params,
            reply,
        })
        .await?;
        rx.await.map_err(|_| stopped())?
    }

    /// Opens a client connection with `params` (CBOR, empty for none): the actor's connection
    /// hooks run, and may refuse it. Events for it go to `sink`. Refused past the actor's
    /// connection limit.
    pub async fn open_conn(
        &self,
        sink: Arc<dyn ConnSink>,
        params: Vec<u8>,
    ) -> Result<ConnId, ActionError> {
        let (reply, rx) = oneshot::channel();
        self.send(Work::ConnOpen {
            sink,
            params,
            reply,
        })
        .await?;
        rx.await.map_err(|_| stopped())?
    }

    /// Subscribes or unsubscribes a connection to an event. Refused past the connection's
    /// subscription limit, or for an over-long event name.
    pub async fn subscribe(
        &self,
        conn: ConnId,
        event: String,
        subscribe: bool,
    ) -> Result<(), ActionError> {
        let (reply, rx) = oneshot::channel();
        self.send(Work::Subscribe {
            conn,
            event,
            subscribe,
            reply,
        })
        .await?;
        rx.await.map_err(|_| stopped())?
    }

    /// Forgets a closed connection.
    pub async fn close_conn(&self, conn: ConnId) {
        let _ = self.send(Work::ConnClose { conn }).await;
    }

    /// Opens a raw WebSocket (RivetKit's `onWebSocket`) for `request` (its path and headers)
    /// with `params` (CBOR, empty for none): the connection hooks run, then the handler. Its
    /// messages go to `sink`. Refused like a connection, or with `actor.not_found` when the
    /// actor has no handler.
    pub async fn open_socket(
        &self,
        sink: Arc<dyn ConnSink>,
        params: Vec<u8>,
        request: RawRequest,
    ) -> Result<ConnId, ActionError> {
        let (reply, rx) = oneshot::channel();
        self.send(Work::SocketOpen {
            sink,
            params,
            request,
            reply,
        })
        .await?;
        rx.await.map_err(|_| stopped())?
    }

    /// Hands a message from raw WebSocket `conn`'s client to the actor; resolves once it was
    /// handled, so messages are handled in order.
    pub async fn socket_message(&self, conn: ConnId, data: Vec<u8>, binary: bool) {
        let (reply, rx) = oneshot::channel();
        let work = Work::SocketMessage {
            conn,
            data,
            binary,
            reply,
        };
        if self.send(work).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// A client's message for queue `name` (body CBOR), on a connection of its own with
    /// `params` as an HTTP action has: taken if the actor declares the queue (and its
    /// `canPublish` allows it), ignored otherwise, as in RivetKit. With `wait`, resolves once
    /// the actor completes or receives it, or after `timeout` (at most [`MAX_QUEUE_WAIT`]).
    pub async fn queue_send(
        &self,
        name: String,
        body: Vec<u8>,
        wait: Option<std::time::Duration>,
        params: Vec<u8>,
    ) -> Result<QueueSendOutcome, ActionError> {
        let (reply, rx) = oneshot::channel();
        self.send(Work::QueueSend {
            name,
            body,
            wait: wait.is_some(),
            params,
            reply,
        })
        .await?;
        let Some(completion) = rx.await.map_err(|_| stopped())?? else {
            return Ok(QueueSendOutcome::Completed(None));
        };
        let timeout = wait.unwrap_or(MAX_QUEUE_WAIT).min(MAX_QUEUE_WAIT);
        match crate::rt::timeout(timeout, completion).await {
            Ok(Ok(response)) => Ok(QueueSendOutcome::Completed(response)),
            // Stopped before it was completed, or not in time.
            Ok(Err(_)) | Err(_) => Ok(QueueSendOutcome::TimedOut),
        }
    }

    /// Raw WebSocket `conn`'s client closed it with `code` and `reason`.
    pub async fn close_socket(&self, conn: ConnId, code: u16, reason: String) {
        let _ = self.send(Work::SocketClose { conn, code, reason }).await;
    }

    /// Stops the actor: saves and closes its data (or prepares it for deletion if `destroy`).
    pub async fn stop(&self, destroy: bool) -> StopOutcome {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Mail::Stop { destroy, reply }).await.is_err() {
            return Err(StopError::Gone);
        }
        rx.await.map_err(|_| StopError::Gone)?
    }

    async fn send(&self, work: Work) -> Result<(), ActionError> {
        self.tx.send(Mail::Work(work)).await.map_err(|_| stopped())
    }
}

fn stopped() -> ActionError {
    ActionError::unavailable("the actor is stopping")
}

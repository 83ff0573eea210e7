//! The traits and types an actor author writes against.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cbor::{from_cbor, to_cbor};
use super::conns::ConnParams;
use super::context::Ctx;

/// A native Rust actor.
///
/// ```no_run
/// use runner_core::actor::{Actor, Actions, ActionError, Ctx};
///
/// struct Counter;
/// impl Actor for Counter {
///     const NAME: &'static str = "counter";
///     type State = i64;
///     type Input = ();
///     fn create_state(_input: Option<()>) -> i64 { 0 }
///     fn actions(actions: &mut Actions<Self>) {
///         actions.add("increment", |ctx: &mut Ctx<'_, Self>, (n,): (i64,)| {
///             *ctx.state_mut() += n;
///             Ok::<_, ActionError>(*ctx.state())
///         });
///     }
/// }
/// ```
pub trait Actor: Sized + Send + 'static {
    /// The name clients and the engine use for this actor (`/metadata` `actorNames`).
    const NAME: &'static str;
    /// Persisted state, saved with every action that changes it.
    type State: Serialize + DeserializeOwned + Send + 'static;
    /// The create input, decoded from the CBOR bytes the client passed at creation.
    type Input: DeserializeOwned;

    /// Initial state, called once when the actor is first created.
    fn create_state(input: Option<Self::Input>) -> Self::State;

    /// Runs once after the state is created, in the same transaction (create tables here).
    fn on_create(_ctx: &mut Ctx<'_, Self>) -> Result<(), ActionError> {
        Ok(())
    }

    /// Runs every time the actor starts, including the first time.
    fn on_wake(_ctx: &mut Ctx<'_, Self>) -> Result<(), ActionError> {
        Ok(())
    }

    /// Runs before the actor stops for sleep, drain or shutdown (not on destroy).
    fn on_sleep(_ctx: &mut Ctx<'_, Self>) -> Result<(), ActionError> {
        Ok(())
    }

    /// Set to `true` where [`Actor::on_state_change`] is defined: the runner calls it only then.
    const HAS_ON_STATE_CHANGE: bool = false;

    /// RivetKit's `onStateChange`: runs after a call changed the state, before it commits, in
    /// the same transaction, so what it broadcasts leaves with the call's output (set
    /// [`Actor::HAS_ON_STATE_CHANGE`]). It may not change the state; if it does, or fails, or
    /// pushes the call's events past their limits, everything it did is undone and logged, and
    /// the call stands.
    fn on_state_change(_ctx: &mut Ctx<'_, Self>) -> Result<(), ActionError> {
        Ok(())
    }

    /// Runs when the actor is destroyed ([`Ctx::destroy`], or the engine's destroy), before its
    /// data is deleted; what it writes is deleted with the rest.
    fn on_destroy(_ctx: &mut Ctx<'_, Self>) -> Result<(), ActionError> {
        Ok(())
    }

    /// RivetKit's `onBeforeConnect(c, params)`: a client is connecting (a WebSocket, or the
    /// short-lived connection of an HTTP action) with `params`. An error refuses it, and reaches
    /// the client as is. The connection is not in [`Ctx::conns`] yet.
    fn on_before_connect(
        _ctx: &mut Ctx<'_, Self>,
        _params: ConnParams<'_>,
    ) -> Result<(), ActionError> {
        Ok(())
    }

    /// RivetKit's `onConnect(c, conn)`: the connection is [`Ctx::conn`] and listed in
    /// [`Ctx::conns`]. Set its state here with [`Ctx::set_conn_state`] (RivetKit's
    /// `createConnState`). An error refuses the connection.
    fn on_connect(_ctx: &mut Ctx<'_, Self>) -> Result<(), ActionError> {
        Ok(())
    }

    /// RivetKit's `onDisconnect(c, conn)`: the connection closed (the client left, the actor
    /// disconnected it, or the actor stops). It is still [`Ctx::conn`], no longer in
    /// [`Ctx::conns`].
    fn on_disconnect(_ctx: &mut Ctx<'_, Self>) -> Result<(), ActionError> {
        Ok(())
    }

    /// Set to `true` where [`Actor::can_subscribe`] is defined: the runner calls it only then.
    const HAS_CAN_SUBSCRIBE: bool = false;

    /// RivetKit 2.3's `events: { name: event({ canSubscribe }) }`: whether [`Ctx::conn`] may
    /// subscribe to `event` (set [`Actor::HAS_CAN_SUBSCRIBE`]). `false` refuses with
    /// `auth.forbidden`, and the client's connection closes with it, as in RivetKit. Runs in a
    /// transaction of its own, so what it writes is kept.
    fn can_subscribe(_ctx: &mut Ctx<'_, Self>, _event: &str) -> Result<bool, ActionError> {
        Ok(true)
    }

    /// The queues clients may send to (RivetKit's `queues`); a client's message to another is
    /// ignored, as in RivetKit.
    const QUEUES: &'static [&'static str] = &[];

    /// RivetKit's `canPublish`: whether [`Ctx::conn`] (the sender's connection) may send to
    /// declared queue `name`; `false` refuses with `auth.forbidden`.
    fn can_publish(_ctx: &mut Ctx<'_, Self>, _name: &str) -> Result<bool, ActionError> {
        Ok(true)
    }

    /// Set to `true` where [`Actor::on_queue`] is defined.
    const HAS_ON_QUEUE: bool = false;

    /// New queue messages arrived (a client's, or the actor's own [`Ctx::queue_send`]): take
    /// them with [`Ctx::queue_receive`]. Runs in a transaction of its own after the call that
    /// sent them; a failure is logged and its writes undone (the messages stay).
    fn on_queue(_ctx: &mut Ctx<'_, Self>) -> Result<(), ActionError> {
        Ok(())
    }

    /// Set to `true` where [`Actor::on_websocket`] is defined: raw WebSockets reach the actor
    /// only then (without it they are refused with `actor.not_found`).
    const HAS_ON_WEBSOCKET: bool = false;

    /// RivetKit's `onWebSocket(c, websocket)`: a client opened a raw WebSocket on
    /// `request.path` (any actor path but `/connect`), after the connection hooks admitted it.
    /// The socket is [`Ctx::conn`]; send on it with [`Ctx::socket_send`] and close it with
    /// [`Ctx::socket_close`]. An error closes it with 1011 and the error's `group.code`.
    fn on_websocket(_ctx: &mut Ctx<'_, Self>, _request: &RawRequest) -> Result<(), ActionError> {
        Ok(())
    }

    /// A message from the client of raw WebSocket [`Ctx::conn`]: text (`binary` false) or
    /// binary. Runs in a transaction of its own; an error is logged and the socket stays open.
    fn on_websocket_message(
        _ctx: &mut Ctx<'_, Self>,
        _data: &[u8],
        _binary: bool,
    ) -> Result<(), ActionError> {
        Ok(())
    }

    /// Raw WebSocket [`Ctx::conn`] closed with `code` and `reason` (1000 and no reason when the
    /// actor or its stop closed it); [`Actor::on_disconnect`] runs next.
    fn on_websocket_close(
        _ctx: &mut Ctx<'_, Self>,
        _code: u16,
        _reason: &str,
    ) -> Result<(), ActionError> {
        Ok(())
    }

    /// Registers the actor's actions.
    fn actions(actions: &mut Actions<Self>);

    /// Handles a raw HTTP request sent to `/request/*`. `None` answers 404.
    fn on_request(_ctx: &mut Ctx<'_, Self>, _request: &RawRequest) -> Option<RawResponse> {
        None
    }
}

/// A raw HTTP request addressed to the actor (`/request/*`, with the prefix removed).
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// HTTP method.
    pub method: String,
    /// Path after `/request`, query string included.
    pub path: String,
    /// Request headers (lowercase names).
    pub headers: HashMap<String, String>,
    /// Request body.
    pub body: Vec<u8>,
}

/// The actor's answer to a [`RawRequest`].
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: HashMap<String, String>,
    /// Response body.
    pub body: Vec<u8>,
}

/// An error an action returns to its caller, in RivetKit's `{group, code, message}` shape.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{group}.{code}: {message}")]
pub struct ActionError {
    /// Error group (`user` for errors the actor author raises).
    pub group: String,
    /// Error code within the group.
    pub code: String,
    /// Human-readable message shown to the client.
    pub message: String,
    /// Structured detail for the client (RivetKit's `metadata`), as CBOR; it reaches the client
    /// in every encoding.
    pub metadata: Option<Vec<u8>>,
}

/// The most metadata one error carries; more is dropped (and logged), the error itself kept.
pub(crate) const MAX_ERROR_METADATA_BYTES: usize = 64 << 10;

impl ActionError {
    /// An error meant for the client, raised by actor code.
    pub fn user(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new("user", code, message)
    }

    /// An error in any group.
    pub fn new(
        group: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            group: group.into(),
            code: code.into(),
            message: message.into(),
            metadata: None,
        }
    }

    /// Adds structured detail the client receives with the error (RivetKit's `metadata`, as in
    /// `new UserError(message, { code, metadata })`). Metadata that cannot be encoded, or is
    /// over 64 KiB encoded, is left out and logged.
    pub fn with_metadata<T: Serialize + ?Sized>(mut self, metadata: &T) -> Self {
        match to_cbor(metadata) {
            Ok(bytes) if bytes.len() <= MAX_ERROR_METADATA_BYTES => self.metadata = Some(bytes),
            Ok(bytes) => tracing::warn!(
                code = %self.code,
                bytes = bytes.len(),
                "error metadata over {MAX_ERROR_METADATA_BYTES} bytes left out"
            ),
            Err(err) => tracing::warn!(code = %self.code, error = %err, "error metadata left out"),
        }
        self
    }

    /// An internal failure: the detail is logged, the client sees a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal actor error");
        Self::new("actor", "internal_error", "An internal error occurred")
    }

    pub(crate) fn action_not_found(name: &str) -> Self {
        Self::new(
            "actor",
            "action_not_found",
            format!("action `{name}` does not exist"),
        )
    }

    pub(crate) fn invalid_args(name: &str, detail: &str) -> Self {
        Self::new(
            "actor",
            "invalid_request",
            format!("invalid arguments for action `{name}`: {detail}"),
        )
    }

    /// The create input could not be decoded into what the actor expects.
    pub(crate) fn invalid_input(detail: impl std::fmt::Display) -> Self {
        Self::new(
            "actor",
            "invalid_input",
            format!("bad create input: {detail}"),
        )
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new("actor", "stopping", message)
    }

    /// The action's writes could not be made durable. It may or may not have been applied:
    /// like a timeout in any database, the outcome is unknown to the caller.
    pub(crate) fn not_durable(reason: &str) -> Self {
        Self::new(
            "actor",
            "not_durable",
            format!("the action's writes could not be persisted: {reason}"),
        )
    }

    /// The HTTP status this error is answered with.
    pub fn http_status(&self) -> u16 {
        match (self.group.as_str(), self.code.as_str()) {
            ("auth", "forbidden") => 403,
            ("actor", "action_not_found") => 404,
            ("actor", "action_timed_out") => 408,
            ("actor", "invalid_request") | ("user" | "queue", _) => 400,
            ("message", code) if code.ends_with("_too_long") => 400,
            ("actor", "stopping" | "not_durable") => 503,
            _ => 500,
        }
    }
}

impl From<rusqlite::Error> for ActionError {
    fn from(err: rusqlite::Error) -> Self {
        Self::internal(format!("sqlite: {err}"))
    }
}

type ActionFn<A> =
    dyn for<'a> Fn(&mut Ctx<'a, A>, &[u8]) -> Result<Vec<u8>, ActionError> + Send + Sync;

/// The action table of an actor type: name → handler taking CBOR args, returning CBOR output.
pub struct Actions<A: Actor> {
    table: HashMap<String, Arc<ActionFn<A>>>,
}

impl<A: Actor> std::fmt::Debug for Actions<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actions")
            .field("names", &self.table.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl<A: Actor> Actions<A> {
    pub(crate) fn collect() -> Self {
        let mut actions = Self {
            table: HashMap::new(),
        };
        A::actions(&mut actions);
        actions
    }

    /// Registers an action. `Args` is decoded from the client's argument list, so a tuple
    /// (`(i64,)`, `(String, u32)`) matches positional arguments; use `()` for none.
    pub fn add<Args, Out, F>(&mut self, name: &str, handler: F) -> &mut Self
    where
        Args: DeserializeOwned,
        Out: Serialize,
        F: for<'a> Fn(&mut Ctx<'a, A>, Args) -> Result<Out, ActionError> + Send + Sync + 'static,
    {
        let action_name = name.to_owned();
        let erased = move |ctx: &mut Ctx<'_, A>, args: &[u8]| {
            let args = decode_args::<Args>(args)
                .map_err(|detail| ActionError::invalid_args(&action_name, &detail))?;
            let output = handler(ctx, args)?;
            to_cbor(&output).map_err(ActionError::internal)
        };
        self.table.insert(name.to_owned(), Arc::new(erased));
        self
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<ActionFn<A>>> {
        self.table.get(name).cloned()
    }
}

/// Decodes positional args. An empty argument list also decodes as unit, so `()` works for
/// actions without arguments.
fn decode_args<T: DeserializeOwned>(args: &[u8]) -> Result<T, String> {
    if args.is_empty() {
        return from_cbor(&to_cbor(&())?);
    }
    match from_cbor::<T>(args) {
        Ok(value) => Ok(value),
        Err(first) => {
            let list: Vec<ciborium::Value> = from_cbor(args).map_err(|_| first.clone())?;
            if list.is_empty() {
                from_cbor(&to_cbor(&())?).map_err(|_| first)
            } else {
                Err(first)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positional_args_decode_into_tuples() {
        let args = to_cbor(&(5i64, "x")).unwrap();
        let (n, s): (i64, String) = decode_args(&args).unwrap();
        assert_eq!((n, s.as_str()), (5, "x"));
    }

    #[test]
    fn empty_arg_list_decodes_as_unit() {
        let empty: Vec<i64> = Vec::new();
        decode_args::<()>(&to_cbor(&empty).unwrap()).unwrap();
        decode_args::<()>(&[]).unwrap();
    }

    #[test]
    fn wrong_args_are_an_error() {
        let args = to_cbor(&("not a number",)).unwrap();
        assert!(decode_args::<(i64,)>(&args).is_err());
    }
}

//! The runtime trait: what an instance asks of an actor's code, whichever runtime runs it
//! (native Rust here, WebAssembly components and JavaScript in `crate::sandbox`).
//!
//! The instance owns everything around the code: the mailbox, the transaction each call runs
//! in, the committed state, the output gate and the replica. A [`Behavior`] only runs hooks and
//! actions against a [`Scope`], and hands its state over as bytes.

use rusqlite::Connection;

use super::cbor::{from_cbor, to_cbor};
use super::conns::{ConnParams, ConnTable};
use super::context::{ActorMeta, Ctx, Effects};
use super::definition::{ActionError, Actions, Actor, RawRequest, RawResponse};

/// What one call into actor code may use: the database inside the call's transaction, the
/// effects it requests (applied only if the transaction commits), who the actor is, and its
/// connections (with the one the call runs for, `c.conn`).
pub(crate) struct Scope<'a> {
    pub(crate) db: &'a Connection,
    pub(crate) effects: &'a mut Effects,
    pub(crate) meta: &'a ActorMeta,
    pub(crate) conns: &'a mut ConnTable,
}

/// Work the code has left between calls: RivetKit's `keepAwake`, `waitUntil` and `run`, and the
/// timers that drive them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pending {
    /// When the code next needs a [`Behavior::turn`] (its earliest timer), in milliseconds
    /// since the Unix epoch.
    pub(crate) next_turn_ms: Option<i64>,
    /// Work that keeps the actor from sleeping when idle (`keepAwake`).
    pub(crate) keep_awake: bool,
    /// Work a stop waits for, up to its grace period (`keepAwake`, `waitUntil`, `run`).
    pub(crate) tracked: bool,
    /// Code waits for queue messages (`c.queue.next` and its kin).
    pub(crate) queue_waiting: bool,
}

/// What fired a scheduled action: RivetKit's `ScheduledFireInfo`, which it passes after the
/// stored arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScheduledFire {
    /// `"at"` for a one-shot schedule, `"cron"` or `"every"` for a job.
    pub(crate) kind: &'static str,
    /// The schedule's id, or the job's name.
    pub(crate) id: String,
    /// The job's name (`None` for a one-shot schedule).
    pub(crate) name: Option<String>,
    pub(crate) scheduled_at_ms: i64,
    pub(crate) fired_at_ms: i64,
}

/// An actor's code, as the instance drives it. Every call runs inside one transaction.
pub(crate) trait Behavior: Send + 'static {
    /// Called once at boot with the actor's connection, before any call: a sandbox installs its
    /// SQL policy here.
    fn attach(&mut self, _db: &mut Connection) -> Result<(), ActionError> {
        Ok(())
    }
    /// The first start ever: builds the state from the create input (CBOR, if any) and runs
    /// the creation hook.
    fn create(&mut self, scope: &mut Scope<'_>, input: Option<&[u8]>) -> Result<(), ActionError>;
    /// Every start, the first included, after the state is loaded or created.
    fn wake(&mut self, scope: &mut Scope<'_>) -> Result<(), ActionError>;
    /// Before the actor stops for sleep, drain or shutdown (not on destroy).
    fn sleep(&mut self, scope: &mut Scope<'_>) -> Result<(), ActionError>;
    /// When the actor is destroyed, before its data is deleted.
    fn destroy(&mut self, _scope: &mut Scope<'_>) -> Result<(), ActionError> {
        Ok(())
    }
    /// Whether the code has an `onStateChange` hook (so a changing call pays for none when not).
    fn has_state_change_hook(&mut self) -> bool {
        false
    }
    /// RivetKit's `onStateChange`, after a call changed the state (the instance undoes
    /// everything it did if it fails or changes the state itself).
    fn state_changed(&mut self, _scope: &mut Scope<'_>) -> Result<(), ActionError> {
        Ok(())
    }
    /// Whether connecting runs actor code (RivetKit's `onBeforeConnect`, `connState` or
    /// `createConnState`, `onConnect`, `onDisconnect`); without, connections cost no call.
    fn has_conn_hooks(&mut self) -> bool {
        false
    }
    /// `onBeforeConnect(c, params)` (CBOR, empty when none were sent); an error refuses.
    fn before_connect(
        &mut self,
        _scope: &mut Scope<'_>,
        _params: &[u8],
    ) -> Result<(), ActionError> {
        Ok(())
    }
    /// The new connection's first state (`connState`/`createConnState`), as CBOR; empty for
    /// none.
    fn create_conn_state(
        &mut self,
        _scope: &mut Scope<'_>,
        _params: &[u8],
    ) -> Result<Vec<u8>, ActionError> {
        Ok(Vec::new())
    }
    /// `onConnect(c, conn)`, the connection being `scope.conns.current()`.
    fn connected(&mut self, _scope: &mut Scope<'_>) -> Result<(), ActionError> {
        Ok(())
    }
    /// `onDisconnect(c, conn)`, the connection being `scope.conns.current()`.
    fn disconnected(&mut self, _scope: &mut Scope<'_>) -> Result<(), ActionError> {
        Ok(())
    }
    /// Whether subscribing runs actor code (RivetKit's `canSubscribe` on a declared event).
    fn has_subscribe_hooks(&mut self) -> bool {
        false
    }
    /// Whether the connection `scope.conns.current()` may subscribe to `event`.
    fn can_subscribe(&mut self, _scope: &mut Scope<'_>, _event: &str) -> Result<bool, ActionError> {
        Ok(true)
    }
    /// Whether the code handles raw WebSockets (RivetKit's `onWebSocket`).
    fn has_socket_handler(&mut self) -> bool {
        false
    }
    /// `onWebSocket(c, websocket)` for the raw WebSocket of `scope.conns.current()`, opened by
    /// `request` (its path and headers).
    fn socket_opened(
        &mut self,
        _scope: &mut Scope<'_>,
        _request: &RawRequest,
    ) -> Result<(), ActionError> {
        Ok(())
    }
    /// A message from the current connection's client; `false` when the code no longer knows
    /// the socket (a sandbox replaced after a limit lost its listeners).
    fn socket_message(
        &mut self,
        _scope: &mut Scope<'_>,
        _data: &[u8],
        _binary: bool,
    ) -> Result<bool, ActionError> {
        Ok(true)
    }
    /// The current connection's WebSocket closed with `code` and `reason`.
    fn socket_closed(
        &mut self,
        _scope: &mut Scope<'_>,
        _code: u16,
        _reason: &str,
    ) -> Result<(), ActionError> {
        Ok(())
    }
    /// Whether the code declares queue `name` (RivetKit's `queues`), and, through its
    /// `canPublish`, lets the connection `scope.conns.current()` send to it: `Ok(false)` for a
    /// queue it does not declare (the message is ignored, as in RivetKit), an error to refuse.
    fn accepts_queue(&mut self, _scope: &mut Scope<'_>, _name: &str) -> Result<bool, ActionError> {
        Ok(false)
    }
    /// Whether code waits for queue messages now, so new ones call for [`Behavior::queue_ready`].
    fn wants_queue_ready(&mut self) -> bool {
        false
    }
    /// New queue messages: hands them to the code waiting for them.
    fn queue_ready(&mut self, _scope: &mut Scope<'_>) -> Result<(), ActionError> {
        Ok(())
    }
    /// A [`Behavior::queue_ready`] turn was undone (by the code or at its commit): the messages
    /// it handed out are back in the queue, so code that may still hold them is dropped.
    fn queue_turn_undone(&mut self) {}
    /// Runs action `name` with CBOR positional `args`; returns its CBOR output.
    fn action(
        &mut self,
        scope: &mut Scope<'_>,
        name: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ActionError>;
    /// Runs action `name` for a schedule or cron job that fired. RivetKit's actions get `fire`
    /// after the stored arguments; runtimes whose actions take typed argument lists (native,
    /// WebAssembly) get the stored arguments alone.
    fn scheduled(
        &mut self,
        scope: &mut Scope<'_>,
        name: &str,
        args: &[u8],
        _fire: &ScheduledFire,
    ) -> Result<Vec<u8>, ActionError> {
        self.action(scope, name, args)
    }
    /// Answers a raw HTTP request; `None` is a 404.
    fn request(
        &mut self,
        scope: &mut Scope<'_>,
        request: &RawRequest,
    ) -> Result<Option<RawResponse>, ActionError>;
    /// What the code has left to do, as of the end of its last call.
    fn pending(&self) -> Pending {
        Pending::default()
    }
    /// Runs the code's timers that are due ([`Pending::next_turn_ms`]), in a transaction of its
    /// own, for no caller.
    fn turn(&mut self, _scope: &mut Scope<'_>) -> Result<(), ActionError> {
        Ok(())
    }
    /// The state as it is now, encoded (stored when it differs from the committed encoding).
    fn encode_state(&self) -> Result<Vec<u8>, ActionError>;
    /// Replaces the state with a stored encoding: at boot, and after a failed call.
    fn load_state(&mut self, encoded: &[u8]) -> Result<(), ActionError>;
}

/// A native Rust [`Actor`] as a [`Behavior`].
pub(crate) struct Native<A: Actor> {
    state: Option<A::State>,
    actions: Actions<A>,
}

impl<A: Actor> Native<A> {
    pub(crate) fn new() -> Self {
        Self {
            state: None,
            actions: Actions::collect(),
        }
    }

    fn with_ctx<R>(
        &mut self,
        scope: &mut Scope<'_>,
        f: impl FnOnce(&mut Ctx<'_, A>) -> Result<R, ActionError>,
    ) -> Result<R, ActionError> {
        let state = self
            .state
            .as_mut()
            .ok_or_else(|| ActionError::internal("the actor's state was never created"))?;
        f(&mut Ctx {
            state,
            db: scope.db,
            effects: scope.effects,
            meta: scope.meta,
            conns: scope.conns,
        })
    }
}

impl<A: Actor> Behavior for Native<A> {
    fn create(&mut self, scope: &mut Scope<'_>, input: Option<&[u8]>) -> Result<(), ActionError> {
        let input = match input {
            None | Some([]) => None,
            Some(bytes) => Some(from_cbor::<A::Input>(bytes).map_err(ActionError::invalid_input)?),
        };
        self.state = Some(A::create_state(input));
        self.with_ctx(scope, A::on_create)
    }

    fn wake(&mut self, scope: &mut Scope<'_>) -> Result<(), ActionError> {
        self.with_ctx(scope, A::on_wake)
    }

    fn sleep(&mut self, scope: &mut Scope<'_>) -> Result<(), ActionError> {
        self.with_ctx(scope, A::on_sleep)
    }

    fn destroy(&mut self, scope: &mut Scope<'_>) -> Result<(), ActionError> {
        self.with_ctx(scope, A::on_destroy)
    }

    fn has_state_change_hook(&mut self) -> bool {
        A::HAS_ON_STATE_CHANGE
    }

    // A native actor's hooks cost an empty transaction at most: always run.
    fn has_conn_hooks(&mut self) -> bool {
        true
    }

    fn before_connect(&mut self, scope: &mut Scope<'_>, params: &[u8]) -> Result<(), ActionError> {
        self.with_ctx(scope, |ctx| A::on_before_connect(ctx, ConnParams(params)))
    }

    fn connected(&mut self, scope: &mut Scope<'_>) -> Result<(), ActionError> {
        self.with_ctx(scope, A::on_connect)
    }

    fn disconnected(&mut self, scope: &mut Scope<'_>) -> Result<(), ActionError> {
        self.with_ctx(scope, A::on_disconnect)
    }

    fn state_changed(&mut self, scope: &mut Scope<'_>) -> Result<(), ActionError> {
        self.with_ctx(scope, A::on_state_change)
    }

    fn has_subscribe_hooks(&mut self) -> bool {
        A::HAS_CAN_SUBSCRIBE
    }

    fn has_socket_handler(&mut self) -> bool {
        A::HAS_ON_WEBSOCKET
    }

    fn accepts_queue(&mut self, scope: &mut Scope<'_>, name: &str) -> Result<bool, ActionError> {
        if !A::QUEUES.contains(&name) {
            return Ok(false);
        }
        if self.with_ctx(scope, |ctx| A::can_publish(ctx, name))? {
            Ok(true)
        } else {
            Err(ActionError::new("auth", "forbidden", "Forbidden"))
        }
    }

    fn wants_queue_ready(&mut self) -> bool {
        A::HAS_ON_QUEUE
    }

    fn queue_ready(&mut self, scope: &mut Scope<'_>) -> Result<(), ActionError> {
        self.with_ctx(scope, A::on_queue)
    }

    fn socket_opened(
        &mut self,
        scope: &mut Scope<'_>,
        request: &RawRequest,
    ) -> Result<(), ActionError> {
        self.with_ctx(scope, |ctx| A::on_websocket(ctx, request))
    }

    fn socket_message(
        &mut self,
        scope: &mut Scope<'_>,
        data: &[u8],
        binary: bool,
    ) -> Result<bool, ActionError> {
        self.with_ctx(scope, |ctx| A::on_websocket_message(ctx, data, binary))
            .map(|()| true)
    }

    fn socket_closed(
        &mut self,
        scope: &mut Scope<'_>,
        code: u16,
        reason: &str,
    ) -> Result<(), ActionError> {
        self.with_ctx(scope, |ctx| A::on_websocket_close(ctx, code, reason))
    }

    fn can_subscribe(&mut self, scope: &mut Scope<'_>, event: &str) -> Result<bool, ActionError> {
        self.with_ctx(scope, |ctx| A::can_subscribe(ctx, event))
    }

    fn action(
        &mut self,
        scope: &mut Scope<'_>,
        name: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ActionError> {
        let action = self
            .actions
            .get(name)
            .ok_or_else(|| ActionError::action_not_found(name))?;
        self.with_ctx(scope, |ctx| action(ctx, args))
    }

    fn request(
        &mut self,
        scope: &mut Scope<'_>,
        request: &RawRequest,
    ) -> Result<Option<RawResponse>, ActionError> {
        self.with_ctx(scope, |ctx| Ok(A::on_request(ctx, request)))
    }

    fn encode_state(&self) -> Result<Vec<u8>, ActionError> {
        let state = self
            .state
            .as_ref()
            .ok_or_else(|| ActionError::internal("the actor's state was never created"))?;
        to_cbor(state).map_err(ActionError::internal)
    }

    fn load_state(&mut self, encoded: &[u8]) -> Result<(), ActionError> {
        self.state = Some(from_cbor(encoded).map_err(ActionError::internal)?);
        Ok(())
    }
}

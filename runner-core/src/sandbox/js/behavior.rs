//! One JavaScript actor instance as a [`Behavior`]: a QuickJS runtime of its own, entered once
//! per call with the call's transaction lent to the native functions, under the limits.

use std::path::Path;
use std::sync::Arc;

use rquickjs::module::{Declared, WriteOptions};
use rquickjs::{CaughtError, Context, Ctx, Function, Module, Object, Runtime, Value};

use crate::actor::{
    ActionError, Behavior, Pending, RawRequest, RawResponse, ScheduledFire, Scope, cbor_from_json,
    cbor_to_json,
};
use crate::sandbox::call::{CallGuard, run_blocking, with_call_db};
use crate::sandbox::clock::CallClock;
use crate::sandbox::outbound::Outbound;

use super::JsCode;
use super::event_loop::{self, Drive, Stop};
use super::host::{JsHost, host_object};
use crate::sandbox::SandboxLimits;

/// The bridge between the actor's definition and the runner (see the file).
pub(super) const PRELUDE: &str = concat!(
    include_str!("prelude.js"),
    include_str!("rivetkit.js"),
    include_str!("globals.js"),
    include_str!("url.js"),
    include_str!("http.js"),
    include_str!("sockets.js"),
    include_str!("queue.js"),
    include_str!("work.js")
);
/// Where the prelude leaves the bridge.
const BRIDGE: &str = "__rivet";
/// The deepest the JavaScript stack may grow; past it code gets a `RangeError`.
const MAX_STACK_BYTES: usize = 512 * 1024;

pub(super) struct JsBehavior {
    code: JsCode,
    files_dir: std::path::PathBuf,
    outbound: Option<Outbound>,
    guard: Arc<CallGuard>,
    /// The live instance; dropped after a limit was hit and made anew for the next call.
    live: Option<Live>,
    /// The actor's state (CBOR), owned here between calls so a dropped instance loses nothing.
    state: Vec<u8>,
    /// The live instance holds `state` (not an older or newer one).
    live_has_state: bool,
    /// What the definition has, as read when it was first loaded (the same code defines the
    /// same hooks every time).
    hooks: Option<Hooks>,
    /// What the live instance has pending, as of its last call.
    pending: Pending,
}

impl JsBehavior {
    pub(super) fn new(code: JsCode, files_dir: &Path, outbound: Option<Outbound>) -> Self {
        Self {
            code,
            files_dir: files_dir.to_owned(),
            outbound,
            guard: Arc::default(),
            live: None,
            state: Vec::new(),
            live_has_state: false,
            hooks: None,
            pending: Pending::default(),
        }
    }

    /// The definition's hooks; `None` if its instance cannot be made now.
    fn hooks(&mut self) -> Option<Hooks> {
        if self.hooks.is_none()
            && let Ok(live) = self.live()
        {
            self.hooks = Some(live.hooks);
        }
        self.hooks
    }

    fn live(&mut self) -> Result<&Live, ActionError> {
        if self.live.is_none() {
            let host = JsHost::new(
                Some(self.files_dir.clone()),
                self.guard.clone(),
                self.outbound.clone(),
            );
            self.live = Some(Live::new(&self.code, Arc::new(host))?);
            self.live_has_state = false;
        }
        self.live
            .as_ref()
            .ok_or_else(|| ActionError::internal("no JavaScript instance"))
    }

    /// Calls the bridge's `method` with two string arguments under the limits; returns its
    /// (JSON string) result and keeps the state it leaves.
    fn call(
        &mut self,
        scope: &mut Scope<'_>,
        what: &str,
        method: &str,
        args: (String, String),
    ) -> Result<String, ActionError> {
        self.call_as(scope, Drive::Call, what, method, args)
    }

    /// Runs action `name` with `args`; its output as CBOR.
    fn run_action(
        &mut self,
        scope: &mut Scope<'_>,
        name: &str,
        args: Vec<serde_json::Value>,
    ) -> Result<Vec<u8>, ActionError> {
        let args = serde_json::Value::Array(args).to_string();
        let output = self.call(scope, name, "action", (name.to_owned(), args))?;
        let output: serde_json::Value = serde_json::from_str(&output)
            .map_err(|e| ActionError::internal(format!("action output JSON: {e}")))?;
        cbor_from_json(&output).map_err(ActionError::internal)
    }

    /// [`Self::call`], driven as `drive` says.
    fn call_as(
        &mut self,
        scope: &mut Scope<'_>,
        drive: Drive,
        what: &str,
        method: &str,
        args: (String, String),
    ) -> Result<String, ActionError> {
        let state = if self.live_has_state || self.state.is_empty() {
            None
        } else {
            Some(state_json(&self.state)?)
        };
        let limit = self.code.limits.call_time;
        let live = self.live()?;
        // What an earlier call left for the runner is not this call's answer.
        live.host.bodies().outbound = None;
        *live.host.effects() = std::mem::take(scope.effects);
        *live.host.conns() = std::mem::take(scope.conns);
        {
            let mut meta = live.host.meta.lock().unwrap_or_else(|e| e.into_inner());
            if meta.is_none() {
                *meta = Some(scope.meta.clone());
            }
        }
        live.host.guard.clock.start(limit);
        let (mut outcome, pending) = run_blocking(|| {
            with_call_db(scope.db, || {
                live.run(drive, what, state.as_deref(), method, args)
            })
        });
        let out_of_time = live.host.guard.clock.should_interrupt() || live.host.guard.clock.hit();
        live.host.guard.clock.stop();
        if outcome.is_ok() && out_of_time {
            // The deadline stopped host work (the guest's SQL) and the code carried on: the
            // call still ran out of time.
            outcome = Err(limit_error(
                "cpu_limit",
                format!("`{what}` ran past the sandbox's time limit per call and was stopped"),
            ));
        }
        *scope.effects = std::mem::take(&mut *live.host.effects());
        *scope.conns = std::mem::take(&mut *live.host.conns());
        // What was left for this call to take is not for the next.
        live.host.bodies().inbound = None;
        // An instance past a limit may have an inconsistent heap, one that cannot say what it
        // has pending cannot be driven, and one left awaiting a timer too far away would finish
        // the failed call later, in a turn: the next call gets a new instance, and the work
        // this one had pending is gone.
        let replace = pending.is_none()
            || outcome.as_ref().is_err_and(|e| {
                matches!(
                    e.code.as_str(),
                    "cpu_limit" | "memory_limit" | "timer_too_far"
                )
            });
        if let Some(pending) = pending {
            self.pending = pending;
        }
        let result = match outcome {
            Ok((output, state)) => {
                self.state = state;
                self.live_has_state = true;
                Ok(output)
            }
            Err(error) => {
                self.live_has_state = false;
                Err(error)
            }
        };
        if replace {
            if self.pending != Pending::default() {
                tracing::warn!(
                    "a JavaScript instance is replaced; its pending timers and work are dropped"
                );
            }
            self.live = None;
            self.live_has_state = false;
            self.pending = Pending::default();
        }
        result
    }
}

/// An action's CBOR arguments as the list the function is applied to.
fn args_list(name: &str, args: &[u8]) -> Result<Vec<serde_json::Value>, ActionError> {
    Ok(
        match cbor_to_json(args).map_err(|e| ActionError::invalid_args(name, &e))? {
            serde_json::Value::Null => Vec::new(),
            serde_json::Value::Array(list) => list,
            other => vec![other],
        },
    )
}

/// A call's result and the state after it (CBOR).
type Ran = Result<(String, Vec<u8>), ActionError>;

/// A QuickJS runtime with the prelude and the actor's module evaluated.
pub(super) struct Live {
    // Field order is drop order: the context, then the runtime, then the bytecode they were
    // loaded from, which QuickJS may still reference until the runtime is gone.
    context: Context,
    _runtime: Runtime,
    _code: JsCode,
    host: Arc<JsHost>,
    memory_bytes: usize,
    /// The optional hooks the definition has.
    hooks: Hooks,
}

/// Which optional hooks a definition has, so that calls the actor does not define cost nothing.
#[derive(Debug, Clone, Copy)]
struct Hooks {
    /// `onStateChange`.
    state_change: bool,
    /// `onBeforeConnect`, `connState`/`createConnState`, `onConnect`, `onDisconnect`.
    conn: bool,
    /// A declared event's `canSubscribe`.
    subscribe: bool,
    /// `onWebSocket`.
    socket: bool,
}

impl Live {
    /// A new runtime running `code`'s module, the module's top level under the time limit.
    pub(super) fn new(code: &JsCode, host: Arc<JsHost>) -> Result<Self, ActionError> {
        let (runtime, context, hooks) = load(code, &host, |namespace, bridge| {
            bridge
                .get::<_, Function>("define")?
                .call::<_, ()>((namespace, code.name.as_str()))?;
            // Recorded by the bridge when the module defined the actor: no actor code runs.
            let has = |name: &str| bridge.get::<_, Function>(name)?.call::<_, bool>(());
            Ok(Hooks {
                state_change: has("hasStateChangeHook")?,
                conn: has("hasConnHooks")?,
                subscribe: has("hasSubscribeHooks")?,
                socket: has("hasSocketHandler")?,
            })
        })?;
        Ok(Self {
            hooks,
            context,
            _runtime: runtime,
            _code: code.clone(),
            host,
            memory_bytes: code.limits.memory_bytes,
        })
    }

    /// A runtime with no files, database or network, to check that `code` loads.
    pub(super) fn check(code: &JsCode) -> Result<(), ActionError> {
        let host = JsHost::new(None, Arc::default(), None);
        Self::new(code, Arc::new(host)).map(drop)
    }

    /// The names of the actors `code`'s module defines, its default export named `fallback`
    /// (the module's top level runs, in a runtime with no files, database or network).
    pub(super) fn names(code: &JsCode, fallback: &str) -> Result<Vec<String>, ActionError> {
        let host = Arc::new(JsHost::new(None, Arc::default(), None));
        let (_runtime, _context, names) = load(code, &host, |namespace, bridge| {
            bridge
                .get::<_, Function>("names")?
                .call::<_, String>((namespace, fallback))
        })?;
        serde_json::from_str(&names).map_err(ActionError::internal)
    }

    /// Loads `state` (if given), calls `method`, runs the jobs and timers it left as `drive`
    /// says (waiting for its promise if it returned one), and reads the state back: (the
    /// method's result, the state as CBOR), and what the instance has pending after it (`None`
    /// if that cannot be read).
    fn run(
        &self,
        drive: Drive,
        what: &str,
        state: Option<&str>,
        method: &str,
        args: (String, String),
    ) -> (Ran, Option<Pending>) {
        self.context.with(|ctx| {
            let Ok(bridge) = ctx.globals().get::<_, Object>(BRIDGE) else {
                return (Err(ActionError::internal("the bridge is gone")), None);
            };
            let result = self.run_with(&ctx, &bridge, drive, what, state, method, args);
            (result, event_loop::pending(&bridge))
        })
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "`run`'s arguments, with the entered context"
    )]
    fn run_with<'js>(
        &self,
        ctx: &Ctx<'js>,
        bridge: &Object<'js>,
        drive: Drive,
        what: &str,
        state: Option<&str>,
        method: &str,
        args: (String, String),
    ) -> Result<(String, Vec<u8>), ActionError> {
        let clock = &self.host.guard.clock;
        let result = (|| {
            bridge.get::<_, Function>("begin")?.call::<_, ()>(())?;
            if let Some(state) = state {
                bridge.get::<_, Function>("load")?.call::<_, ()>((state,))?;
            }
            let value: Value = bridge.get::<_, Function>(method)?.call(args)?;
            let output = event_loop::run(ctx, bridge, &value, drive, clock)?;
            let conn_states: String = bridge.get::<_, Function>("connStates")?.call(())?;
            let state: String = bridge.get::<_, Function>("state")?.call(())?;
            Ok((output, conn_states, state))
        })();
        let (output, conn_states, state) = result.map_err(|e| match e {
            Stop::Js(e) => classify(ctx, e, clock, self.memory_bytes, what),
            Stop::Waits(wait) => Stop::waits_error(wait, what),
        })?;
        super::conns::store_states(&mut self.host.conns(), &conn_states)?;
        let state = serde_json::from_str(&state)
            .map_err(|e| ActionError::internal(format!("state JSON: {e}")))
            .and_then(|json| cbor_from_json(&json).map_err(ActionError::internal))
            .map_err(|e| ActionError::new("actor", "invalid_state", e.message))?;
        Ok((output, state))
    }
}

/// A QuickJS runtime under `code`'s limits, its interrupt handler reading the call's clock.
fn new_runtime(code: &JsCode, host: &JsHost) -> Result<(Runtime, Context), ActionError> {
    let runtime = Runtime::new().map_err(|e| ActionError::internal(format!("QuickJS: {e}")))?;
    runtime.set_memory_limit(code.limits.memory_bytes);
    runtime.set_max_stack_size(MAX_STACK_BYTES);
    let guard = host.guard.clone();
    runtime.set_interrupt_handler(Some(Box::new(move || guard.clock.should_interrupt())));
    let context =
        Context::full(&runtime).map_err(|e| ActionError::internal(format!("QuickJS: {e}")))?;
    Ok((runtime, context))
}

/// A runtime with `code`'s module evaluated, and what `then` made of its exports (with the
/// bridge), all under the time limit; a failure is the module's `load` error.
fn load<R>(
    code: &JsCode,
    host: &Arc<JsHost>,
    then: impl for<'js> FnOnce(Object<'js>, Object<'js>) -> rquickjs::Result<R>,
) -> Result<(Runtime, Context, R), ActionError> {
    let (runtime, context) = new_runtime(code, host)?;
    host.guard.clock.start(code.limits.call_time);
    let loaded = context.with(|ctx| {
        evaluate(&ctx, code, host)
            .and_then(|namespace| then(namespace, ctx.globals().get(BRIDGE)?))
            .map_err(|e| classify(&ctx, e, &host.guard.clock, code.limits.memory_bytes, "load"))
    });
    host.guard.clock.stop();
    Ok((runtime, context, loaded?))
}

/// Evaluates the prelude, then the module; returns the module's exports.
fn evaluate<'js>(
    ctx: &Ctx<'js>,
    code: &JsCode,
    host: &Arc<JsHost>,
) -> rquickjs::Result<Object<'js>> {
    let prelude = evaluate_module(ctx, &code.prelude)?;
    let install: Function = prelude.get("default")?;
    install.call::<_, ()>((host_object(ctx, host)?,))?;
    evaluate_module(ctx, &code.bytecode)?.namespace()
}

fn evaluate_module<'js>(
    ctx: &Ctx<'js>,
    bytecode: &[u8],
) -> rquickjs::Result<Module<'js, rquickjs::module::Evaluated>> {
    let (module, evaluated) = load_module(ctx, bytecode)?.eval()?;
    evaluated.finish::<()>()?;
    Ok(module)
}

/// Parses `source` as a module, without running it, into bytecode. Parsing is most of what
/// starting an instance from source would cost (the prelude alone took ~0.7 ms), so it is
/// done once per code version and every instance loads the bytecode.
pub(super) fn compile_module(
    name: &str,
    source: &str,
    limits: SandboxLimits,
) -> Result<Vec<u8>, ActionError> {
    let runtime = Runtime::new().map_err(|e| ActionError::internal(format!("QuickJS: {e}")))?;
    runtime.set_memory_limit(limits.memory_bytes);
    let context =
        Context::full(&runtime).map_err(|e| ActionError::internal(format!("QuickJS: {e}")))?;
    context.with(|ctx| {
        Module::declare(ctx.clone(), name, source)
            .and_then(|module| module.write(WriteOptions::default()))
            .map_err(|e| classify(&ctx, e, &CallClock::default(), limits.memory_bytes, "load"))
    })
}

/// Loads bytecode that [`compile_module`] wrote.
#[allow(
    unsafe_code,
    reason = "QuickJS trusts bytecode; this is only ever our own, see SAFETY"
)]
fn load_module<'js>(ctx: &Ctx<'js>, bytecode: &[u8]) -> rquickjs::Result<Module<'js, Declared>> {
    // SAFETY: `Module::load` requires valid bytecode. These bytes come only from
    // `compile_module`: written by `Module::write` of this same QuickJS build, in this process,
    // and kept in memory (`JsCode`, `JsRuntime`), never read from disk, the network or the
    // object store; published code arrives as source and is compiled here. QuickJS may keep
    // referring to the bytes (it loads them as ROM data), so every `Live` holds the `JsCode`
    // that owns them until after its runtime is dropped (field order).
    unsafe { Module::load(ctx.clone(), bytecode) }
}

/// Turns a JavaScript failure into the error the caller sees, and logs it for the operator.
fn classify(
    ctx: &Ctx<'_>,
    error: rquickjs::Error,
    clock: &CallClock,
    memory_bytes: usize,
    what: &str,
) -> ActionError {
    let caught = CaughtError::from_error(ctx, error);
    if clock.hit() {
        return limit_error(
            "cpu_limit",
            format!("`{what}` ran past the sandbox's time limit per call and was stopped"),
        );
    }
    let mut metadata = None;
    let (name, message, group, code, stack) = match &caught {
        CaughtError::Exception(exception) => {
            let object = exception.as_object();
            metadata = metadata_prop(ctx, object);
            // Reading it runs actor code (getters, `toJSON`): a limit it hit is the call's.
            if clock.hit() {
                return limit_error(
                    "cpu_limit",
                    format!("`{what}` ran past the sandbox's time limit per call and was stopped"),
                );
            }
            (
                string_prop(object, "name"),
                exception.message().unwrap_or_default(),
                string_prop(object, "group"),
                string_prop(object, "code"),
                exception.stack(),
            )
        }
        CaughtError::Value(value) => {
            let text = value
                .as_object()
                .and_then(|o| o.get::<_, String>("message").ok())
                .or_else(|| value.as_string().and_then(|s| s.to_string().ok()))
                .unwrap_or_else(|| format!("{value:?}"));
            (None, text, None, None, None)
        }
        CaughtError::Error(rquickjs::Error::Allocation) => {
            (None, "out of memory".into(), None, None, None)
        }
        CaughtError::Error(rquickjs::Error::WouldBlock) => {
            return ActionError::new(
                "actor",
                "js_error",
                format!("`{what}` returned a promise that never settles"),
            );
        }
        CaughtError::Error(other) => (None, other.to_string(), None, None, None),
    };
    if message == "out of memory" {
        return limit_error(
            "memory_limit",
            format!("`{what}` needed more than the sandbox's memory limit of {memory_bytes} bytes"),
        );
    }
    if let (Some(group), Some(code)) = (group, code) {
        let error = ActionError::new(group, code, message);
        return match metadata {
            Some(metadata) => error.with_metadata(&metadata),
            None => error,
        };
    }
    let name = name.unwrap_or_else(|| "Error".to_owned());
    tracing::warn!(
        target: "actor",
        what,
        error = %format!("{name}: {message}"),
        stack = stack.as_deref().unwrap_or(""),
        "JavaScript actor code threw"
    );
    ActionError::new(
        "actor",
        "js_error",
        format!("`{what}` threw {name}: {message}"),
    )
}

fn limit_error(code: &str, message: String) -> ActionError {
    tracing::warn!(code, message, "sandboxed actor code failed");
    ActionError::new("actor", code, message)
}

fn string_prop(object: &Object<'_>, name: &str) -> Option<String> {
    object.get::<_, Option<String>>(name).ok().flatten()
}

/// Connection params for the prelude: JSON, `null` when the client sent none.
fn params_json(params: &[u8]) -> Result<String, ActionError> {
    if params.is_empty() {
        return Ok("null".to_owned());
    }
    cbor_to_json(params)
        .map(|json| json.to_string())
        .map_err(|e| {
            ActionError::new(
                "actor",
                "invalid_request",
                format!("connection params: {e}"),
            )
        })
}

fn state_json(state: &[u8]) -> Result<String, ActionError> {
    cbor_to_json(state)
        .map(|json| json.to_string())
        .map_err(ActionError::internal)
}

impl Behavior for JsBehavior {
    fn attach(&mut self, db: &mut rusqlite::Connection) -> Result<(), ActionError> {
        crate::sandbox::sql_policy::install(db, self.guard.clone())
            .map_err(|e| ActionError::internal(format!("install the SQL policy: {e}")))
    }

    fn create(&mut self, scope: &mut Scope<'_>, input: Option<&[u8]>) -> Result<(), ActionError> {
        let input = match input {
            None | Some([]) => "null".to_owned(),
            Some(bytes) => cbor_to_json(bytes)
                .map_err(ActionError::invalid_input)?
                .to_string(),
        };
        self.state.clear();
        self.live_has_state = false;
        self.call(scope, "createState", "create", (input, String::new()))
            .map(drop)
    }

    fn wake(&mut self, scope: &mut Scope<'_>) -> Result<(), ActionError> {
        self.call(scope, "onWake", "wake", Default::default())
            .map(drop)
    }

    fn sleep(&mut self, scope: &mut Scope<'_>) -> Result<(), ActionError> {
        self.call(scope, "onSleep", "sleep", Default::default())
            .map(drop)
    }

    fn destroy(&mut self, scope: &mut Scope<'_>) -> Result<(), ActionError> {
        self.call(scope, "onDestroy", "destroy", Default::default())
            .map(drop)
    }

    fn has_state_change_hook(&mut self) -> bool {
        self.hooks().is_some_and(|hooks| hooks.state_change)
    }

    fn state_changed(&mut self, scope: &mut Scope<'_>) -> Result<(), ActionError> {
        self.call(scope, "onStateChange", "stateChanged", Default::default())
            .map(drop)
    }

    // Unknown (the instance cannot be made) counts as having them: the hooks' call then fails
    // and refuses the connection, rather than admitting it past `onBeforeConnect`.
    fn has_conn_hooks(&mut self) -> bool {
        self.hooks().is_none_or(|hooks| hooks.conn)
    }

    // Unknown counts as having them, for the same reason.
    fn has_subscribe_hooks(&mut self) -> bool {
        self.hooks().is_none_or(|hooks| hooks.subscribe)
    }

    // Unknown counts as having one: the call then fails and closes the socket with its error.
    fn has_socket_handler(&mut self) -> bool {
        self.hooks().is_none_or(|hooks| hooks.socket)
    }

    fn socket_opened(
        &mut self,
        scope: &mut Scope<'_>,
        request: &RawRequest,
    ) -> Result<(), ActionError> {
        let head = super::http::request_head(request);
        self.call(scope, "onWebSocket", "socketOpen", (head, String::new()))
            .map(drop)
    }

    fn socket_message(
        &mut self,
        scope: &mut Scope<'_>,
        data: &[u8],
        binary: bool,
    ) -> Result<bool, ActionError> {
        self.live()?.host.bodies().inbound = Some(data.to_vec());
        let output = self.call(
            scope,
            "a WebSocket message listener",
            "socketMessage",
            (binary.to_string(), String::new()),
        )?;
        serde_json::from_str(&output)
            .map_err(|e| ActionError::internal(format!("socketMessage answered: {e}")))
    }

    fn socket_closed(
        &mut self,
        scope: &mut Scope<'_>,
        code: u16,
        reason: &str,
    ) -> Result<(), ActionError> {
        let close = serde_json::json!({ "code": code, "reason": reason }).to_string();
        self.call(
            scope,
            "a WebSocket close listener",
            "socketClose",
            (close, String::new()),
        )
        .map(drop)
    }

    fn accepts_queue(&mut self, scope: &mut Scope<'_>, name: &str) -> Result<bool, ActionError> {
        let output = self.call(
            scope,
            "canPublish",
            "acceptsQueue",
            (name.to_owned(), String::new()),
        )?;
        serde_json::from_str(&output)
            .map_err(|e| ActionError::internal(format!("acceptsQueue answered {output:?}: {e}")))
    }

    fn wants_queue_ready(&mut self) -> bool {
        self.live.is_some() && self.pending.queue_waiting
    }

    fn queue_ready(&mut self, scope: &mut Scope<'_>) -> Result<(), ActionError> {
        self.call_as(
            scope,
            Drive::Turn,
            "a queue receive",
            "queueReady",
            Default::default(),
        )
        .map(drop)
    }

    // The runtime holding the messages goes, with what it had pending.
    fn queue_turn_undone(&mut self) {
        tracing::warn!("a queue turn was undone; its JavaScript instance is replaced");
        self.live = None;
        self.live_has_state = false;
        self.pending = Pending::default();
    }

    fn can_subscribe(&mut self, scope: &mut Scope<'_>, event: &str) -> Result<bool, ActionError> {
        let output = self.call(
            scope,
            "canSubscribe",
            "canSubscribe",
            (event.to_owned(), String::new()),
        )?;
        serde_json::from_str(&output)
            .map_err(|e| ActionError::internal(format!("canSubscribe answered {output:?}: {e}")))
    }

    fn before_connect(&mut self, scope: &mut Scope<'_>, params: &[u8]) -> Result<(), ActionError> {
        let params = params_json(params)?;
        self.call(
            scope,
            "onBeforeConnect",
            "beforeConnect",
            (params, String::new()),
        )
        .map(drop)
    }

    fn create_conn_state(
        &mut self,
        scope: &mut Scope<'_>,
        params: &[u8],
    ) -> Result<Vec<u8>, ActionError> {
        let params = params_json(params)?;
        let output = self.call(
            scope,
            "createConnState",
            "createConnState",
            (params, String::new()),
        )?;
        super::conns::first_state(&output)
    }

    fn connected(&mut self, scope: &mut Scope<'_>) -> Result<(), ActionError> {
        self.call(scope, "onConnect", "connected", Default::default())
            .map(drop)
    }

    fn disconnected(&mut self, scope: &mut Scope<'_>) -> Result<(), ActionError> {
        self.call(scope, "onDisconnect", "disconnected", Default::default())
            .map(drop)
    }

    fn action(
        &mut self,
        scope: &mut Scope<'_>,
        name: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ActionError> {
        let args = args_list(name, args)?;
        self.run_action(scope, name, args)
    }

    fn scheduled(
        &mut self,
        scope: &mut Scope<'_>,
        name: &str,
        args: &[u8],
        fire: &ScheduledFire,
    ) -> Result<Vec<u8>, ActionError> {
        let mut args = args_list(name, args)?;
        let mut info = serde_json::json!({
            "kind": fire.kind,
            "id": fire.id,
            "scheduledAt": fire.scheduled_at_ms,
            "firedAt": fire.fired_at_ms,
        });
        if let Some(job) = &fire.name {
            info["name"] = serde_json::json!(job);
        }
        args.push(info);
        self.run_action(scope, name, args)
    }

    fn request(
        &mut self,
        scope: &mut Scope<'_>,
        request: &RawRequest,
    ) -> Result<Option<RawResponse>, ActionError> {
        let head = super::http::request_head(request);
        self.live()?.host.bodies().inbound = Some(request.body.clone());
        let output = self.call(scope, "onRequest", "request", (head, String::new()));
        let body = match &self.live {
            Some(live) => live.host.bodies().outbound.take(),
            None => None,
        };
        super::http::response(&output?, body)
    }

    fn pending(&self) -> Pending {
        self.pending
    }

    fn turn(&mut self, scope: &mut Scope<'_>) -> Result<(), ActionError> {
        if self.live.is_none() {
            // A new instance has no timers.
            self.pending = Pending::default();
            return Ok(());
        }
        self.call_as(scope, Drive::Turn, "a timer", "turn", Default::default())
            .map(drop)
    }

    fn encode_state(&self) -> Result<Vec<u8>, ActionError> {
        Ok(self.state.clone())
    }

    fn load_state(&mut self, encoded: &[u8]) -> Result<(), ActionError> {
        self.state = encoded.to_vec();
        self.live_has_state = false;
        Ok(())
    }
}

/// An error's `metadata`, as JSON (RivetKit's `UserError` option); `None` when absent or not
/// JSON-compatible.
fn metadata_prop<'js>(ctx: &Ctx<'js>, object: &Object<'js>) -> Option<serde_json::Value> {
    let value: Value<'js> = object.get("metadata").ok()?;
    if value.is_undefined() || value.is_null() {
        return None;
    }
    let text = ctx.json_stringify(value).ok()??.to_string().ok()?;
    serde_json::from_str(&text).ok()
}

//! One wasm actor instance as a [`Behavior`]: each call enters the component with the call's
//! transaction lent to the host, under the memory and time limits.

use std::path::Path;
use std::sync::Arc;

use wasmtime::{Store, Trap};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::actor::{ActionError, Behavior, Effects, RawRequest, RawResponse, Scope};

use super::guest_log::GuestLog;
use super::host::{GUEST_FILES_DIR, HostState, MemoryLimiter};
use super::rivet::actor::types::{ActorError, HttpRequest};
use super::{Actor, EPOCH_TICK, WasmCode};
use crate::sandbox::call::{CallGuard, run_blocking, with_call_db};
use crate::sandbox::outbound::Outbound;

pub(super) struct WasmBehavior {
    code: WasmCode,
    files_dir: std::path::PathBuf,
    /// The live instance; dropped after a trap and made anew for the next call.
    live: Option<(Store<HostState>, Actor)>,
    /// The actor's state (CBOR), owned here between calls.
    state: Vec<u8>,
    guard: Arc<CallGuard>,
    /// The namespace's outbound HTTP rules, if the operator granted any.
    outbound: Option<Outbound>,
}

impl WasmBehavior {
    pub(super) fn new(code: WasmCode, files_dir: &Path, outbound: Option<Outbound>) -> Self {
        Self {
            code,
            files_dir: files_dir.to_owned(),
            live: None,
            state: Vec::new(),
            guard: Arc::default(),
            outbound,
        }
    }

    /// A new store and instance: WASI with only the files mount, no environment, no sockets.
    fn instantiate(&self) -> Result<(Store<HostState>, Actor), ActionError> {
        let mut live = instantiate(&self.code, Some(&self.files_dir), self.guard.clone())?;
        live.0.data_mut().outbound = self.outbound.clone();
        Ok(live)
    }

    /// Runs one export under the limits, with the call's database, effects and state lent to it.
    fn call<R>(
        &mut self,
        scope: &mut Scope<'_>,
        what: &str,
        f: impl FnOnce(&Actor, &mut Store<HostState>) -> wasmtime::Result<Result<R, ActorError>>,
    ) -> Result<R, ActionError> {
        if self.live.is_none() {
            self.live = Some(self.instantiate()?);
        }
        let call_time = self.code.runtime.inner.limits.call_time;
        let Some((store, actor)) = self.live.as_mut() else {
            return Err(ActionError::internal("no wasm instance"));
        };
        let data = store.data_mut();
        data.state = std::mem::take(&mut self.state);
        data.effects = std::mem::take(scope.effects);
        if data.meta.is_none() {
            data.meta = Some(scope.meta.clone());
        }
        self.guard.clock.start(call_time);
        store.set_epoch_deadline(call_ticks(call_time));
        let outcome = run_blocking(|| with_call_db(scope.db, || f(actor, store)));
        // Past the deadline now, or stopped by it in host code (SQL, a sleep cut short).
        let out_of_time = self.guard.clock.should_interrupt() || self.guard.clock.hit();
        self.guard.clock.stop();
        let data = store.data_mut();
        self.state = std::mem::take(&mut data.state);
        *scope.effects = std::mem::take(&mut data.effects);
        // The guest may have written its mount through WASI without a word to the runner:
        // every call is a possible file change (the shipper's scan finds out which).
        scope.effects.files_touched.set(true);
        if out_of_time && outcome.is_ok() {
            // The deadline stopped host work (the guest's SQL, a sleep) and the guest returned
            // before its next epoch check: it still ran out of time, and is not trusted again.
            self.live = None;
            return Err(time_limit(what));
        }
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(ActionError::new(error.group, error.code, error.message)),
            Err(trap) => {
                let error = classify(store, &trap, what);
                // A trapped instance may not be entered again: the next call gets a new one.
                self.live = None;
                Err(error)
            }
        }
    }
}

/// A store and an instance of `code`, with `files_dir` (if any) mounted at `/data`.
pub(super) fn instantiate(
    code: &WasmCode,
    files_dir: Option<&Path>,
    guard: Arc<CallGuard>,
) -> Result<(Store<HostState>, Actor), ActionError> {
    let mut wasi = WasiCtxBuilder::new();
    wasi.allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .stdout(GuestLog("stdout"))
        .stderr(GuestLog("stderr"))
        .monotonic_clock(super::sleeps::MonotonicClock);
    if let Some(dir) = files_dir {
        wasi.preopened_dir(dir, GUEST_FILES_DIR, FsPerms::ReadWrite)
            .map_err(|e| ActionError::internal(format!("mount the files dir: {e:#}")))?;
    }
    let runtime = &code.runtime.inner;
    let data = HostState {
        wasi: wasi.build(),
        table: wasmtime::component::ResourceTable::new(),
        limiter: MemoryLimiter {
            max_bytes: runtime.limits.memory_bytes,
            hit: false,
        },
        meta: None,
        state: Vec::new(),
        effects: Effects::default(),
        guard,
        outbound: None,
    };
    let mut store = Store::new(&runtime.engine, data);
    store.limiter(|data| &mut data.limiter);
    store.set_epoch_deadline(call_ticks(runtime.limits.call_time));
    // The call's clock decides: it holds the deadline with the time the guest spent waiting on
    // the host's network calls given back (within a cap).
    store.epoch_deadline_callback(|store| {
        let clock = &store.data().guard.clock;
        match clock.remaining() {
            Some(left) if !clock.should_interrupt() => {
                Ok(wasmtime::UpdateDeadline::Continue(call_ticks(left)))
            }
            _ => Err(Trap::Interrupt.into()),
        }
    });
    let actor = code
        .pre
        .instantiate(&mut store)
        .map_err(|e| classify(&store, &e, "instantiate"))?;
    Ok((store, actor))
}

/// A time limit in epoch ticks (one more, so a call never gets less than the limit).
fn call_ticks(limit: std::time::Duration) -> u64 {
    u64::try_from(limit.as_millis() / EPOCH_TICK.as_millis().max(1) + 1).unwrap_or(u64::MAX / 2)
}

fn time_limit(what: &str) -> ActionError {
    tracing::warn!(what, "sandboxed actor code ran out of time");
    ActionError::new(
        "actor",
        "cpu_limit",
        format!("`{what}` ran past the sandbox's time limit per call and was stopped"),
    )
}

/// Turns a trap into the error the caller sees, and logs it for the operator.
fn classify(store: &Store<HostState>, error: &wasmtime::Error, what: &str) -> ActionError {
    let limits = &store.data().limiter;
    let (code, message) = match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => (
            "cpu_limit",
            format!("`{what}` ran past the sandbox's time limit per call and was stopped"),
        ),
        _ if limits.hit => (
            "memory_limit",
            format!(
                "`{what}` needed more than the sandbox's memory limit of {} bytes",
                limits.max_bytes
            ),
        ),
        Some(Trap::UnreachableCodeReached) => (
            "panicked",
            format!("`{what}` panicked (the actor's code aborted)"),
        ),
        Some(trap) => ("trapped", format!("`{what}` trapped: {trap}")),
        None => ("trapped", format!("`{what}` failed: {error:#}")),
    };
    tracing::warn!(
        code,
        error = format!("{error:?}"),
        "sandboxed actor code failed"
    );
    ActionError::new("actor", code, message)
}

impl Behavior for WasmBehavior {
    fn attach(&mut self, db: &mut rusqlite::Connection) -> Result<(), ActionError> {
        crate::sandbox::sql_policy::install(db, self.guard.clone())
            .map_err(|e| ActionError::internal(format!("install the SQL policy: {e}")))
    }

    fn create(&mut self, scope: &mut Scope<'_>, input: Option<&[u8]>) -> Result<(), ActionError> {
        let input = input.map(<[u8]>::to_vec);
        let state = self.call(scope, "create-state", |actor, store| {
            actor
                .rivet_actor_guest()
                .call_create_state(store, input.as_deref())
        })?;
        self.state = state;
        self.call(scope, "on-create", |actor, store| {
            actor.rivet_actor_guest().call_on_create(store)
        })
    }

    fn wake(&mut self, scope: &mut Scope<'_>) -> Result<(), ActionError> {
        self.call(scope, "on-wake", |actor, store| {
            actor.rivet_actor_guest().call_on_wake(store)
        })
    }

    fn sleep(&mut self, scope: &mut Scope<'_>) -> Result<(), ActionError> {
        self.call(scope, "on-sleep", |actor, store| {
            actor.rivet_actor_guest().call_on_sleep(store)
        })
    }

    fn action(
        &mut self,
        scope: &mut Scope<'_>,
        name: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ActionError> {
        self.call(scope, name, |actor, store| {
            actor.rivet_actor_guest().call_action(store, name, args)
        })
    }

    fn request(
        &mut self,
        scope: &mut Scope<'_>,
        request: &RawRequest,
    ) -> Result<Option<RawResponse>, ActionError> {
        let request = HttpRequest {
            method: request.method.clone(),
            url: request.path.clone(),
            headers: request.headers.clone().into_iter().collect(),
            body: request.body.clone(),
        };
        let response = self.call(scope, "on-request", |actor, store| {
            actor.rivet_actor_guest().call_on_request(store, &request)
        })?;
        Ok(response.map(|r| RawResponse {
            status: r.status,
            headers: r.headers.into_iter().collect(),
            body: r.body,
        }))
    }

    fn encode_state(&self) -> Result<Vec<u8>, ActionError> {
        Ok(self.state.clone())
    }

    fn load_state(&mut self, encoded: &[u8]) -> Result<(), ActionError> {
        self.state = encoded.to_vec();
        Ok(())
    }
}

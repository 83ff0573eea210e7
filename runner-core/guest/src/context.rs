//! What an action sees: the state, the database, and the effects it may request.

use std::cell::OnceCell;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::bindings::rivet::actor::host;
use crate::{ActionError, Actor, HttpRequest, HttpResponse, LogLevel};

pub use crate::bindings::rivet::actor::types::{Rows, Value};

/// One row of a [`Rows`] result.
pub type Row = Vec<Value>;

/// The context of one action or lifecycle hook. Everything done through it belongs to the
/// call's transaction: if the call returns an error, none of it happens.
pub struct Ctx<A: Actor> {
    state: OnceCell<A::State>,
    changed: bool,
    _actor: PhantomData<A>,
}

impl<A: Actor> Ctx<A> {
    pub(crate) fn new() -> Self {
        Self {
            state: OnceCell::new(),
            changed: false,
            _actor: PhantomData,
        }
    }

    /// The persisted state.
    pub fn state(&self) -> Result<&A::State, ActionError> {
        if let Some(state) = self.state.get() {
            return Ok(state);
        }
        let decoded = crate::dispatch::decode(&host::state(), "state")?;
        Ok(self.state.get_or_init(|| decoded))
    }

    /// The persisted state, for changing it. It is saved when the call succeeds.
    pub fn state_mut(&mut self) -> Result<&mut A::State, ActionError> {
        self.state()?;
        self.changed = true;
        self.state
            .get_mut()
            .ok_or_else(|| crate::dispatch::internal("state not loaded"))
    }

    /// Hands the changed state to the host (called by the dispatcher after a successful call).
    pub(crate) fn save(self) -> Result<(), ActionError> {
        if let (true, Some(state)) = (self.changed, self.state.get()) {
            host::set_state(&crate::dispatch::encode(state)?);
        }
        Ok(())
    }

    /// Runs one SQL statement, or several without parameters; returns the rows it changed.
    pub fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, ActionError> {
        host::execute(sql, params)
    }

    /// Runs a query and returns all its rows.
    pub fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, ActionError> {
        host::query(sql, params)
    }

    /// Broadcasts event `name` with one argument to subscribed connections, after the commit.
    pub fn broadcast<T: Serialize>(&mut self, name: &str, arg: &T) -> Result<(), ActionError> {
        host::broadcast(name, &crate::dispatch::encode(&[arg])?);
        Ok(())
    }

    /// Runs `action` with `args` (a tuple of positional arguments) after `delay`, even if the
    /// actor sleeps meanwhile.
    pub fn schedule_after<T: Serialize>(
        &mut self,
        delay: Duration,
        action: &str,
        args: &T,
    ) -> Result<(), ActionError> {
        let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        let at = host::now_ms().saturating_add(delay_ms);
        host::schedule_at(at, action, &crate::dispatch::encode(args)?)
    }

    /// Asks the engine to put this actor to sleep once the call completes.
    pub fn sleep(&mut self) {
        host::request_sleep();
    }

    /// The actor's files mount. Files written there persist with the actor.
    pub fn files_dir(&self) -> PathBuf {
        PathBuf::from(host::files_dir())
    }

    /// The Rivet actor id.
    pub fn actor_id(&self) -> String {
        host::actor_id()
    }

    /// The generation of this instance (+1 on every re-allocation).
    pub fn generation(&self) -> u32 {
        host::generation()
    }

    /// The actor's key, if it was created with one.
    pub fn key(&self) -> Option<String> {
        host::key()
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        host::now_ms()
    }

    /// Writes a log line through the runner.
    pub fn log(&self, level: LogLevel, message: &str) {
        host::log(level, message);
    }

    /// An outbound HTTP request to a host the operator allowed for this namespace.
    pub fn fetch(&self, request: &HttpRequest) -> Result<HttpResponse, ActionError> {
        host::fetch(request)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Integer(i64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl Value {
    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(v) => Some(*v),
            _ => None,
        }
    }

    /// The number, if this is a real or an integer.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Real(v) => Some(*v),
            Value::Integer(v) => Some(*v as f64),
            _ => None,
        }
    }

    /// The text, if this is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(v) => Some(v),
            _ => None,
        }
    }

    /// The bytes, if this is a blob.
    pub fn as_blob(&self) -> Option<&[u8]> {
        match self {
            Value::Blob(v) => Some(v),
            _ => None,
        }
    }
}

//! JavaScript actors on QuickJS (rquickjs).
//!
//! An actor is an ES module whose default export has the shape of a RivetKit actor definition:
//!
//! ```js
//! export default actor({
//!   state: { count: 0 },                 // or createState(c, input) { return … }
//!   onWake(c) {},                         // also onCreate(c, input), onSleep(c), …
//!   onRequest: (c, request) => new Response("hi"), // raw HTTP: WinterTC Request and Response
//!   actions: {
//!     increment(c, amount = 1) {
//!       c.state.count += amount;
//!       c.broadcast("newCount", c.state.count);
//!       return c.state.count;
//!     },
//!   },
//! });
//! ```
//!
//! Every instance is its own QuickJS runtime: its own heap (capped at the sandbox's memory
//! limit), its own globals, an interrupt handler enforcing the time limit per call. There is no
//! module loader, no `std`/`os` module, no timers: the only way out is the context object `c`
//! (database, files mount, events, schedule, and outbound HTTP if the operator allows it).

mod behavior;
mod conns;
mod cron;
mod event_loop;
mod host;
mod http;
mod queue;

use std::sync::Arc;

use crate::actor::Behavior;

use super::SandboxLimits;
use super::outbound::Outbound;
use behavior::JsBehavior;

/// Why a JavaScript actor could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsError {
    /// The module does not evaluate, or its default export is not an actor definition.
    #[error("load JavaScript actor `{name}`: {reason}")]
    Module {
        /// The module's name.
        name: String,
        /// The error, with its location.
        reason: String,
    },
}

/// The JavaScript runtime, shared by every JavaScript actor: the limits, and the prelude
/// compiled once.
#[derive(Clone)]
pub struct JsRuntime {
    limits: SandboxLimits,
    prelude: Arc<[u8]>,
}

impl std::fmt::Debug for JsRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsRuntime")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl JsRuntime {
    /// Instances run under `limits`.
    pub fn new(limits: SandboxLimits) -> Result<Self, JsError> {
        let prelude = behavior::compile_module("rivet:prelude", behavior::PRELUDE, limits)
            .map_err(|e| JsError::Module {
                name: "rivet:prelude".to_owned(),
                reason: e.message,
            })?;
        Ok(Self {
            limits,
            prelude: prelude.into(),
        })
    }

    /// Compiles `source`, checks that it evaluates and exports an actor definition, and keeps
    /// its bytecode for instances.
    pub fn compile(&self, name: &str, source: &str) -> Result<JsCode, JsError> {
        let failed = |e: crate::actor::ActionError| JsError::Module {
            name: name.to_owned(),
            reason: e.message,
        };
        let module = format!("{name}.js");
        let bytecode = behavior::compile_module(&module, source, self.limits).map_err(failed)?;
        let code = JsCode {
            name: name.to_owned(),
            bytecode: bytecode.into(),
            prelude: self.prelude.clone(),
            limits: self.limits,
        };
        behavior::Live::check(&code).map_err(failed)?;
        Ok(code)
    }

    /// The names of the actors module `source` defines: the keys of its registry
    /// (`setup({ use })`), else `fallback` for its default export and the export names of its
    /// `actor()` exports. Its top level runs, without files, database or network.
    pub fn actor_names(&self, fallback: &str, source: &str) -> Result<Vec<String>, JsError> {
        let failed = |e: crate::actor::ActionError| JsError::Module {
            name: fallback.to_owned(),
            reason: e.message,
        };
        let bytecode = behavior::compile_module(&format!("{fallback}.js"), source, self.limits)
            .map_err(failed)?;
        let code = JsCode {
            name: fallback.to_owned(),
            bytecode: bytecode.into(),
            prelude: self.prelude.clone(),
            limits: self.limits,
        };
        behavior::Live::names(&code, fallback).map_err(failed)
    }
}

/// A checked JavaScript actor module, compiled to QuickJS bytecode.
#[derive(Clone)]
pub struct JsCode {
    name: String,
    bytecode: Arc<[u8]>,
    prelude: Arc<[u8]>,
    limits: SandboxLimits,
}

impl std::fmt::Debug for JsCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsCode")
            .field("name", &self.name)
            .field("bytecode_bytes", &self.bytecode.len())
            .finish_non_exhaustive()
    }
}

/// Starts actors of one name from JavaScript code: the one sandbox factory.
pub type JsFactory = super::SandboxFactory;

impl JsCode {
    /// The behaviour of a new instance: its files under `files_dir`, its outbound HTTP what
    /// `outbound` grants its namespace.
    pub(crate) fn behavior(
        &self,
        files_dir: &std::path::Path,
        outbound: Option<Outbound>,
    ) -> Box<dyn Behavior> {
        Box::new(JsBehavior::new(self.clone(), files_dir, outbound))
    }
}

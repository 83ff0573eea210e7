//! The one factory for sandboxed code, whichever runtime loaded it: each instance gets a new
//! behaviour from the code, its files and its namespace's outbound access, and the same
//! instance around it as a native actor.

use std::sync::Arc;

use crate::actor::{ActorFactory, ActorHandle, ActorInit, Behavior};
use crate::error::ActorStartError;

use super::outbound::OutboundPolicy;

/// Code a sandbox runtime loaded and checked.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SandboxCode {
    /// A JavaScript module on QuickJS.
    #[cfg(feature = "js")]
    Js(super::js::JsCode),
    /// A WebAssembly component on wasmtime.
    #[cfg(feature = "wasmtime")]
    Wasm(super::wasm::WasmCode),
}

#[cfg(feature = "js")]
impl From<super::js::JsCode> for SandboxCode {
    fn from(code: super::js::JsCode) -> Self {
        Self::Js(code)
    }
}

#[cfg(feature = "wasmtime")]
impl From<super::wasm::WasmCode> for SandboxCode {
    fn from(code: super::wasm::WasmCode) -> Self {
        Self::Wasm(code)
    }
}

/// Starts actors of one name from sandboxed code.
#[derive(Debug)]
pub struct SandboxFactory {
    name: String,
    code: SandboxCode,
    outbound: Option<Arc<OutboundPolicy>>,
}

impl SandboxFactory {
    /// Hosts `code` under the actor name `name`, with no outbound HTTP.
    pub fn new(name: impl Into<String>, code: impl Into<SandboxCode>) -> Self {
        Self {
            name: name.into(),
            code: code.into(),
            outbound: None,
        }
    }

    /// Lets the actors make the outbound requests `policy` allows their namespace.
    pub fn with_outbound(mut self, policy: Arc<OutboundPolicy>) -> Self {
        self.outbound = Some(policy);
        self
    }
}

impl ActorFactory for SandboxFactory {
    fn name(&self) -> &str {
        &self.name
    }

    fn start(&self, init: ActorInit) -> Result<ActorHandle, ActorStartError> {
        let outbound = self
            .outbound
            .as_ref()
            .map(|policy| policy.for_namespace(&init.namespace));
        let files_dir = &init.files.files_dir;
        let behavior: Box<dyn Behavior> = match &self.code {
            #[cfg(feature = "js")]
            SandboxCode::Js(code) => code.behavior(files_dir, outbound),
            #[cfg(feature = "wasmtime")]
            SandboxCode::Wasm(code) => code.behavior(files_dir, outbound),
        };
        crate::actor::start_instance(&self.name, behavior, init)
    }
}

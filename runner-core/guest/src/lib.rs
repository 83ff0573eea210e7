//! Write Rivet actors in Rust that run in the runner's WebAssembly sandbox.
//!
//! The API mirrors the runner's native one: an actor type with persisted state, a SQLite
//! database, actions, events, schedules and a files mount. Build it as a component with
//! `cargo build --target wasm32-wasip2 --release` (crate type `cdylib`) and deploy the `.wasm`.
//!
//! ```ignore
//! use rivet_actor_guest::{Actor, Actions, ActionError, Ctx, export_actor};
//!
//! struct Counter;
//! impl Actor for Counter {
//!     type State = i64;
//!     type Input = ();
//!     fn create_state(_input: Option<()>) -> Result<i64, ActionError> { Ok(0) }
//!     fn actions(actions: &mut Actions<Self>) {
//!         actions.add("increment", |ctx: &mut Ctx<Self>, (n,): (i64,)| {
//!             *ctx.state_mut()? += n;
//!             Ok(*ctx.state()?)
//!         });
//!     }
//! }
//! export_actor!(Counter);
//! ```

mod actions;
mod context;
#[doc(hidden)]
pub mod dispatch;

pub use actions::Actions;
pub use context::{Ctx, Row, Rows, Value};

use serde::Serialize;
use serde::de::DeserializeOwned;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "actor",
        path: "../wit",
        default_bindings_module: "rivet_actor_guest::bindings",
        pub_export_macro: true,
        export_macro_name: "export",
    });
}

pub use bindings::rivet::actor::types::{HttpRequest, HttpResponse, LogLevel};

/// An error returned to the caller, in RivetKit's `{group, code, message}` shape.
pub type ActionError = bindings::rivet::actor::types::ActorError;

/// An error meant for the client (group `user`).
pub fn user_error(code: &str, message: impl Into<String>) -> ActionError {
    ActionError {
        group: "user".to_owned(),
        code: code.to_owned(),
        message: message.into(),
    }
}

/// An actor type.
pub trait Actor: Sized + 'static {
    /// Persisted state, saved with every call that changes it.
    type State: Serialize + DeserializeOwned;
    /// The create input, decoded from the CBOR the client passed at creation.
    type Input: DeserializeOwned;

    /// Initial state, called once when the actor is first created.
    fn create_state(input: Option<Self::Input>) -> Result<Self::State, ActionError>;

    /// Runs once after the state is created, in the same transaction (create tables here).
    fn on_create(_ctx: &mut Ctx<Self>) -> Result<(), ActionError> {
        Ok(())
    }

    /// Runs every time the actor starts, including the first time.
    fn on_wake(_ctx: &mut Ctx<Self>) -> Result<(), ActionError> {
        Ok(())
    }

    /// Runs before the actor stops for sleep, drain or shutdown.
    fn on_sleep(_ctx: &mut Ctx<Self>) -> Result<(), ActionError> {
        Ok(())
    }

    /// Registers the actor's actions.
    fn actions(actions: &mut Actions<Self>);

    /// Answers a raw HTTP request to `/request/*`; `None` answers 404.
    fn on_request(_ctx: &mut Ctx<Self>, _request: &HttpRequest) -> Option<HttpResponse> {
        None
    }
}

/// Exports `$actor` as the component's actor.
#[macro_export]
macro_rules! export_actor {
    ($actor:ty) => {
        struct __RivetActorExport;

        impl $crate::bindings::exports::rivet::actor::guest::Guest for __RivetActorExport {
            fn create_state(input: Option<Vec<u8>>) -> Result<Vec<u8>, $crate::ActionError> {
                $crate::dispatch::create_state::<$actor>(input)
            }
            fn on_create() -> Result<(), $crate::ActionError> {
                $crate::dispatch::on_create::<$actor>()
            }
            fn on_wake() -> Result<(), $crate::ActionError> {
                $crate::dispatch::on_wake::<$actor>()
            }
            fn on_sleep() -> Result<(), $crate::ActionError> {
                $crate::dispatch::on_sleep::<$actor>()
            }
            fn action(name: String, args: Vec<u8>) -> Result<Vec<u8>, $crate::ActionError> {
                $crate::dispatch::action::<$actor>(&name, &args)
            }
            fn on_request(
                request: $crate::HttpRequest,
            ) -> Result<Option<$crate::HttpResponse>, $crate::ActionError> {
                $crate::dispatch::on_request::<$actor>(&request)
            }
        }

        $crate::bindings::export!(__RivetActorExport with_types_in $crate::bindings);
    };
}

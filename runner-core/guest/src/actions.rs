//! The action table: name → handler taking CBOR positional args, returning CBOR output.

use std::collections::HashMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::dispatch::{decode_args, encode};
use crate::{ActionError, Actor, Ctx};

type ActionFn<A> = Box<dyn Fn(&mut Ctx<A>, &[u8]) -> Result<Vec<u8>, ActionError>>;

/// The actions of an actor type.
pub struct Actions<A: Actor> {
    table: HashMap<String, ActionFn<A>>,
}

impl<A: Actor> Actions<A> {
    pub(crate) fn collect() -> Self {
        let mut actions = Self {
            table: HashMap::new(),
        };
        A::actions(&mut actions);
        actions
    }

    /// Registers an action. `Args` is decoded from the caller's argument list, so a tuple
    /// (`(i64,)`, `(String, u32)`) matches positional arguments; use `()` for none.
    pub fn add<Args, Out, F>(&mut self, name: &str, handler: F) -> &mut Self
    where
        Args: DeserializeOwned,
        Out: Serialize,
        F: Fn(&mut Ctx<A>, Args) -> Result<Out, ActionError> + 'static,
    {
        let action = name.to_owned();
        let erased = move |ctx: &mut Ctx<A>, args: &[u8]| {
            let args = decode_args::<Args>(args).map_err(|detail| ActionError {
                group: "actor".to_owned(),
                code: "invalid_request".to_owned(),
                message: format!("invalid arguments for action `{action}`: {detail}"),
            })?;
            encode(&handler(ctx, args)?)
        };
        self.table.insert(name.to_owned(), Box::new(erased));
        self
    }

    pub(crate) fn get(&self, name: &str) -> Option<&ActionFn<A>> {
        self.table.get(name)
    }
}

//! The component's exports, turned into calls on the actor type (used by `export_actor!`).

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{ActionError, Actions, Actor, Ctx, HttpRequest, HttpResponse};

thread_local! {
    /// Each actor type's action table, built once per instance.
    static ACTIONS: RefCell<HashMap<TypeId, Box<dyn Any>>> = RefCell::new(HashMap::new());
}

pub(crate) fn internal(detail: &str) -> ActionError {
    ActionError {
        group: "actor".to_owned(),
        code: "internal_error".to_owned(),
        message: detail.to_owned(),
    }
}

pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, ActionError> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).map_err(|e| internal(&format!("encode: {e}")))?;
    Ok(out)
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, ActionError> {
    ciborium::from_reader(bytes).map_err(|e| internal(&format!("decode {what}: {e}")))
}

/// Positional args; an empty list (or nothing) also decodes as `()`.
pub(crate) fn decode_args<T: DeserializeOwned>(args: &[u8]) -> Result<T, String> {
    let unit = || {
        let mut null = Vec::new();
        ciborium::into_writer(&(), &mut null).map_err(|e| e.to_string())?;
        ciborium::from_reader::<T, _>(null.as_slice()).map_err(|e| e.to_string())
    };
    if args.is_empty() {
        return unit();
    }
    match ciborium::from_reader::<T, _>(args) {
        Ok(value) => Ok(value),
        Err(first) => match ciborium::from_reader::<Vec<ciborium::Value>, _>(args) {
            Ok(list) if list.is_empty() => unit().map_err(|_| first.to_string()),
            _ => Err(first.to_string()),
        },
    }
}

fn hook<A: Actor>(f: fn(&mut Ctx<A>) -> Result<(), ActionError>) -> Result<(), ActionError> {
    let mut ctx = Ctx::new();
    f(&mut ctx)?;
    ctx.save()
}

pub fn create_state<A: Actor>(input: Option<Vec<u8>>) -> Result<Vec<u8>, ActionError> {
    let input = match input.as_deref() {
        None | Some([]) => None,
        Some(bytes) => {
            Some(
                decode::<A::Input>(bytes, "create input").map_err(|e| ActionError {
                    group: "actor".to_owned(),
                    code: "invalid_input".to_owned(),
                    message: e.message,
                })?,
            )
        }
    };
    encode(&A::create_state(input)?)
}

pub fn on_create<A: Actor>() -> Result<(), ActionError> {
    hook::<A>(A::on_create)
}

pub fn on_wake<A: Actor>() -> Result<(), ActionError> {
    hook::<A>(A::on_wake)
}

pub fn on_sleep<A: Actor>() -> Result<(), ActionError> {
    hook::<A>(A::on_sleep)
}

pub fn action<A: Actor>(name: &str, args: &[u8]) -> Result<Vec<u8>, ActionError> {
    ACTIONS.with(|tables| {
        let mut tables = tables.borrow_mut();
        let table = tables
            .entry(TypeId::of::<A>())
            .or_insert_with(|| Box::new(Actions::<A>::collect()))
            .downcast_ref::<Actions<A>>()
            .ok_or_else(|| internal("action table"))?;
        let handler = table.get(name).ok_or_else(|| ActionError {
            group: "actor".to_owned(),
            code: "action_not_found".to_owned(),
            message: format!("action `{name}` does not exist"),
        })?;
        let mut ctx = Ctx::new();
        let output = handler(&mut ctx, args)?;
        ctx.save()?;
        Ok(output)
    })
}

pub fn on_request<A: Actor>(request: &HttpRequest) -> Result<Option<HttpResponse>, ActionError> {
    let mut ctx = Ctx::new();
    let response = A::on_request(&mut ctx, request);
    ctx.save()?;
    Ok(response)
}

//! The native functions behind a JavaScript actor's connections (`c.conn`, `c.conns`,
//! `conn.send`, `conn.disconnect`, `conn.state`), over the call's connection table.

use std::sync::Arc;

use rquickjs::{Ctx, Function, Object, TypedArray};
use serde_json::{Value as Json, json};

use crate::actor::{ActionError, ConnTable, cbor_from_json, cbor_to_json};

use super::host::{JsHost, fail};
use super::http::copy_bytes;

/// Adds the connection functions to the prelude's `host` object.
pub(super) fn conn_functions<'js>(
    ctx: &Ctx<'js>,
    object: &Object<'js>,
    host: &Arc<JsHost>,
) -> rquickjs::Result<()> {
    let h = host.clone();
    object.set(
        "conn",
        Function::new(ctx.clone(), move || {
            let conns = h.conns();
            conns
                .current()
                .map_or(Json::Null, |(id, conn)| {
                    record(id, &conn.params, &conn.state)
                })
                .to_string()
        })?,
    )?;
    let h = host.clone();
    object.set(
        "conns",
        Function::new(ctx.clone(), move || {
            let conns = h.conns();
            let list: Vec<Json> = conns
                .iter()
                .map(|(id, conn)| record(id, &conn.params, &conn.state))
                .collect();
            Json::Array(list).to_string()
        })?,
    )?;
    let h = host.clone();
    object.set(
        "connState",
        Function::new(ctx.clone(), move |id: String| {
            let conns = h.conns();
            conns
                .find(&id)
                .map_or(Json::Null, |conn| json!({"state": to_json(&conn.state)}))
                .to_string()
        })?,
    )?;
    let h = host.clone();
    object.set(
        "send",
        Function::new(
            ctx.clone(),
            move |id: String, name: String, args: String| match json_to_cbor(&args) {
                Ok(args) => h.effects().send(id.into(), name, args),
                Err(err) => tracing::warn!(error = %err, "conn.send: arguments not JSON; dropped"),
            },
        )?,
    )?;
    let h = host.clone();
    object.set(
        "disconnect",
        Function::new(ctx.clone(), move |id: String, reason: String| {
            h.effects().disconnect(id.into(), reason);
        })?,
    )?;
    socket_functions(ctx, object, host)
}

/// `socketSend` and `socketClose`, behind a raw WebSocket's `send` and `close`.
fn socket_functions<'js>(
    ctx: &Ctx<'js>,
    object: &Object<'js>,
    host: &Arc<JsHost>,
) -> rquickjs::Result<()> {
    let h = host.clone();
    object.set(
        "socketSend",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, id: String, data: TypedArray<'js, u8>, binary: bool| {
                let data = copy_bytes(&ctx, &data)?;
                if let Err(reply) = check_socket(&h, &id) {
                    return Ok(reply);
                }
                let mut effects = h.effects();
                effects.frame(id.into(), data, binary);
                Ok::<_, rquickjs::Error>(match &effects.overflow {
                    Some(err) => fail(&err.group, &err.code, &err.message),
                    None => OK.to_owned(),
                })
            },
        )?,
    )?;
    let h = host.clone();
    object.set(
        "socketClose",
        Function::new(ctx.clone(), move |id: String, code: u16, reason: String| {
            if let Err(reply) = check_socket(&h, &id) {
                return reply;
            }
            h.effects().close_with(id.into(), code, reason);
            OK.to_owned()
        })?,
    )?;
    Ok(())
}

const OK: &str = r#"{"ok":null}"#;

/// Refuses an id that is not an open raw WebSocket of the actor's.
fn check_socket(host: &JsHost, id: &str) -> Result<(), String> {
    if host.conns().is_socket(id) {
        Ok(())
    } else {
        Err(fail("actor", "not_a_websocket", "the WebSocket is closed"))
    }
}

/// A connection as the prelude builds its `Conn` from: id, params, state (JSON; `null` for
/// none).
fn record(id: &str, params: &[u8], state: &[u8]) -> Json {
    json!({"id": id, "params": to_json(params), "state": to_json(state)})
}

fn to_json(cbor: &[u8]) -> Json {
    if cbor.is_empty() {
        return Json::Null;
    }
    cbor_to_json(cbor).unwrap_or(Json::Null)
}

fn json_to_cbor(text: &str) -> Result<Vec<u8>, String> {
    let value: Json = serde_json::from_str(text).map_err(|e| e.to_string())?;
    cbor_from_json(&value)
}

/// Stores the connection states a call read or wrote (the prelude's `[[id, stateJson], …]`):
/// the prelude cannot see in-place changes, so each is written back whole.
pub(super) fn store_states(conns: &mut ConnTable, states: &str) -> Result<(), ActionError> {
    let states: Vec<(String, Json)> = serde_json::from_str(states)
        .map_err(|e| ActionError::internal(format!("connection states JSON: {e}")))?;
    for (id, state) in states {
        let bytes = if state.is_null() {
            Vec::new()
        } else {
            cbor_from_json(&state).map_err(|e| {
                ActionError::new("actor", "invalid_state", format!("connection state: {e}"))
            })?
        };
        conns.set_state(&id, bytes)?;
    }
    Ok(())
}

/// The first state of a connection, from the prelude's `createConnState` (`""`: none).
pub(super) fn first_state(output: &str) -> Result<Vec<u8>, ActionError> {
    if output.is_empty() {
        return Ok(Vec::new());
    }
    let value: Json = serde_json::from_str(output)
        .map_err(|e| ActionError::internal(format!("connection state JSON: {e}")))?;
    if value.is_null() {
        return Ok(Vec::new());
    }
    cbor_from_json(&value)
        .map_err(|e| ActionError::new("actor", "invalid_state", format!("connection state: {e}")))
}

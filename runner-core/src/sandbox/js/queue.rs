//! The native side of a JavaScript actor's `c.queue` (RivetKit 2.3): `queueSend`,
//! `queueReceive` and `queueComplete`, over the core's queue in the call's transaction. Bodies
//! and responses cross as JSON and are kept as CBOR, as RivetKit keeps them.

use std::sync::Arc;

use rquickjs::{Ctx, Function, Object};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::actor::{ActionError, QueueMessage, cbor_from_json, cbor_to_json};
use crate::sandbox::call;

use super::host::{JsHost, answer, fail};

/// Adds the queue functions to the prelude's `host` object.
pub(super) fn queue_functions<'js>(
    ctx: &Ctx<'js>,
    object: &Object<'js>,
    host: &Arc<JsHost>,
) -> rquickjs::Result<()> {
    let h = host.clone();
    object.set(
        "queueSend",
        Function::new(ctx.clone(), move |name: String, body: String| {
            send(&h, &name, &body)
        })?,
    )?;
    let h = host.clone();
    object.set(
        "queueReceive",
        Function::new(
            ctx.clone(),
            move |options: String| match serde_json::from_str::<Receive>(&options) {
                Ok(options) => receive(&h, &options),
                Err(err) => fail("queue", "invalid_options", err),
            },
        )?,
    )?;
    let h = host.clone();
    object.set(
        "queueComplete",
        Function::new(
            ctx.clone(),
            move |id: f64, name: String, response: String| complete(&h, id, &name, &response),
        )?,
    )?;
    Ok(())
}

/// What `next`/`tryNext` and their batch forms ask for.
#[derive(Debug, Deserialize)]
struct Receive {
    names: Option<Vec<String>>,
    count: f64,
    completable: bool,
}

fn send(host: &JsHost, name: &str, body: &str) -> String {
    let body = match json_cbor(body) {
        Ok(body) => body,
        Err(err) => return fail(&err.group, &err.code, err.message),
    };
    let sent =
        call::call_db(|db| crate::actor::queue_send(db, name, &body, crate::actor::now_ms()));
    answer(sent, |message| {
        host.effects().queue_sent = true;
        message_json(&message)
    })
}

fn receive(host: &JsHost, options: &Receive) -> String {
    let count = if options.count.is_finite() && options.count >= 1.0 {
        options.count as usize
    } else {
        1
    };
    let received = call::call_db(|db| {
        crate::actor::queue_receive(db, options.names.as_deref(), count, options.completable)
    });
    answer(received, |messages| {
        if !options.completable {
            // Received for good: a client waiting on one hears it was taken.
            host.effects()
                .queue_done
                .extend(messages.iter().map(|message| (message.id, None)));
        }
        Json::Array(messages.iter().map(message_json).collect())
    })
}

fn complete(host: &JsHost, id: f64, name: &str, response: &str) -> String {
    let response = if response.is_empty() {
        None
    } else {
        match json_cbor(response) {
            Ok(response) => Some(response),
            Err(err) => return fail(&err.group, &err.code, err.message),
        }
    };
    let id = id as i64;
    let completed = call::call_db(|db| crate::actor::queue_complete(db, id, name));
    answer(completed, |completed| {
        if completed {
            host.effects().queue_done.push((id, response));
        }
        Json::Bool(completed)
    })
}

/// RivetKit's queue message as actor code sees it: `{id, name, body, createdAt}`.
fn message_json(message: &QueueMessage) -> Json {
    json!({
        "id": message.id,
        "name": message.name,
        "body": cbor_to_json(&message.body).unwrap_or(Json::Null),
        "createdAt": message.created_at,
    })
}

fn json_cbor(text: &str) -> Result<Vec<u8>, ActionError> {
    let value: Json = serde_json::from_str(text)
        .map_err(|e| ActionError::new("queue", "invalid_body", e.to_string()))?;
    cbor_from_json(&value).map_err(|e| ActionError::new("queue", "invalid_body", e))
}

//! The native side of a JavaScript actor's `c.cron` (RivetKit 2.3): one `host.cron(op,
//! request)` function taking and returning JSON, over the core's cron jobs.

use std::sync::Arc;

use rquickjs::{Ctx, Function, Object};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::actor::{
    ActionError, Cadence, CronFire, CronJob, FireResult, cbor_from_json, cbor_to_json,
};
use crate::sandbox::call;

use super::host::{JsHost, answer, fail};

/// Adds `host.cron` to the prelude's `host` object.
pub(super) fn cron_functions<'js>(
    ctx: &Ctx<'js>,
    object: &Object<'js>,
    host: &Arc<JsHost>,
) -> rquickjs::Result<()> {
    let h = host.clone();
    object.set(
        "cron",
        Function::new(
            ctx.clone(),
            move |op: String, request: String| match serde_json::from_str::<Request>(&request) {
                Ok(request) => cron(&h, &op, request),
                Err(err) => fail("actor", "invalid_cron", err),
            },
        )?,
    )?;
    Ok(())
}

/// The options of `set`, `every`, `get`, `delete` and `history`, as the prelude passes them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    #[serde(default)]
    name: String,
    expression: Option<String>,
    timezone: Option<String>,
    interval: Option<f64>,
    #[serde(default)]
    action: String,
    args: Option<Json>,
    max_history: Option<f64>,
    limit: Option<f64>,
}

fn cron(host: &JsHost, op: &str, request: Request) -> String {
    match op {
        "set" | "every" => {
            let set = prepare(op, &request).and_then(|(cadence, args)| {
                call::call_db(|db| {
                    crate::actor::cron_set(
                        db,
                        &request.name,
                        &request.action,
                        &args,
                        &cadence,
                        request.max_history.map(whole),
                        crate::actor::now_ms(),
                    )
                })
                .transpose()
            });
            answer(set.transpose(), |()| {
                host.effects().schedule_changed = true;
                Json::Null
            })
        }
        "get" => answer(
            call::call_db(|db| crate::actor::cron_get(db, &request.name)),
            |job| job.as_ref().map_or(Json::Null, job_json),
        ),
        "list" => answer(call::call_db(crate::actor::cron_list), |jobs| {
            Json::Array(jobs.iter().map(job_json).collect())
        }),
        "delete" => answer(
            call::call_db(|db| crate::actor::cron_delete(db, &request.name)),
            |deleted| {
                if deleted {
                    host.effects().schedule_changed = true;
                }
                Json::Bool(deleted)
            },
        ),
        "history" => answer(
            call::call_db(|db| {
                crate::actor::cron_history(db, &request.name, request.limit.map(whole))
            }),
            |fires| Json::Array(fires.iter().map(fire_json).collect()),
        ),
        other => fail(
            "actor",
            "invalid_cron",
            format!("no cron operation `{other}`"),
        ),
    }
}

/// The cadence and CBOR arguments of a `set` or `every`.
fn prepare(op: &str, request: &Request) -> Result<(Cadence, Vec<u8>), ActionError> {
    let invalid = |message: &str| ActionError::new("actor", "invalid_cron", message);
    let cadence = if op == "set" {
        Cadence::Cron {
            expression: request
                .expression
                .clone()
                .ok_or_else(|| invalid("c.cron.set needs an `expression`"))?,
            timezone: request.timezone.clone().unwrap_or_else(|| "UTC".into()),
        }
    } else {
        let interval = request
            .interval
            .ok_or_else(|| invalid("c.cron.every needs an `interval` in milliseconds"))?;
        Cadence::Every {
            interval_ms: whole(interval),
        }
    };
    if request.action.is_empty() {
        return Err(invalid("a cron job needs an `action`"));
    }
    let args = match &request.args {
        None | Some(Json::Null) => Json::Array(Vec::new()),
        Some(args @ Json::Array(_)) => args.clone(),
        Some(_) => return Err(invalid("a cron job's `args` is an array")),
    };
    let args = cbor_from_json(&args).map_err(|e| invalid(&e))?;
    Ok((cadence, args))
}

/// A JavaScript number that must be a whole number (milliseconds or a count); anything else
/// becomes -1, which every check refuses.
fn whole(n: f64) -> i64 {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        n as i64
    } else {
        -1
    }
}

/// RivetKit's `CronJobInfo`.
fn job_json(job: &CronJob) -> Json {
    let mut info = json!({
        "name": job.name,
        "action": job.action,
        "args": cbor_to_json(&job.args).unwrap_or(Json::Null),
        "nextRunAt": job.next_run_at_ms,
        "maxHistory": job.max_history,
    });
    if let Some(last) = job.last_run_at_ms {
        info["lastRunAt"] = json!(last);
    }
    match &job.cadence {
        Cadence::Cron {
            expression,
            timezone,
        } => {
            info["kind"] = json!("cron");
            info["expression"] = json!(expression);
            info["timezone"] = json!(timezone);
        }
        Cadence::Every { interval_ms } => {
            info["kind"] = json!("every");
            info["interval"] = json!(interval_ms);
        }
    }
    info
}

/// RivetKit's `CronFire`.
fn fire_json(fire: &CronFire) -> Json {
    let mut entry = json!({
        "action": fire.action,
        "scheduledAt": fire.scheduled_at_ms,
        "firedAt": fire.fired_at_ms,
        "finishedAt": fire.finished_at_ms,
        "result": match fire.result {
            FireResult::Ok => "ok",
            FireResult::Error => "error",
        },
    });
    if let Some((group, code, message)) = &fire.error {
        entry["error"] = json!({ "group": group, "code": code, "message": message });
    }
    entry
}

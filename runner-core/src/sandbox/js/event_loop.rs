//! The event loop of one JavaScript call. QuickJS only queues jobs; this runs them, fires the
//! timers of `work.js` as they come due, and, for a call whose result is a promise, waits for
//! the next timer while the promise is pending. Waiting is given back to the call's clock (it
//! is not the guest's CPU), within the clock's cap on what one call is given back, and nothing
//! else: a call cannot wait for a timer past that.

use std::time::Duration;

use rquickjs::{Ctx, Function, Object, Value};

use crate::actor::{ActionError, Pending};
use crate::sandbox::clock::{CallClock, MAX_GIVEN_BACK};

/// How far a call runs the timers.
#[derive(Debug, Clone, Copy)]
pub(super) enum Drive {
    /// An action or hook: its jobs, and while its promise is pending, the timers as they come
    /// due. Timers still pending when it settles are left for turns.
    Call,
    /// A turn of background work: the timers due when it began (a timer set during the turn
    /// waits for the next one), and the jobs they queue.
    Turn,
}

/// Why a call's loop stopped short of a result.
pub(super) enum Stop {
    /// JavaScript threw, or a limit stopped it.
    Js(rquickjs::Error),
    /// The call's promise waits on a timer further away than the call may wait.
    Waits(Duration),
}

impl From<rquickjs::Error> for Stop {
    fn from(error: rquickjs::Error) -> Self {
        Self::Js(error)
    }
}

impl Stop {
    pub(super) fn waits_error(wait: Duration, what: &str) -> ActionError {
        ActionError::new(
            "actor",
            "timer_too_far",
            format!(
                "`{what}` awaits a timer due in {} ms; one call may wait at most {} s in all for \
                 its timers and fetches (calls run one at a time): start longer work with \
                 c.waitUntil or c.keepAwake instead of awaiting it",
                wait.as_millis(),
                MAX_GIVEN_BACK.as_secs()
            ),
        )
    }
}

/// Runs `value`'s call to its end as `drive` says; returns its result (the bridge's JSON
/// string, from the promise when it is one).
pub(super) fn run<'js>(
    ctx: &Ctx<'js>,
    bridge: &Object<'js>,
    value: &Value<'js>,
    drive: Drive,
    clock: &CallClock,
) -> Result<String, Stop> {
    let fire: Function = bridge.get("fire")?;
    let next: Function = bridge.get("next")?;
    let promise = value.as_promise();
    let began = now_ms();
    loop {
        while ctx.execute_pending_job() {}
        if let Drive::Call = drive {
            match promise {
                None => return Ok(value.get()?),
                Some(promise) => {
                    if let Some(result) = promise.result::<String>() {
                        return Ok(result?);
                    }
                }
            }
        }
        let bound = match drive {
            Drive::Call => now_ms(),
            Drive::Turn => began,
        };
        if fire.call::<_, bool>((bound,))? {
            continue;
        }
        if let Drive::Turn = drive {
            return Ok(value.get()?);
        }
        // Pending, with nothing to run: the next timer may settle it.
        let Some(due) = next.call::<_, Option<f64>>(())? else {
            return Err(Stop::Js(rquickjs::Error::WouldBlock));
        };
        let wait = Duration::from_millis(millis(due - now_ms()));
        // What the clock can still give back (`fetch` spends from the same allowance).
        if wait > clock.left_to_give_back() {
            return Err(Stop::Waits(wait));
        }
        std::thread::sleep(wait);
        clock.give_back(wait);
    }
}

/// What the bridge says is pending (`status()`); `None` if it cannot say (a limit was hit).
pub(super) fn pending<'js>(bridge: &Object<'js>) -> Option<Pending> {
    let status: Object = bridge.get::<_, Function>("status").ok()?.call(()).ok()?;
    let next: Option<f64> = status.get("next").ok()?;
    Some(Pending {
        next_turn_ms: next.map(|ms| ms.ceil() as i64),
        keep_awake: status.get("awake").ok()?,
        tracked: status.get("tracked").ok()?,
        queue_waiting: status.get("queue").ok()?,
    })
}

fn now_ms() -> f64 {
    crate::actor::now_ms() as f64
}

/// Whole milliseconds of a JavaScript time difference, none when it is past.
fn millis(ms: f64) -> u64 {
    if ms > 0.0 { ms.ceil() as u64 } else { 0 }
}

//! Fixture actors that exercise RivetKit's actor API, the same in every runtime: natively here,
//! and in JavaScript as [`PROBE_JS`]. The official clients' tests call both and expect the same.

use std::time::Duration;

use runner_core::actor::{ActionError, Actions, Actor, Ctx};
use serde_json::json;

/// The native probe: `whoami` answers `{name, key}`, `refuse` fails with a `UserError` that
/// carries metadata, `later`/`pending`/`scheduled`/`cancel` use the schedule by id.
#[derive(Debug)]
pub struct Probe;

impl Actor for Probe {
    const NAME: &'static str = "probe";
    type State = ();
    type Input = ();

    fn create_state(_: Option<()>) {}

    fn actions(actions: &mut Actions<Self>) {
        actions
            .add("whoami", |ctx: &mut Ctx<'_, Self>, (): ()| {
                Ok(json!({ "name": ctx.name(), "key": ctx.key() }))
            })
            .add("refuse", |_: &mut Ctx<'_, Self>, (limit,): (u32,)| {
                Err::<(), _>(
                    ActionError::user("refused", "too many requests")
                        .with_metadata(&json!({ "reason": "too many", "limit": limit })),
                )
            })
            .add(
                "later",
                |ctx: &mut Ctx<'_, Self>, (ms, tag): (u64, String)| {
                    ctx.schedule_after(Duration::from_millis(ms), "whoami", &(tag,))
                },
            )
            .add("pending", |ctx: &mut Ctx<'_, Self>, (): ()| {
                let events = ctx.schedules()?;
                Ok(events
                    .into_iter()
                    .map(|e| json!({ "id": e.id, "action": e.action, "runAt": e.run_at_ms }))
                    .collect::<Vec<_>>())
            })
            .add("scheduled", |ctx: &mut Ctx<'_, Self>, (id,): (String,)| {
                Ok(ctx.schedule(&id)?.map(|e| e.action))
            })
            .add("cancel", |ctx: &mut Ctx<'_, Self>, (id,): (String,)| {
                ctx.cancel_schedule(&id)
            })
            .add("actorId", |ctx: &mut Ctx<'_, Self>, (): ()| {
                Ok(ctx.actor_id().to_owned())
            })
            .add("selfDestruct", |ctx: &mut Ctx<'_, Self>, (): ()| {
                ctx.destroy();
                Ok(())
            });
    }

    fn on_destroy(ctx: &mut Ctx<'_, Self>) -> Result<(), ActionError> {
        ctx.broadcast("destroyed", &ctx.name().to_owned())
    }
}

/// The JavaScript probe, as a RivetKit author writes it.
pub const PROBE_JS: &str = r#"
export default actor({
  state: { touches: 0, wakes: 0, count: 0 },
  createVars: (c) => ({ calls: 0, madeFor: c.actorId }),
  onWake: (c) => {
    c.state.wakes += 1;
  },
  actions: {
    whoami: (c) => ({ name: c.name, key: c.key }),
    refuse: (c, limit) => {
      throw new UserError("too many requests", {
        code: "refused",
        metadata: { reason: "too many", limit },
      });
    },
    later: async (c, ms, tag) => await c.schedule.after(ms, "whoami", tag),
    pending: async (c) =>
      (await c.schedule.list()).map((e) => ({ id: e.id, action: e.action, runAt: e.runAt })),
    scheduled: async (c, id) => {
      const event = await c.schedule.get(id);
      return event === undefined ? null : event.action;
    },
    cancel: async (c, id) => await c.schedule.cancel(id),
    touch: (c) => {
      c.vars.calls += 1;
      c.state.touches += 1;
      return { calls: c.vars.calls, touches: c.state.touches, wakes: c.state.wakes, mine: c.vars.madeFor === c.actorId };
    },
    nap: (c) => c.sleep(),
    bump: (c, n) => {
      c.state.count += n;
      return c.state.count;
    },
    count: (c) => c.state.count,
    actorId: (c) => c.actorId,
    selfDestruct: (c) => c.destroy(),
  },
  onDestroy: (c) => c.broadcast("destroyed", c.name),
  onStateChange: (c, state) => {
    c.broadcast("changed", state.count);
    if (state.count === 5) state.count = 999; // not allowed: undone, event included
  },
});
"#;

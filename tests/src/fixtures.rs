//! Fixture actors that exercise RivetKit's actor API, the same in every runtime: natively here,
//! and in JavaScript as [`PROBE_JS`]. The official clients' tests call both and expect the same.

use runner_core::actor::{ActionError, Actions, Actor, Ctx};
use serde_json::json;

/// The native probe: `whoami` answers `{name, key}`, `refuse` fails with a `UserError` that
/// carries metadata.
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
            });
    }
}

/// The JavaScript probe, as a RivetKit author writes it.
pub const PROBE_JS: &str = r#"
export default actor({
  state: {},
  actions: {
    whoami: (c) => ({ name: c.name, key: c.key }),
    refuse: (c, limit) => {
      throw new UserError("too many requests", {
        code: "refused",
        metadata: { reason: "too many", limit },
      });
    },
  },
});
"#;

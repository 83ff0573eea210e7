//! An actor defined in this crate: `greet(name)` remembers how many it has greeted.

use runner_core::actor::{ActionError, Actions, Actor, Ctx};

/// Greets, and counts its greetings.
pub(crate) struct Greeter;

impl Actor for Greeter {
    const NAME: &'static str = "greeter";
    type State = u64;
    type Input = ();

    fn create_state(_: Option<()>) -> u64 {
        0
    }

    fn actions(actions: &mut Actions<Self>) {
        actions.add("greet", greet);
    }
}

fn greet(ctx: &mut Ctx<'_, Greeter>, (name,): (String,)) -> Result<String, ActionError> {
    *ctx.state_mut() += 1;
    Ok(format!("hello {name}, you are number {}", ctx.state()))
}

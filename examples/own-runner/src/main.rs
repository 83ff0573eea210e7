//! A runner of one's own: the actors are this crate's choice, everything else is
//! `runner-container`'s (the `RUNNER_*` settings, the server, the drain on SIGTERM).
//! `cargo run -p example-own-runner` serves them like `rivet-runner` does.

mod greeter;

use runner_core::actor::Registry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let registry = Registry::new()
        .with_actor::<example_counter::Counter>()
        .with_actor::<greeter::Greeter>();
    runner_container::run(registry).await?;
    Ok(())
}

//! `rivet-runner`: the container entry point. Run with `cargo run -p runner-container`.
//!
//! It hosts the example counter: the registry is this binary's choice, not the library's, so a
//! crate with its own actors calls [`runner_container::run`] with its own.

use runner_core::actor::Registry;

const USAGE: &str = "usage:
  rivet-runner                      serve /api/rivet (configured by RUNNER_* variables)
  rivet-runner runner-config put --engine URL --url URL --request-lifespan S --drain-grace-period S [...]
  rivet-runner deploy FILE|DIR [--actor NAME] [--namespace NS] [--engine URL] [--url URL --request-lifespan S --drain-grace-period S --pool NAME ...]
  rivet-runner publish-token --namespace NS   print NS's publish token (from RUNNER_PUBLISH_KEY)";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [command, action, rest @ ..] = args.as_slice()
        && command == "runner-config"
        && action == "put"
    {
        let put = runner_container::admin::parse_put(rest, std::env::var("RUNNER_SECRET").ok())?;
        let token = std::env::var("RIVET_TOKEN").ok().filter(|t| !t.is_empty());
        runner_container::admin::put(&put, token.as_deref()).await?;
        eprintln!(
            "runner config `{}` registered in namespace `{}`",
            put.name, put.namespace
        );
        return Ok(());
    }
    #[cfg(any(feature = "wasm", feature = "js"))]
    if let [command, rest @ ..] = args.as_slice()
        && command == "deploy"
    {
        use anyhow::Context as _;

        let deploy =
            runner_container::deploy::parse_deploy(rest, std::env::var("RUNNER_SECRET").ok())?;
        let config =
            runner_container::ContainerConfig::from_env().context("invalid configuration")?;
        let token = std::env::var("RIVET_TOKEN").ok().filter(|t| !t.is_empty());
        let publish = runner_container::deploy::publish_token(
            &deploy.namespace,
            std::env::var("RUNNER_PUBLISH_TOKEN").ok().as_deref(),
            &config,
        )?;
        let details =
            runner_container::deploy::deploy(&deploy, &config, token.as_deref(), publish.as_ref())
                .await?;
        // The one thing meant for stdout: how to connect.
        #[allow(clippy::print_stdout, reason = "the command's output")]
        {
            print!("{details}");
        }
        return Ok(());
    }
    #[cfg(any(feature = "wasm", feature = "js"))]
    if let [command, rest @ ..] = args.as_slice()
        && command == "publish-token"
    {
        let master = std::env::var("RUNNER_PUBLISH_KEY").ok();
        let token = runner_container::deploy::publish_token_command(rest, master.as_deref())?;
        #[allow(clippy::print_stdout, reason = "the command's output")]
        {
            println!("{token}");
        }
        return Ok(());
    }
    if !args.is_empty() {
        anyhow::bail!("{USAGE}");
    }
    let registry = Registry::new().with_actor::<example_counter::Counter>();
    runner_container::run(registry).await?;
    Ok(())
}

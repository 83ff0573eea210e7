//! `rivet-runner`: the container entry point. Run with `cargo run -p runner-container`.

use anyhow::Context as _;
use runner_container::{ContainerConfig, build_runner, serve};
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;

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
        let deploy =
            runner_container::deploy::parse_deploy(rest, std::env::var("RUNNER_SECRET").ok())?;
        let config = ContainerConfig::from_env().context("invalid configuration")?;
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
    let config = ContainerConfig::from_env().context("invalid configuration")?;
    init_tracing(config.json_logs);
    let runner = build_runner(&config)
        .await
        .context("could not start the runner")?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("bind {}", config.listen))?;
    tracing::info!(listen = %config.listen, base_path = %config.runner.base_path, "serving");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(serve(
        listener,
        runner.clone(),
        config.request_timeout,
        stop_rx,
    ));
    wait_for_termination().await?;
    // Keep serving while actors drain: their /start streams must end with `stopping`.
    runner.shutdown(config.shutdown_grace).await;
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), server).await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_termination() -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: draining"),
        result = tokio::signal::ctrl_c() => {
            result.context("install SIGINT handler")?;
            tracing::info!("SIGINT: draining");
        }
    }
    Ok(())
}

fn init_tracing(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

//! `rivet-runner runner-config put …`: registers this runner with an engine, checking the
//! lifespan rules first. Terraform's `runner-config` module runs it; so can a person.
//!
//! Secrets come from the environment, never the command line: `RUNNER_SECRET` (sent in
//! `--secret-header`) and `RIVET_TOKEN` (the engine API token, if the engine has auth).

use std::time::Duration;

use anyhow::{Context as _, bail};
use runner_core::runner_config::{PlatformLimit, ServerlessRunnerConfig};

/// Parsed `runner-config put` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutArgs {
    /// Engine API base URL.
    pub engine: String,
    /// Namespace.
    pub namespace: String,
    /// Runner config (pool) name.
    pub name: String,
    /// Datacenter key in the body.
    pub datacenter: String,
    /// The config itself.
    pub config: ServerlessRunnerConfig,
    /// The platform's limit, if it has one.
    pub platform: Option<PlatformLimit>,
}

/// Parses `put` arguments (after `runner-config put`); `secret` is `RUNNER_SECRET`.
pub fn parse_put(args: &[String], secret: Option<String>) -> anyhow::Result<PutArgs> {
    let mut values = std::collections::HashMap::new();
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        let name = flag
            .strip_prefix("--")
            .with_context(|| format!("unexpected argument `{flag}`"))?;
        let value = iter
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        values.insert(name.to_owned(), value.clone());
    }
    let mut take = |name: &str| values.remove(name);
    let number = |value: Option<String>, name: &str, default: Option<u32>| -> anyhow::Result<u32> {
        match value {
            Some(v) => v
                .parse()
                .with_context(|| format!("--{name} `{v}` is not a number")),
            None => default.with_context(|| format!("--{name} is required")),
        }
    };
    let engine = take("engine").context("--engine is required")?;
    let url = take("url").context("--url is required")?;
    let secret_header = take("secret-header").unwrap_or_else(|| "x-runner-secret".into());
    let secret = secret.context("RUNNER_SECRET must hold the shared secret")?;
    let request_lifespan = number(take("request-lifespan"), "request-lifespan", None)?;
    let drain_grace_period = number(take("drain-grace-period"), "drain-grace-period", None)?;
    let max_concurrent_actors = number(
        take("max-concurrent-actors"),
        "max-concurrent-actors",
        Some(1000),
    )?;
    let platform = match take("platform-timeout") {
        Some(timeout) => Some(PlatformLimit {
            timeout: number(Some(timeout), "platform-timeout", None)?,
            deadline_margin: number(take("deadline-margin"), "deadline-margin", Some(10))?,
        }),
        None => None,
    };
    let parsed = PutArgs {
        engine: engine.trim_end_matches('/').to_owned(),
        namespace: take("namespace").unwrap_or_else(|| "default".into()),
        name: take("name").unwrap_or_else(|| "default".into()),
        datacenter: take("datacenter").unwrap_or_else(|| "default".into()),
        config: ServerlessRunnerConfig {
            url,
            headers: [(secret_header.to_ascii_lowercase(), secret)].into(),
            request_lifespan,
            drain_grace_period,
            max_concurrent_actors,
        },
        platform,
    };
    if let Some(unknown) = values.keys().next() {
        bail!("unknown option --{unknown}");
    }
    parsed.config.check(parsed.platform)?;
    Ok(parsed)
}

/// Upserts the runner config and refreshes the engine's view of the runner's metadata.
pub async fn put(args: &PutArgs, token: Option<&str>) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let base = format!("{}/runner-configs/{}", args.engine, args.name);
    let query = [("namespace", args.namespace.as_str())];
    let body = args.config.body(&args.datacenter);
    let mut last = None;
    for attempt in 0..4 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
        }
        let mut request = client.put(&base).query(&query).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                let mut refresh = client
                    .post(format!("{base}/refresh-metadata"))
                    .query(&query)
                    .json(&serde_json::json!({}));
                if let Some(token) = token {
                    refresh = refresh.bearer_auth(token);
                }
                // Best effort: the engine also polls the metadata on its own.
                let _ = refresh.send().await;
                return Ok(());
            }
            Ok(response) if response.status().is_server_error() => {
                last = Some(format!(
                    "{}: {}",
                    response.status(),
                    response.text().await.unwrap_or_default()
                ));
            }
            Ok(response) => {
                bail!(
                    "the engine refused the runner config: {} {}",
                    response.status(),
                    response.text().await.unwrap_or_default()
                );
            }
            Err(err) => last = Some(err.to_string()),
        }
    }
    bail!(
        "could not reach the engine at {}: {}",
        args.engine,
        last.unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn put_arguments_are_checked_before_any_request() {
        let ok = parse_put(
            &args(&[
                "--engine",
                "https://api.rivet.dev/",
                "--url",
                "https://f.lambda-url.on.aws/api/rivet",
                "--request-lifespan",
                "840",
                "--drain-grace-period",
                "30",
                "--platform-timeout",
                "900",
                "--deadline-margin",
                "10",
            ]),
            Some("s".repeat(32)),
        )
        .unwrap();
        assert_eq!(ok.engine, "https://api.rivet.dev");
        assert_eq!(ok.config.headers["x-runner-secret"].len(), 32);

        let err = parse_put(
            &args(&[
                "--engine",
                "http://e",
                "--url",
                "http://r/api/rivet",
                "--request-lifespan",
                "900",
                "--drain-grace-period",
                "30",
                "--platform-timeout",
                "900",
            ]),
            Some("s".into()),
        )
        .unwrap_err();
        assert!(err.to_string().contains("platform timeout"), "{err}");
        let err = parse_put(&args(&["--engine", "http://e"]), Some("s".into())).unwrap_err();
        assert!(err.to_string().contains("--url"), "{err}");
        let err = parse_put(
            &args(&[
                "--engine",
                "http://e",
                "--url",
                "http://r",
                "--request-lifespan",
                "60",
                "--drain-grace-period",
                "10",
            ]),
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("RUNNER_SECRET"), "{err}");
    }
}

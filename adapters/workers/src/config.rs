//! The Worker's configuration: its vars and secrets (`wrangler.toml` `[vars]`, `wrangler secret
//! put`), read once per isolate. The table is in the README; the names and defaults are the
//! container's, where the setting means the same thing.

use std::time::Duration;

use runner_core::{EnvoySharing, RunnerConfig, StartAccess};

/// Everything the Worker reads from its bindings.
#[derive(Debug, Clone)]
pub(crate) struct WorkerConfig {
    pub(crate) runner: RunnerConfig,
    /// The wall-clock bound the Worker gives each `/start`, if the operator set one: the core
    /// drains the actor before it (`RUNNER_DEADLINE_MARGIN_MS` earlier).
    pub(crate) request_timeout: Option<Duration>,
    /// `tracing` filter directives.
    pub(crate) log_filter: String,
}

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("{name}: `{value}` is not valid: {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("RUNNER_SECRET is required: a Worker's URL is reachable by anyone")]
    MissingSecret,
    #[error(
        "RUNNER_REQUEST_TIMEOUT_MS ({timeout} ms) must be longer than RUNNER_DEADLINE_MARGIN_MS ({margin} ms)"
    )]
    TimeoutInsideMargin { timeout: u128, margin: u128 },
}

impl WorkerConfig {
    /// Reads the settings through `lookup` (the Worker's env in production, a map in tests).
    pub(crate) fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let secret = var("RUNNER_SECRET").ok_or(ConfigError::MissingSecret)?;
        let mut access = StartAccess::new("", Some(secret));
        access.endpoints = list(var("RUNNER_ENGINE_ENDPOINTS"), "http://127.0.0.1:6420");
        access.namespaces = list(var("RUNNER_NAMESPACES"), "");
        access.pools = list(var("RUNNER_POOLS"), "");
        if let Some(header) = var("RUNNER_SECRET_HEADER") {
            access.secret_header = header.to_ascii_lowercase();
        }
        // No filesystem: the path only names the actor's files inside SQLite's in-memory VFS.
        let mut runner = RunnerConfig::new(access, "/actors");
        // A socket belongs to the request that opened it, so each /start needs its own.
        runner.envoy_sharing = EnvoySharing::PerStart;
        if let Some(base) = var("RUNNER_BASE_PATH") {
            if !base.starts_with('/') {
                return Err(invalid(
                    "RUNNER_BASE_PATH",
                    &base,
                    "a path starting with `/`",
                ));
            }
            runner.base_path = base.trim_end_matches('/').to_owned();
        }
        runner.deploy_version = number(var("RUNNER_DEPLOY_VERSION"), "RUNNER_DEPLOY_VERSION", 1)?;
        runner.idle_sleep = millis(var("RUNNER_IDLE_SLEEP_MS"), "RUNNER_IDLE_SLEEP_MS", 30_000)?;
        runner.max_start_body_bytes = number(
            var("RUNNER_MAX_START_BODY_BYTES"),
            "RUNNER_MAX_START_BODY_BYTES",
            1 << 20,
        )?;
        runner.engine_connect_timeout = millis(
            var("RUNNER_ENGINE_CONNECT_TIMEOUT_MS"),
            "RUNNER_ENGINE_CONNECT_TIMEOUT_MS",
            10_000,
        )?;
        runner.deadline_margin = millis(
            var("RUNNER_DEADLINE_MARGIN_MS"),
            "RUNNER_DEADLINE_MARGIN_MS",
            5_000,
        )?;
        let request_timeout = var("RUNNER_REQUEST_TIMEOUT_MS")
            .map(|v| millis(Some(v), "RUNNER_REQUEST_TIMEOUT_MS", 0))
            .transpose()?;
        if let Some(timeout) = request_timeout
            && timeout <= runner.deadline_margin
        {
            return Err(ConfigError::TimeoutInsideMargin {
                timeout: timeout.as_millis(),
                margin: runner.deadline_margin.as_millis(),
            });
        }
        Ok(Self {
            runner,
            request_timeout,
            log_filter: var("RUNNER_LOG").unwrap_or_else(|| "info".to_owned()),
        })
    }
}

fn list(value: Option<String>, default: &str) -> Vec<String> {
    value
        .as_deref()
        .unwrap_or(default)
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn number<T: std::str::FromStr>(
    value: Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(value) => value
            .trim()
            .parse()
            .map_err(|_| invalid(name, &value, "a non-negative integer")),
    }
}

fn millis(
    value: Option<String>,
    name: &'static str,
    default: u64,
) -> Result<Duration, ConfigError> {
    number(value, name, default).map(Duration::from_millis)
}

fn invalid(name: &'static str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::Invalid {
        name,
        value: value.to_owned(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<WorkerConfig, ConfigError> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        WorkerConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn a_secret_is_required() {
        assert!(matches!(config(&[]), Err(ConfigError::MissingSecret)));
    }

    #[test]
    fn defaults_and_overrides() {
        let c = config(&[("RUNNER_SECRET", "s"), ("RUNNER_IDLE_SLEEP_MS", "3000")]).unwrap();
        assert_eq!(c.runner.envoy_sharing, EnvoySharing::PerStart);
        assert_eq!(c.runner.idle_sleep, Duration::from_secs(3));
        assert_eq!(c.runner.access.endpoints, ["http://127.0.0.1:6420"]);
        assert!(c.request_timeout.is_none());
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = config(&[("RUNNER_SECRET", "s"), ("RUNNER_IDLE_SLEEP_MS", "soon")]).unwrap_err();
        assert!(err.to_string().contains("RUNNER_IDLE_SLEEP_MS"), "{err}");
        let err = config(&[
            ("RUNNER_SECRET", "s"),
            ("RUNNER_REQUEST_TIMEOUT_MS", "1000"),
        ])
        .unwrap_err();
        assert!(matches!(err, ConfigError::TimeoutInsideMargin { .. }));
    }
}

//! The Worker's configuration: its vars and secrets (`wrangler.toml` `[vars]`, `wrangler secret
//! put`), read once per isolate. The settings are the core's shared `RUNNER_*` table
//! ([`CoreSettings`]), so each means what it means in the container; the README lists them.

use std::time::Duration;

use runner_core::config::settings::{CoreSettings, SettingError};
use runner_core::{EnvoySharing, RunnerConfig};

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
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error("RUNNER_SECRET is required: a Worker's URL is reachable by anyone")]
    MissingSecret,
}

impl WorkerConfig {
    /// Reads the settings through `lookup` (the Worker's env in production, a map in tests).
    pub(crate) fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        // No filesystem: the path only names the actor's files inside SQLite's in-memory VFS.
        let CoreSettings {
            mut runner,
            request_timeout,
        } = CoreSettings::from_lookup(&lookup, "/actors".into())?;
        if runner.access.secret.is_none() {
            return Err(ConfigError::MissingSecret);
        }
        // A socket belongs to the request that opened it, so each /start needs its own.
        runner.envoy_sharing = EnvoySharing::PerStart;
        let log_filter = lookup("RUNNER_LOG")
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| "info".to_owned());
        Ok(Self {
            runner,
            request_timeout,
            log_filter,
        })
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
        assert!(
            err.to_string().contains("RUNNER_DEADLINE_MARGIN_MS"),
            "{err}"
        );
    }
}

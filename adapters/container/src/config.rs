//! Container configuration from `RUNNER_*` environment variables: the container's own
//! (listener, shutdown grace, log format) and the core's shared [`Settings`]. Every variable, its
//! default and its meaning is in this crate's README; every bad value is a startup error that
//! names it.

use std::net::SocketAddr;
use std::time::Duration;

use runner_core::Settings;
use runner_core::assembly::Defaults;
use runner_core::config::settings::{invalid, millis, parse};

/// A configuration value that could not be used (the core's settings error: the shared
/// settings and the container's own fail the same way).
pub use runner_core::config::settings::SettingError as ConfigError;

/// Everything the container binary needs.
#[derive(Debug, Clone)]
pub struct ContainerConfig {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// How long SIGTERM waits for actors to drain and persist before exiting.
    pub shutdown_grace: Duration,
    /// Log as JSON lines instead of text.
    pub json_logs: bool,
    /// The shared settings: the core's configuration, the per-request timeout, the object
    /// store, persistence and the sandboxed actors.
    pub settings: Settings,
}

impl ContainerConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup`, so tests never touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let listen: SocketAddr = parse(var("RUNNER_LISTEN"), "RUNNER_LISTEN", "127.0.0.1:8088")?;
        let settings = Settings::from_lookup(var, Defaults::default())?;
        if settings.runner.access.secret.is_none() && !listen.ip().is_loopback() {
            return Err(ConfigError::Unsafe(format!(
                "RUNNER_SECRET is required when listening on {listen}: without it anyone who can reach /start can make the runner serve actor data"
            )));
        }
        let shutdown_grace = millis(
            var("RUNNER_SHUTDOWN_GRACE_MS"),
            "RUNNER_SHUTDOWN_GRACE_MS",
            25_000,
        )?;
        let json_logs = match var("RUNNER_LOG_FORMAT").as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                return Err(invalid(
                    "RUNNER_LOG_FORMAT",
                    other,
                    "expected `text` or `json`",
                ));
            }
        };
        Ok(Self {
            listen,
            shutdown_grace,
            json_logs,
            settings,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<ContainerConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ContainerConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_are_a_loopback_demo() {
        let config = config(&[]).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8088");
        assert_eq!(config.settings.runner.base_path, "/api/rivet");
    }

    #[test]
    fn values_are_parsed() {
        let config = config(&[
            ("RUNNER_LISTEN", "0.0.0.0:9000"),
            ("RUNNER_SECRET", "s"),
            ("RUNNER_IDLE_SLEEP_MS", "1500"),
            ("RUNNER_LOG_FORMAT", "json"),
        ])
        .unwrap();
        assert_eq!(config.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(
            config.settings.runner.idle_sleep,
            Duration::from_millis(1500)
        );
        assert!(config.json_logs);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = config(&[("RUNNER_IDLE_SLEEP_MS", "soon")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("RUNNER_IDLE_SLEEP_MS"), "{err}");
        let err = config(&[("RUNNER_LISTEN", "nowhere")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("RUNNER_LISTEN"), "{err}");
        let err = config(&[("RUNNER_LOG_FORMAT", "xml")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("RUNNER_LOG_FORMAT"), "{err}");
    }

    #[test]
    fn a_public_listener_needs_a_secret() {
        let err = config(&[("RUNNER_LISTEN", "0.0.0.0:8088")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("RUNNER_SECRET"), "{err}");
    }
}

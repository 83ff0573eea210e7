//! The Worker's configuration: its vars and secrets (`wrangler.toml` `[vars]`, `wrangler secret
//! put`), read once per isolate. The settings are the core's shared `RUNNER_*` table
//! ([`CoreSettings`]), so each means what it means in the container; the README lists them.

use std::time::Duration;

use runner_core::config::settings::{self, CoreSettings, SettingError, invalid};
use runner_core::object_store::S3Config;
use runner_core::persist::{PersistOptions, RequestBudget};
use runner_core::{EnvoySharing, RunnerConfig};

/// Subrequests one `/start` may spend on the bucket unless `RUNNER_STORE_REQUEST_BUDGET` says
/// otherwise: the lowest paid-plan limit on record (1,000 per request; 10,000 on current paid
/// plans, 50 on the Free plan).
const DEFAULT_REQUEST_BUDGET: RequestBudget = RequestBudget { requests: 1000 };

/// Everything the Worker reads from its bindings.
#[derive(Debug, Clone)]
pub(crate) struct WorkerConfig {
    pub(crate) runner: RunnerConfig,
    /// The wall-clock bound the Worker gives each `/start`, if the operator set one: the core
    /// drains the actor before it (`RUNNER_DEADLINE_MARGIN_MS` earlier).
    pub(crate) request_timeout: Option<Duration>,
    /// `tracing` filter directives.
    pub(crate) log_filter: String,
    /// Where actor data is persisted between invocations; `None` (`RUNNER_OBJECT_STORE=none`)
    /// keeps it only while the actor runs.
    pub(crate) store: Option<S3Config>,
    /// Key prefix for actor data in the bucket.
    pub(crate) store_prefix: String,
    /// When writes reach the bucket.
    pub(crate) persist: PersistOptions,
}

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error("RUNNER_SECRET is required: a Worker's URL is reachable by anyone")]
    MissingSecret,
    #[error(
        "the S3 store needs RUNNER_S3_ACCESS_KEY_ID and RUNNER_S3_SECRET_ACCESS_KEY on Workers (there is no credential chain)"
    )]
    MissingS3Keys,
    #[error(transparent)]
    S3(#[from] runner_core::object_store::HttpS3ConfigError),
}

impl WorkerConfig {
    /// Reads the settings through `lookup` (the Worker's env in production, a map in tests).
    pub(crate) fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        // No filesystem: the path only names the actor's files on the in-memory disk.
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
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let store = match var("RUNNER_OBJECT_STORE").as_deref() {
            None | Some("s3") => {
                let s3 = settings::s3_config(&lookup)?;
                if s3.credentials.is_none() {
                    return Err(ConfigError::MissingS3Keys);
                }
                Some(s3)
            }
            Some("none") => None,
            Some(other) => {
                return Err(
                    invalid("RUNNER_OBJECT_STORE", other, "expected `s3` or `none`").into(),
                );
            }
        };
        let mut persist = settings::persist_options(&lookup)?;
        // Each fetch to the bucket is a subrequest, capped per request by the plan.
        persist.request_budget.get_or_insert(DEFAULT_REQUEST_BUDGET);
        Ok(Self {
            runner,
            request_timeout,
            log_filter,
            store,
            store_prefix: var("RUNNER_STORE_PREFIX").unwrap_or_else(|| "actors".to_owned()),
            persist,
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

    const BUCKET: [(&str, &str); 4] = [
        ("RUNNER_SECRET", "s"),
        ("RUNNER_S3_BUCKET", "actors"),
        ("RUNNER_S3_ACCESS_KEY_ID", "id"),
        ("RUNNER_S3_SECRET_ACCESS_KEY", "key"),
    ];

    #[test]
    fn the_bucket_is_required_unless_opted_out() {
        let err = config(&[("RUNNER_SECRET", "s")]).unwrap_err();
        assert!(err.to_string().contains("RUNNER_S3_BUCKET"), "{err}");
        let err = config(&[("RUNNER_SECRET", "s"), ("RUNNER_S3_BUCKET", "b")]).unwrap_err();
        assert!(matches!(err, ConfigError::MissingS3Keys), "{err}");
        let c = config(&BUCKET).unwrap();
        let s3 = c.store.expect("s3 by default");
        assert_eq!(
            (s3.bucket.as_str(), s3.region.as_str()),
            ("actors", "us-east-1")
        );
        assert!(!s3.force_path_style, "AWS: virtual-hosted addressing");
        assert_eq!(c.store_prefix, "actors");
        assert_eq!(c.persist.request_budget, Some(DEFAULT_REQUEST_BUDGET));
        let mut free_plan = BUCKET.to_vec();
        free_plan.push(("RUNNER_STORE_REQUEST_BUDGET", "50"));
        let c = config(&free_plan).unwrap();
        assert_eq!(
            c.persist.request_budget,
            Some(RequestBudget { requests: 50 })
        );
        let c = config(&[("RUNNER_SECRET", "s"), ("RUNNER_OBJECT_STORE", "none")]).unwrap();
        assert!(c.store.is_none());
        let err = config(&[("RUNNER_SECRET", "s"), ("RUNNER_OBJECT_STORE", "local")]).unwrap_err();
        assert!(err.to_string().contains("RUNNER_OBJECT_STORE"), "{err}");
    }

    #[test]
    fn defaults_and_overrides() {
        let mut pairs = BUCKET.to_vec();
        pairs.push(("RUNNER_IDLE_SLEEP_MS", "3000"));
        let c = config(&pairs).unwrap();
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

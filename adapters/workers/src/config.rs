//! The Worker's configuration: its vars and secrets (`wrangler.toml` `[vars]`, `wrangler secret
//! put`), read once per isolate. The settings are the core's shared `RUNNER_*` table
//! ([`Settings`]), so each means what it means in the container; the README lists them. The
//! Worker's defaults differ: S3 by default (there is no local directory store), static keys
//! required, and a request budget.

use runner_core::EnvoySharing;
use runner_core::Settings;
use runner_core::assembly::{Defaults, StoreKind, StoreSettings};
use runner_core::config::settings::SettingError;
use runner_core::persist::RequestBudget;

/// Subrequests one `/start` may spend on the bucket unless `RUNNER_STORE_REQUEST_BUDGET` says
/// otherwise: the lowest paid-plan limit on record (1,000 per request; 10,000 on current paid
/// plans, 50 on the Free plan).
const DEFAULT_REQUEST_BUDGET: RequestBudget = RequestBudget { requests: 1000 };

/// No filesystem: the path only names the actor's files on the in-memory disk.
const DATA_DIR: &str = "/actors";

/// Everything the Worker reads from its bindings.
#[derive(Debug, Clone)]
pub(crate) struct WorkerConfig {
    /// The shared settings. `settings.request_timeout` is the wall-clock bound the Worker gives
    /// each `/start`, if the operator set one: the core drains the actor before it
    /// (`RUNNER_DEADLINE_MARGIN_MS` earlier). `settings.store` is S3, or `None`
    /// (`RUNNER_OBJECT_STORE=none`), which keeps actor data only while the actor runs.
    pub(crate) settings: Settings,
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
    #[error(
        "the S3 store needs RUNNER_S3_ACCESS_KEY_ID and RUNNER_S3_SECRET_ACCESS_KEY on Workers (there is no credential chain)"
    )]
    MissingS3Keys,
    /// The runner could not be built from valid settings (the S3 store refused its endpoint,
    /// a sandboxed actor was configured in a build without sandboxes).
    #[error(transparent)]
    Build(#[from] runner_core::assembly::BuildError),
}

impl WorkerConfig {
    /// Reads the settings through `lookup` (the Worker's env in production, a map in tests).
    pub(crate) fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        // Before the other settings: without the secret nothing else matters.
        if var("RUNNER_SECRET").is_none() {
            return Err(ConfigError::MissingSecret);
        }
        let defaults = Defaults {
            data_dir: DATA_DIR.into(),
            store: StoreKind::S3,
            local_store_dir: None,
            ..Defaults::default()
        };
        let mut settings = Settings::from_lookup(var, defaults)?;
        // The disk is memory: RUNNER_DATA_DIR has nothing to choose.
        settings.runner.data_dir = DATA_DIR.into();
        // A socket belongs to the request that opened it, so each /start needs its own.
        settings.runner.envoy_sharing = EnvoySharing::PerStart;
        if let StoreSettings::S3(s3) = &settings.store
            && s3.credentials.is_none()
        {
            return Err(ConfigError::MissingS3Keys);
        }
        // Each fetch to the bucket is a subrequest, capped per request by the plan.
        settings
            .persist
            .request_budget
            .get_or_insert(DEFAULT_REQUEST_BUDGET);
        Ok(Self {
            settings,
            log_filter: var("RUNNER_LOG").unwrap_or_else(|| "info".to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
        let StoreSettings::S3(s3) = c.settings.store else {
            panic!("s3 by default")
        };
        assert_eq!(
            (s3.bucket.as_str(), s3.region.as_str()),
            ("actors", "us-east-1")
        );
        assert!(!s3.force_path_style, "AWS: virtual-hosted addressing");
        assert_eq!(c.settings.store_prefix, "actors");
        assert_eq!(
            c.settings.persist.request_budget,
            Some(DEFAULT_REQUEST_BUDGET)
        );
        let mut free_plan = BUCKET.to_vec();
        free_plan.push(("RUNNER_STORE_REQUEST_BUDGET", "50"));
        let c = config(&free_plan).unwrap();
        assert_eq!(
            c.settings.persist.request_budget,
            Some(RequestBudget { requests: 50 })
        );
        let c = config(&[("RUNNER_SECRET", "s"), ("RUNNER_OBJECT_STORE", "none")]).unwrap();
        assert!(matches!(c.settings.store, StoreSettings::None));
        let err = config(&[("RUNNER_SECRET", "s"), ("RUNNER_OBJECT_STORE", "local")]).unwrap_err();
        assert!(err.to_string().contains("RUNNER_OBJECT_STORE"), "{err}");
    }

    #[test]
    fn defaults_and_overrides() {
        let mut pairs = BUCKET.to_vec();
        pairs.push(("RUNNER_IDLE_SLEEP_MS", "3000"));
        let c = config(&pairs).unwrap();
        assert_eq!(c.settings.runner.envoy_sharing, EnvoySharing::PerStart);
        assert_eq!(c.settings.runner.idle_sleep, Duration::from_secs(3));
        assert_eq!(
            c.settings.runner.access.endpoints,
            ["http://127.0.0.1:6420"]
        );
        assert!(c.settings.request_timeout.is_none());
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

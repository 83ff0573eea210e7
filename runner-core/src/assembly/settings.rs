//! [`Settings`]: every platform-neutral `RUNNER_*` setting, parsed through the adapter's lookup
//! with the adapter's [`Defaults`]. Each variable, its default and its meaning is in the
//! container's README; every bad value is an error that names it.

use std::path::PathBuf;
use std::time::Duration;

use super::sandbox_settings::{self, SandboxSettings};
use crate::RunnerConfig;
use crate::config::settings::{self, CoreSettings, SettingError, invalid};
use crate::object_store::S3Config;
use crate::persist::PersistOptions;

/// What an adapter needs from the shared settings to build its runner.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The core's configuration; `access.secret` is `None` when `RUNNER_SECRET` is unset, and
    /// each adapter decides whether that is allowed.
    pub runner: RunnerConfig,
    /// The platform's per-request timeout (Cloud Run's request timeout, a load balancer's idle
    /// limit). When set, each request gets a deadline and the core drains actors before it.
    pub request_timeout: Option<Duration>,
    /// Where actor data is persisted between invocations.
    pub store: StoreSettings,
    /// Key prefix for actor data in the store.
    pub store_prefix: String,
    /// Durability mode and compaction threshold.
    pub persist: PersistOptions,
    /// Sandboxed actors the operator deploys, and their limits.
    pub sandbox: SandboxSettings,
}

/// The object store actor data is persisted to.
#[derive(Debug, Clone)]
pub enum StoreSettings {
    /// Local disk only (no object store).
    None,
    /// A directory: the embedded default.
    Local(PathBuf),
    /// An S3 bucket (or S3-compatible server).
    S3(S3Config),
}

/// The kinds of store `RUNNER_OBJECT_STORE` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// `none`.
    None,
    /// `local`.
    Local,
    /// `s3`.
    S3,
}

/// What an unset setting means on the adapter's platform.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// Where actor data lives while actors run, unless `RUNNER_DATA_DIR` says otherwise.
    pub data_dir: PathBuf,
    /// The store an unset `RUNNER_OBJECT_STORE` means.
    pub store: StoreKind,
    /// The directory of a `local` store unless `RUNNER_OBJECT_STORE_DIR` says otherwise; `None`
    /// where there is no filesystem to keep one in (a Worker), so `local` is refused.
    pub local_store_dir: Option<PathBuf>,
    /// Where compiled components are kept unless `RUNNER_COMPONENT_CACHE_DIR` says otherwise.
    pub component_cache_dir: PathBuf,
}

impl Default for Defaults {
    /// A process with a working directory (the container, Lambda): everything under
    /// `.rivet-runner/`, persisted to a local directory.
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(".rivet-runner/data"),
            store: StoreKind::Local,
            local_store_dir: Some(PathBuf::from(".rivet-runner/objects")),
            component_cache_dir: PathBuf::from(".rivet-runner/component-cache"),
        }
    }
}

impl Settings {
    /// Reads the settings through `lookup` (the process environment, a Worker's bindings, a map
    /// in tests); an empty value counts as unset.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        defaults: Defaults,
    ) -> Result<Self, SettingError> {
        let Defaults {
            data_dir,
            store,
            local_store_dir,
            component_cache_dir,
        } = defaults;
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let data_dir = var("RUNNER_DATA_DIR").map_or(data_dir, PathBuf::from);
        let CoreSettings {
            runner,
            request_timeout,
        } = CoreSettings::from_lookup(&var, data_dir)?;
        let store = store_settings(&var, store, local_store_dir)?;
        let store_prefix = var("RUNNER_STORE_PREFIX").unwrap_or_else(|| "actors".to_owned());
        let persist = settings::persist_options(&var)?;
        let sandbox = sandbox_settings::from_lookup(&var, component_cache_dir)?;
        Ok(Self {
            runner,
            request_timeout,
            store,
            store_prefix,
            persist,
            sandbox,
        })
    }
}

fn store_settings(
    var: &impl Fn(&str) -> Option<String>,
    default: StoreKind,
    local_dir: Option<PathBuf>,
) -> Result<StoreSettings, SettingError> {
    // The message lists only the stores this platform has.
    let expected = if local_dir.is_some() {
        "expected `local`, `s3` or `none`"
    } else {
        "expected `s3` or `none`"
    };
    let named = var("RUNNER_OBJECT_STORE");
    let kind = match named.as_deref() {
        None => default,
        Some("local") => StoreKind::Local,
        Some("none") => StoreKind::None,
        Some("s3") => StoreKind::S3,
        Some(other) => return Err(invalid("RUNNER_OBJECT_STORE", other, expected)),
    };
    match kind {
        StoreKind::None => Ok(StoreSettings::None),
        StoreKind::S3 => Ok(StoreSettings::S3(settings::s3_config(var)?)),
        StoreKind::Local => match (var("RUNNER_OBJECT_STORE_DIR"), local_dir) {
            (Some(dir), Some(_)) => Ok(StoreSettings::Local(PathBuf::from(dir))),
            (None, Some(dir)) => Ok(StoreSettings::Local(dir)),
            (_, None) => Err(invalid(
                "RUNNER_OBJECT_STORE",
                named.as_deref().unwrap_or("local"),
                expected,
            )),
        },
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::persist::DurabilityMode;

    /// The settings `pairs` name, with the default platform.
    pub(crate) fn config(pairs: &[(&str, &str)]) -> Result<Settings, SettingError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned(), Defaults::default())
    }

    fn config_err(pairs: &[(&str, &str)]) -> String {
        config(pairs).unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_a_loopback_demo() {
        let config = config(&[]).unwrap();
        assert_eq!(config.runner.base_path, "/api/rivet");
        assert_eq!(
            config.runner.access.endpoints,
            vec!["http://127.0.0.1:6420"]
        );
        assert!(config.runner.access.namespaces.is_empty());
        assert_eq!(config.runner.idle_sleep, Duration::from_secs(30));
    }

    #[test]
    fn values_are_parsed() {
        let config = config(&[
            ("RUNNER_SECRET", "s"),
            (
                "RUNNER_ENGINE_ENDPOINTS",
                "https://a.example, https://b.example",
            ),
            ("RUNNER_NAMESPACES", "prod"),
            ("RUNNER_IDLE_SLEEP_MS", "1500"),
            ("RUNNER_BASE_PATH", "/rivet/"),
        ])
        .unwrap();
        assert_eq!(config.runner.access.endpoints.len(), 2);
        assert_eq!(config.runner.access.namespaces, vec!["prod"]);
        assert_eq!(config.runner.idle_sleep, Duration::from_millis(1500));
        assert_eq!(config.runner.base_path, "/rivet");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = config(&[("RUNNER_IDLE_SLEEP_MS", "soon")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("RUNNER_IDLE_SLEEP_MS"), "{err}");
    }

    #[test]
    fn request_timeout_must_exceed_the_margin() {
        let config = config(&[("RUNNER_REQUEST_TIMEOUT_MS", "60000")]).unwrap();
        assert_eq!(config.request_timeout, Some(Duration::from_secs(60)));
        let err = config_err(&[("RUNNER_REQUEST_TIMEOUT_MS", "4000")]);
        assert!(err.contains("RUNNER_DEADLINE_MARGIN_MS"), "{err}");
    }

    #[test]
    fn durability_defaults_to_strict_and_interval_takes_a_period() {
        assert_eq!(config(&[]).unwrap().persist.mode, DurabilityMode::Strict);
        let interval = config(&[
            ("RUNNER_DURABILITY", "interval"),
            ("RUNNER_SHIP_INTERVAL_MS", "250"),
        ])
        .unwrap();
        assert_eq!(
            interval.persist.mode,
            DurabilityMode::Interval(Duration::from_millis(250))
        );
        let err = config_err(&[("RUNNER_DURABILITY", "eventually")]);
        assert!(err.contains("RUNNER_DURABILITY"), "{err}");
        let err = config_err(&[
            ("RUNNER_DURABILITY", "interval"),
            ("RUNNER_SHIP_INTERVAL_MS", "0"),
        ]);
        assert!(err.contains("RUNNER_SHIP_INTERVAL_MS"), "{err}");
    }

    #[test]
    fn object_store_choices() {
        assert!(matches!(
            config(&[]).unwrap().store,
            StoreSettings::Local(_)
        ));
        assert!(matches!(
            config(&[("RUNNER_OBJECT_STORE", "none")]).unwrap().store,
            StoreSettings::None
        ));
        let err = config_err(&[("RUNNER_OBJECT_STORE", "s3")]);
        assert!(err.contains("RUNNER_S3_BUCKET"), "{err}");
        let s3 = config(&[
            ("RUNNER_OBJECT_STORE", "s3"),
            ("RUNNER_S3_BUCKET", "b"),
            ("RUNNER_S3_ENDPOINT", "http://127.0.0.1:8333"),
        ])
        .unwrap();
        let StoreSettings::S3(s3) = s3.store else {
            panic!("expected s3")
        };
        assert!(
            s3.force_path_style,
            "a custom endpoint defaults to path-style"
        );
        assert_eq!(s3.region, "us-east-1");
        let err = config_err(&[("RUNNER_OBJECT_STORE", "ftp")]);
        assert!(err.contains("RUNNER_OBJECT_STORE"), "{err}");
    }
}

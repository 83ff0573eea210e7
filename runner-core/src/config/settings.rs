//! The `RUNNER_*` settings every adapter shares, parsed from whatever the platform keeps them in
//! (a process's environment, a Worker's vars and secrets) through a lookup function. Adapters do
//! the reading; this module only parses, so one setting means the same on every platform.

use std::path::PathBuf;
use std::time::Duration;

use super::{RunnerConfig, StartAccess};
use crate::object_store::{S3Config, StaticCredentials};
use crate::persist::{DurabilityMode, PersistOptions, RequestBudget};

/// A setting that could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingError {
    /// The value does not parse.
    #[error("{name}={value:?} is not valid: {reason}")]
    Invalid {
        /// Variable name.
        name: &'static str,
        /// The value given.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// A combination of values is unsafe.
    #[error("{0}")]
    Unsafe(String),
}

/// The core's settings: the runner configuration, and the per-request bound the adapter gives
/// each request (`RUNNER_REQUEST_TIMEOUT_MS`), if any.
#[derive(Debug, Clone)]
pub struct CoreSettings {
    /// Everything [`crate::Runner`] needs; `access.secret` is `None` when `RUNNER_SECRET` is
    /// unset, and each adapter decides whether that is allowed.
    pub runner: RunnerConfig,
    /// The deadline an adapter sets on each request, longer than `runner.deadline_margin`.
    pub request_timeout: Option<Duration>,
}

impl CoreSettings {
    /// Parses the shared settings; an empty value counts as unset. Actor data goes under
    /// `data_dir`, which each adapter chooses.
    pub fn from_lookup(
        lookup: &impl Fn(&str) -> Option<String>,
        data_dir: PathBuf,
    ) -> Result<Self, SettingError> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut access = StartAccess::new("", var("RUNNER_SECRET"));
        access.endpoints = list(var("RUNNER_ENGINE_ENDPOINTS"), "http://127.0.0.1:6420");
        access.namespaces = list(var("RUNNER_NAMESPACES"), "");
        access.pools = list(var("RUNNER_POOLS"), "");
        if let Some(header) = var("RUNNER_SECRET_HEADER") {
            access.secret_header = header.to_ascii_lowercase();
        }
        let mut runner = RunnerConfig::new(access, data_dir);
        if let Some(base) = var("RUNNER_BASE_PATH") {
            if !base.starts_with('/') {
                return Err(invalid("RUNNER_BASE_PATH", &base, "must start with `/`"));
            }
            runner.base_path = base.trim_end_matches('/').to_owned();
        }
        runner.deploy_version = parse(var("RUNNER_DEPLOY_VERSION"), "RUNNER_DEPLOY_VERSION", "1")?;
        runner.idle_sleep = millis(var("RUNNER_IDLE_SLEEP_MS"), "RUNNER_IDLE_SLEEP_MS", 30_000)?;
        runner.action_timeout = millis(
            var("RUNNER_ACTION_TIMEOUT_MS"),
            "RUNNER_ACTION_TIMEOUT_MS",
            60_000,
        )?;
        let max_db_mb: u64 = parse(
            var("RUNNER_ACTOR_MAX_DB_MB"),
            "RUNNER_ACTOR_MAX_DB_MB",
            "1024",
        )?;
        runner.actor_max_db_bytes = max_db_mb.saturating_mul(1 << 20);
        runner.max_start_body_bytes = parse(
            var("RUNNER_MAX_START_BODY_BYTES"),
            "RUNNER_MAX_START_BODY_BYTES",
            "1048576",
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
            return Err(SettingError::Unsafe(format!(
                "RUNNER_REQUEST_TIMEOUT_MS ({} ms) must be longer than RUNNER_DEADLINE_MARGIN_MS ({} ms)",
                timeout.as_millis(),
                runner.deadline_margin.as_millis()
            )));
        }
        Ok(Self {
            runner,
            request_timeout,
        })
    }
}

/// `value` (or `default`) parsed as `T`; an error names the variable.
pub fn parse<T: std::str::FromStr>(
    value: Option<String>,
    name: &'static str,
    default: &str,
) -> Result<T, SettingError>
where
    T::Err: std::fmt::Display,
{
    let value = value.unwrap_or_else(|| default.to_owned());
    value
        .trim()
        .parse()
        .map_err(|err: T::Err| invalid(name, &value, &err.to_string()))
}

/// Milliseconds as a [`Duration`].
pub fn millis(
    value: Option<String>,
    name: &'static str,
    default: u64,
) -> Result<Duration, SettingError> {
    parse::<u64>(value, name, &default.to_string()).map(Duration::from_millis)
}

/// A comma-separated list, blanks dropped.
pub fn list(value: Option<String>, default: &str) -> Vec<String> {
    value
        .as_deref()
        .unwrap_or(default)
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// [`SettingError::Invalid`] for `name`.
pub fn invalid(name: &'static str, value: &str, reason: &str) -> SettingError {
    SettingError::Invalid {
        name,
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

/// The S3 bucket settings (`RUNNER_S3_*`). `RUNNER_S3_BUCKET` is required; without
/// `RUNNER_S3_ACCESS_KEY_ID` and `RUNNER_S3_SECRET_ACCESS_KEY` the credentials are left to the
/// platform (the AWS default chain, where there is one).
pub fn s3_config(lookup: &impl Fn(&str) -> Option<String>) -> Result<S3Config, SettingError> {
    let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let bucket = var("RUNNER_S3_BUCKET").ok_or_else(|| {
        SettingError::Unsafe("the S3 object store needs RUNNER_S3_BUCKET".to_owned())
    })?;
    let endpoint = var("RUNNER_S3_ENDPOINT");
    let path_style_default = if endpoint.is_some() { "true" } else { "false" };
    let credentials = match (
        var("RUNNER_S3_ACCESS_KEY_ID"),
        var("RUNNER_S3_SECRET_ACCESS_KEY"),
    ) {
        (Some(access_key_id), Some(secret_access_key)) => Some(StaticCredentials {
            access_key_id,
            secret_access_key,
            session_token: None,
        }),
        (None, None) => None,
        _ => {
            return Err(SettingError::Unsafe(
                "set both RUNNER_S3_ACCESS_KEY_ID and RUNNER_S3_SECRET_ACCESS_KEY, or neither"
                    .to_owned(),
            ));
        }
    };
    Ok(S3Config {
        bucket,
        region: var("RUNNER_S3_REGION")
            .or_else(|| var("AWS_REGION"))
            .unwrap_or_else(|| "us-east-1".to_owned()),
        force_path_style: parse(
            var("RUNNER_S3_FORCE_PATH_STYLE"),
            "RUNNER_S3_FORCE_PATH_STYLE",
            path_style_default,
        )?,
        endpoint,
        credentials,
        max_attempts: parse(var("RUNNER_S3_MAX_ATTEMPTS"), "RUNNER_S3_MAX_ATTEMPTS", "5")?,
    })
}

/// How actors are persisted (`RUNNER_DURABILITY`, `RUNNER_SHIP_INTERVAL_MS`,
/// `RUNNER_COMPACT_MIN_WAL_BYTES`, `RUNNER_STORE_REQUEST_BUDGET`).
pub fn persist_options(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<PersistOptions, SettingError> {
    let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let mode = match var("RUNNER_DURABILITY").as_deref() {
        None | Some("strict") => DurabilityMode::Strict,
        Some("interval") => {
            let every = millis(
                var("RUNNER_SHIP_INTERVAL_MS"),
                "RUNNER_SHIP_INTERVAL_MS",
                1_000,
            )?;
            if every.is_zero() {
                return Err(invalid(
                    "RUNNER_SHIP_INTERVAL_MS",
                    "0",
                    "must be at least 1",
                ));
            }
            DurabilityMode::Interval(every)
        }
        Some(other) => {
            return Err(invalid(
                "RUNNER_DURABILITY",
                other,
                "expected `strict` or `interval`",
            ));
        }
    };
    Ok(PersistOptions {
        mode,
        compact_min_wal_bytes: parse(
            var("RUNNER_COMPACT_MIN_WAL_BYTES"),
            "RUNNER_COMPACT_MIN_WAL_BYTES",
            "4194304",
        )?,
        request_budget: match var("RUNNER_STORE_REQUEST_BUDGET") {
            None => None,
            Some(value) => {
                let requests: u32 = parse(Some(value.clone()), "RUNNER_STORE_REQUEST_BUDGET", "")?;
                if requests < 16 {
                    return Err(invalid(
                        "RUNNER_STORE_REQUEST_BUDGET",
                        &value,
                        "must be at least 16: restoring and stopping an actor takes several requests",
                    ));
                }
                Some(RequestBudget { requests })
            }
        },
        max_files_bytes: parse::<u64>(
            var("RUNNER_ACTOR_MAX_FILES_MB"),
            "RUNNER_ACTOR_MAX_FILES_MB",
            "1024",
        )?
        .saturating_mul(1 << 20),
    })
}

//! Container configuration from `RUNNER_*` environment variables. Every variable, its default
//! and its meaning is in this crate's README; every bad value is a startup error that names it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use runner_core::RunnerConfig;
use runner_core::config::settings::{self, CoreSettings, invalid, millis, parse};
use runner_core::object_store::S3Config;
use runner_core::persist::PersistOptions;

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
    /// The platform's per-request timeout (Cloud Run's request timeout, a load balancer's idle
    /// limit). When set, each request gets a deadline and the core drains actors before it.
    pub request_timeout: Option<Duration>,
    /// Where actor data is persisted between invocations.
    pub store: StoreConfig,
    /// Key prefix for actor data in the store.
    pub store_prefix: String,
    /// Durability mode and compaction threshold.
    pub persist: PersistOptions,
    /// The core's configuration.
    pub runner: RunnerConfig,
    /// Sandboxed WebAssembly actors the operator deploys, and their limits.
    pub sandbox: SandboxConfig,
}

/// Sandboxed actors: components the operator lists (`RUNNER_WASM_ACTORS`), code published per
/// namespace (`RUNNER_BUNDLE_NAMESPACES`), what they may reach, and their limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Actor name → component file.
    pub wasm_actors: Vec<(String, PathBuf)>,
    /// Namespaces whose published code (in the object store) this runner runs.
    pub bundle_namespaces: BundleNamespaces,
    /// Key prefix of published code in the object store.
    pub bundle_prefix: String,
    /// Outbound HTTP granted per namespace.
    pub outbound: Vec<OutboundGrant>,
    /// Linear memory each instance may grow to.
    pub memory_bytes: usize,
    /// How long one call may run before it is stopped.
    pub call_time: Duration,
    /// Instances the pooling allocator reserves room for.
    pub max_instances: u32,
    /// Where compiled components are kept between processes.
    pub cache_dir: PathBuf,
    /// What authenticates compiled components in the cache directory and the bucket
    /// (`RUNNER_CACHE_KEY`); without one, only this process's own.
    pub cache_secret: Option<CacheSecret>,
    /// The operator's master publishing key (`RUNNER_PUBLISH_KEY`): with it, published code
    /// runs only if signed with its namespace's token derived from it; without it, anyone who
    /// can write the bucket can publish for any namespace.
    pub publish_key: Option<PublishSecret>,
}

/// A secret that keys the component cache; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct CacheSecret(pub String);

impl std::fmt::Debug for CacheSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheSecret(..)")
    }
}

/// The master key published code is signed under (per namespace); never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PublishSecret(pub String);

impl std::fmt::Debug for PublishSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublishSecret(..)")
    }
}

/// Which namespaces may run code published to the object store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleNamespaces {
    /// None: only the actors built in or listed in `RUNNER_WASM_ACTORS` run.
    Off,
    /// Every namespace this runner serves (`*`).
    Any,
    /// These.
    Only(Vec<String>),
}

/// One origin a namespace's sandboxed actors may call, with the headers the runner adds.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboundGrant {
    /// The namespace.
    pub namespace: String,
    /// `https://host[:port]`.
    pub origin: String,
    /// Headers added to every request (API keys), `${VAR}`s already filled in.
    pub headers: Vec<(String, String)>,
    /// The origin's host name may resolve to private addresses (`"privateAddresses": true`).
    pub private_addresses: bool,
}

impl std::fmt::Debug for OutboundGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values hold secrets: names only.
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("OutboundGrant")
            .field("namespace", &self.namespace)
            .field("origin", &self.origin)
            .field("headers", &names)
            .field("private_addresses", &self.private_addresses)
            .finish()
    }
}

/// The object store actor data is persisted to.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// Local disk only (no object store).
    None,
    /// A directory: the embedded default.
    Local(PathBuf),
    /// An S3 bucket (or S3-compatible server).
    S3(S3Config),
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
        let data_dir = var("RUNNER_DATA_DIR").unwrap_or_else(|| ".rivet-runner/data".to_owned());
        let CoreSettings {
            runner,
            request_timeout,
        } = CoreSettings::from_lookup(&var, PathBuf::from(data_dir))?;
        if runner.access.secret.is_none() && !listen.ip().is_loopback() {
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
        let store = store_config(&var)?;
        let store_prefix = var("RUNNER_STORE_PREFIX").unwrap_or_else(|| "actors".to_owned());
        let persist = settings::persist_options(&var)?;
        let sandbox = sandbox_config(&var)?;
        Ok(Self {
            listen,
            shutdown_grace,
            json_logs,
            request_timeout,
            store,
            store_prefix,
            persist,
            runner,
            sandbox,
        })
    }
}

fn sandbox_config(var: &impl Fn(&str) -> Option<String>) -> Result<SandboxConfig, ConfigError> {
    let mut wasm_actors = Vec::new();
    for entry in var("RUNNER_WASM_ACTORS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let Some((name, path)) = entry.split_once('=') else {
            return Err(invalid(
                "RUNNER_WASM_ACTORS",
                entry,
                "expected `name=path/to/component.wasm`",
            ));
        };
        wasm_actors.push((name.trim().to_owned(), PathBuf::from(path.trim())));
    }
    let bundle_namespaces = match var("RUNNER_BUNDLE_NAMESPACES").as_deref().map(str::trim) {
        None => BundleNamespaces::Off,
        Some("*") => BundleNamespaces::Any,
        Some(list) => BundleNamespaces::Only(
            list.split(',')
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
                .collect(),
        ),
    };
    let outbound = match var("RUNNER_OUTBOUND") {
        Some(json) => outbound_grants(&json, var)?,
        None => Vec::new(),
    };
    let memory_mb: usize = parse(
        var("RUNNER_SANDBOX_MEMORY_MB"),
        "RUNNER_SANDBOX_MEMORY_MB",
        "64",
    )?;
    Ok(SandboxConfig {
        wasm_actors,
        bundle_namespaces,
        bundle_prefix: var("RUNNER_BUNDLE_PREFIX").unwrap_or_else(|| "bundles".to_owned()),
        outbound,
        memory_bytes: memory_mb.saturating_mul(1 << 20),
        call_time: millis(
            var("RUNNER_SANDBOX_CALL_MS"),
            "RUNNER_SANDBOX_CALL_MS",
            5_000,
        )?,
        max_instances: parse(
            var("RUNNER_SANDBOX_MAX_INSTANCES"),
            "RUNNER_SANDBOX_MAX_INSTANCES",
            "1000",
        )?,
        cache_dir: PathBuf::from(
            var("RUNNER_COMPONENT_CACHE_DIR")
                .unwrap_or_else(|| ".rivet-runner/component-cache".to_owned()),
        ),
        // Not the runner secret: the engine's credential must not also let its holders plant
        // machine code in every runner through the bucket.
        cache_secret: var("RUNNER_CACHE_KEY").map(CacheSecret),
        publish_key: var("RUNNER_PUBLISH_KEY").map(PublishSecret),
    })
}

/// `RUNNER_OUTBOUND`: `{"namespace": [{"origin": "https://…", "headers": {"name": "value"}}]}`,
/// where a value may name other variables as `${VAR}` (the secrets stay in their own variables).
fn outbound_grants(
    json: &str,
    var: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<OutboundGrant>, ConfigError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Rule {
        origin: String,
        #[serde(default)]
        headers: std::collections::BTreeMap<String, String>,
        /// The origin's host name may resolve to loopback, link-local or private addresses.
        #[serde(default, rename = "privateAddresses")]
        private_addresses: bool,
    }
    let bad = |reason: String| invalid("RUNNER_OUTBOUND", json, &reason);
    let parsed: std::collections::BTreeMap<String, Vec<Rule>> = serde_json::from_str(json)
        .map_err(|e| {
            bad(format!(
                "expected {{\"namespace\": [{{\"origin\": …, \"headers\": {{…}}}}]}}: {e}"
            ))
        })?;
    let mut grants = Vec::new();
    for (namespace, rules) in parsed {
        for rule in rules {
            let headers = rule
                .headers
                .into_iter()
                .map(|(name, value)| Ok((name, expand_vars(&value, var).map_err(&bad)?)))
                .collect::<Result<_, ConfigError>>()?;
            grants.push(OutboundGrant {
                namespace: namespace.clone(),
                origin: rule.origin,
                headers,
                private_addresses: rule.private_addresses,
            });
        }
    }
    Ok(grants)
}

/// Replaces each `${NAME}` in `value` with the variable `NAME`, which must be set.
fn expand_vars(value: &str, var: &impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| "unclosed `${` in a header value".to_owned())?;
        let name = &rest[start + 2..start + end];
        let value = var(name)
            .ok_or_else(|| format!("header value names `${{{name}}}`, which is not set"))?;
        out.push_str(&value);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn store_config(var: &impl Fn(&str) -> Option<String>) -> Result<StoreConfig, ConfigError> {
    match var("RUNNER_OBJECT_STORE").as_deref() {
        None | Some("local") => Ok(StoreConfig::Local(PathBuf::from(
            var("RUNNER_OBJECT_STORE_DIR").unwrap_or_else(|| ".rivet-runner/objects".to_owned()),
        ))),
        Some("none") => Ok(StoreConfig::None),
        Some("s3") => Ok(StoreConfig::S3(settings::s3_config(var)?)),
        Some(other) => Err(invalid(
            "RUNNER_OBJECT_STORE",
            other,
            "expected `local`, `s3` or `none`",
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use runner_core::persist::DurabilityMode;

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
            ("RUNNER_LISTEN", "0.0.0.0:9000"),
            ("RUNNER_SECRET", "s"),
            (
                "RUNNER_ENGINE_ENDPOINTS",
                "https://a.example, https://b.example",
            ),
            ("RUNNER_NAMESPACES", "prod"),
            ("RUNNER_IDLE_SLEEP_MS", "1500"),
            ("RUNNER_LOG_FORMAT", "json"),
            ("RUNNER_BASE_PATH", "/rivet/"),
        ])
        .unwrap();
        assert_eq!(config.runner.access.endpoints.len(), 2);
        assert_eq!(config.runner.access.namespaces, vec!["prod"]);
        assert_eq!(config.runner.idle_sleep, Duration::from_millis(1500));
        assert_eq!(config.runner.base_path, "/rivet");
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
    fn request_timeout_must_exceed_the_margin() {
        let config = config(&[("RUNNER_REQUEST_TIMEOUT_MS", "60000")]).unwrap();
        assert_eq!(config.request_timeout, Some(Duration::from_secs(60)));
        let err = config_err(&[("RUNNER_REQUEST_TIMEOUT_MS", "4000")]);
        assert!(err.contains("RUNNER_DEADLINE_MARGIN_MS"), "{err}");
    }

    fn config_err(pairs: &[(&str, &str)]) -> String {
        config(pairs).unwrap_err().to_string()
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
        assert!(matches!(config(&[]).unwrap().store, StoreConfig::Local(_)));
        assert!(matches!(
            config(&[("RUNNER_OBJECT_STORE", "none")]).unwrap().store,
            StoreConfig::None
        ));
        let err = config_err(&[("RUNNER_OBJECT_STORE", "s3")]);
        assert!(err.contains("RUNNER_S3_BUCKET"), "{err}");
        let s3 = config(&[
            ("RUNNER_OBJECT_STORE", "s3"),
            ("RUNNER_S3_BUCKET", "b"),
            ("RUNNER_S3_ENDPOINT", "http://127.0.0.1:8333"),
        ])
        .unwrap();
        let StoreConfig::S3(s3) = s3.store else {
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

    #[test]
    fn the_publish_key_is_read_and_never_printed() {
        assert_eq!(config(&[]).unwrap().sandbox.publish_key, None);
        let config = config(&[("RUNNER_PUBLISH_KEY", "master-secret")]).unwrap();
        assert_eq!(
            config.sandbox.publish_key,
            Some(PublishSecret("master-secret".to_owned()))
        );
        assert!(!format!("{config:?}").contains("master-secret"));
    }

    #[test]
    fn a_public_listener_needs_a_secret() {
        let err = config(&[("RUNNER_LISTEN", "0.0.0.0:8088")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("RUNNER_SECRET"), "{err}");
    }
}

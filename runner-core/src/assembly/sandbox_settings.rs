//! [`SandboxSettings`]: the operator's components (`RUNNER_WASM_ACTORS`), code published per
//! namespace (`RUNNER_BUNDLE_NAMESPACES`), the outbound HTTP they get (`RUNNER_OUTBOUND`), the
//! keys that authenticate compiled and published code, and the sandbox's limits.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::settings::{SettingError, invalid, millis, parse};

/// Sandboxed actors: components the operator lists (`RUNNER_WASM_ACTORS`), code published per
/// namespace (`RUNNER_BUNDLE_NAMESPACES`), what they may reach, and their limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSettings {
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

/// Parses the sandbox settings; compiled components go under `cache_dir` unless
/// `RUNNER_COMPONENT_CACHE_DIR` says otherwise.
pub(super) fn from_lookup(
    var: &impl Fn(&str) -> Option<String>,
    cache_dir: PathBuf,
) -> Result<SandboxSettings, SettingError> {
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
    Ok(SandboxSettings {
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
        cache_dir: var("RUNNER_COMPONENT_CACHE_DIR").map_or(cache_dir, PathBuf::from),
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
) -> Result<Vec<OutboundGrant>, SettingError> {
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
                .collect::<Result<_, SettingError>>()?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assembly::settings::tests::config;

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
}

//! The `x-rivet-*` headers of `/start`, and the access checks on them.

use http::HeaderMap;
use subtle::ConstantTimeEq;

use crate::config::StartAccess;
use crate::error::StartError;

/// Who is asking for an actor, and where the runner should connect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct StartHeaders {
    pub(crate) endpoint: String,
    pub(crate) namespace: String,
    pub(crate) pool: String,
    pub(crate) token: Option<String>,
}

impl StartHeaders {
    pub(crate) fn parse(headers: &HeaderMap) -> Result<Self, StartError> {
        Ok(Self {
            endpoint: required(headers, "x-rivet-endpoint")?,
            namespace: required(headers, "x-rivet-namespace-name")?,
            // The engine renamed `x-rivet-runner-name` to `x-rivet-pool-name`; accept both.
            pool: optional(headers, "x-rivet-pool-name")
                .or_else(|| optional(headers, "x-rivet-runner-name"))
                .ok_or(StartError::MissingHeader("x-rivet-pool-name"))?,
            token: optional(headers, "x-rivet-token"),
        })
    }
}

/// Whether `given` is `secret`, compared in constant time (for adapters that must check the
/// secret before the configuration that holds it parses).
pub fn secrets_match(secret: &str, given: &str) -> bool {
    bool::from(given.as_bytes().ct_eq(secret.as_bytes()))
}

/// Checks the shared secret alone (constant time), before anything else about the request.
pub(crate) fn check_secret(access: &StartAccess, headers: &HeaderMap) -> Result<(), StartError> {
    if let Some(secret) = &access.secret {
        let given = headers
            .get(access.secret_header.as_str())
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !bool::from(given.ct_eq(secret.as_bytes())) {
            return Err(StartError::Unauthorized {
                header: access.secret_header.clone(),
            });
        }
    }
    Ok(())
}

/// Checks the shared secret first (so unauthenticated callers learn nothing about the
/// allow-list), then the endpoint, namespace and pool.
pub(crate) fn authorize(
    access: &StartAccess,
    headers: &HeaderMap,
    start: &StartHeaders,
) -> Result<(), StartError> {
    check_secret(access, headers)?;
    let endpoint = normalize_endpoint(&start.endpoint);
    let endpoint_ok = access
        .endpoints
        .iter()
        .any(|allowed| allowed == "*" || normalize_endpoint(allowed) == endpoint);
    if !endpoint_ok {
        return Err(StartError::Forbidden {
            what: "endpoint",
            value: start.endpoint.clone(),
        });
    }
    check_listed("namespace", &access.namespaces, &start.namespace)?;
    check_listed("pool", &access.pools, &start.pool)
}

fn check_listed(what: &'static str, allowed: &[String], value: &str) -> Result<(), StartError> {
    if allowed.is_empty() || allowed.iter().any(|a| a == value) {
        Ok(())
    } else {
        Err(StartError::Forbidden {
            what,
            value: value.to_owned(),
        })
    }
}

/// Compares endpoints by scheme, host and port: case-insensitive, trailing slashes ignored, and
/// every loopback spelling treated as one.
pub(crate) fn normalize_endpoint(endpoint: &str) -> String {
    let lower = endpoint.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = lower.split_once("://").unwrap_or(("http", lower.as_str()));
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !port.contains(']') => (host, Some(port)),
        _ => (authority, None),
    };
    let host = match host {
        "localhost" | "[::1]" | "::1" => "127.0.0.1",
        other => other,
    };
    let port = port
        .map(str::to_owned)
        .unwrap_or_else(|| if scheme == "https" { "443" } else { "80" }.to_owned());
    format!("{scheme}://{host}:{port}{path}")
}

fn required(headers: &HeaderMap, name: &'static str) -> Result<String, StartError> {
    optional(headers, name).ok_or(StartError::MissingHeader(name))
}

fn optional(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    fn engine_headers() -> HeaderMap {
        headers(&[
            ("x-rivet-endpoint", "http://127.0.0.1:6420/"),
            ("x-rivet-namespace-name", "default"),
            ("x-rivet-pool-name", "default"),
            ("x-runner-secret", "s3cret"),
        ])
    }

    #[test]
    fn parses_engine_headers_and_legacy_pool_name() {
        let parsed = StartHeaders::parse(&engine_headers()).unwrap();
        assert_eq!(parsed.pool, "default");
        assert_eq!(parsed.token, None);
        let legacy = headers(&[
            ("x-rivet-endpoint", "http://e"),
            ("x-rivet-namespace-name", "ns"),
            ("x-rivet-runner-name", "old"),
            ("x-rivet-token", "t"),
        ]);
        let parsed = StartHeaders::parse(&legacy).unwrap();
        assert_eq!(
            (parsed.pool.as_str(), parsed.token.as_deref()),
            ("old", Some("t"))
        );
    }

    #[test]
    fn missing_headers_are_named() {
        let err = StartHeaders::parse(&headers(&[("x-rivet-endpoint", "http://e")])).unwrap_err();
        assert!(matches!(
            err,
            StartError::MissingHeader("x-rivet-namespace-name")
        ));
    }

    #[test]
    fn secret_is_checked_before_the_allow_list() {
        let access = StartAccess::new("http://localhost:6420", Some("s3cret".into()));
        let mut h = engine_headers();
        let start = StartHeaders::parse(&h).unwrap();
        authorize(&access, &h, &start).unwrap();

        h.insert("x-runner-secret", "wrong".parse().unwrap());
        let err = authorize(&access, &h, &start).unwrap_err();
        assert_eq!(err.status(), 401);
        h.remove("x-runner-secret");
        assert_eq!(authorize(&access, &h, &start).unwrap_err().status(), 401);
    }

    #[test]
    fn foreign_endpoint_namespace_or_pool_is_forbidden() {
        let mut access = StartAccess::new("http://127.0.0.1:6420", None);
        let mut start = StartHeaders::parse(&engine_headers()).unwrap();
        start.endpoint = "http://evil.example:6420".into();
        let err = authorize(&access, &HeaderMap::new(), &start).unwrap_err();
        assert!(matches!(
            err,
            StartError::Forbidden {
                what: "endpoint",
                ..
            }
        ));

        start.endpoint = "http://127.0.0.1:6420".into();
        access.namespaces = vec!["prod".into()];
        let err = authorize(&access, &HeaderMap::new(), &start).unwrap_err();
        assert!(matches!(
            err,
            StartError::Forbidden {
                what: "namespace",
                ..
            }
        ));
        access.namespaces = vec!["default".into()];
        access.pools = vec!["other".into()];
        let err = authorize(&access, &HeaderMap::new(), &start).unwrap_err();
        assert!(matches!(err, StartError::Forbidden { what: "pool", .. }));
    }

    #[test]
    fn endpoint_spellings_normalise() {
        let a = normalize_endpoint("http://LOCALHOST:6420/");
        assert_eq!(a, normalize_endpoint("http://127.0.0.1:6420"));
        assert_eq!(
            normalize_endpoint("https://api.rivet.dev"),
            "https://api.rivet.dev:443"
        );
        assert_ne!(a, normalize_endpoint("http://127.0.0.1:6421"));
    }
}

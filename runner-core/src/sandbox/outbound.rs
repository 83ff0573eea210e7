//! Outbound HTTP from sandboxed actors: denied unless the operator allows the origin for the
//! actor's namespace. An allowed origin may carry headers the host adds to every request
//! (API keys): the actor never sees them, so they cannot leak into its state or logs.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::Url;

/// How long one outbound request may take, response body included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest response body handed to an actor.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// An origin a namespace may call, and the secret headers the host adds.
#[derive(Clone)]
pub struct OutboundRule {
    origin: String,
    headers: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
}

impl std::fmt::Debug for OutboundRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values are secrets: names only.
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("OutboundRule")
            .field("origin", &self.origin)
            .field("injected_headers", &names)
            .finish()
    }
}

/// Why an outbound rule is not valid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboundRuleError {
    /// Not an `http(s)://host[:port]` origin.
    #[error("`{0}` is not an origin such as https://api.example.com")]
    BadOrigin(String),
    /// A header name or value HTTP does not allow.
    #[error("the injected header `{0}` is not a valid header")]
    BadHeader(String),
}

impl OutboundRule {
    /// Allows `origin` (`https://host[:port]`; a path is ignored).
    pub fn new(origin: &str) -> Result<Self, OutboundRuleError> {
        let url = Url::parse(origin).map_err(|_| OutboundRuleError::BadOrigin(origin.into()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(OutboundRuleError::BadOrigin(origin.into()));
        }
        Ok(Self {
            origin: url.origin().ascii_serialization(),
            headers: Vec::new(),
        })
    }

    /// Adds `name: value` to every request to this origin, replacing the actor's own.
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, OutboundRuleError> {
        let bad = || OutboundRuleError::BadHeader(name.to_owned());
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
        let mut value = reqwest::header::HeaderValue::from_str(value).map_err(|_| bad())?;
        value.set_sensitive(true);
        self.headers.push((name, value));
        Ok(self)
    }

    /// The origin, normalized (`https://api.example.com`).
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// The operator's outbound HTTP rules, per namespace.
#[derive(Debug, Default)]
pub struct OutboundPolicy {
    namespaces: HashMap<String, Vec<OutboundRule>>,
    client: OnceLock<reqwest::Client>,
}

impl OutboundPolicy {
    /// Nothing allowed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets actors of `namespace` call `rule`'s origin.
    pub fn allow(mut self, namespace: impl Into<String>, rule: OutboundRule) -> Self {
        self.namespaces
            .entry(namespace.into())
            .or_default()
            .push(rule);
        self
    }

    /// The rules of one namespace, as an actor of it uses them.
    pub(crate) fn for_namespace(self: &Arc<Self>, namespace: &str) -> Outbound {
        Outbound {
            policy: self.clone(),
            namespace: namespace.to_owned(),
        }
    }

    fn client(&self) -> Result<&reqwest::Client, FetchError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            // A redirect could lead to an origin that is not allowed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| FetchError::Failed(format!("HTTP client: {e}")))?;
        Ok(self.client.get_or_init(|| client))
    }
}

/// An outbound request from an actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutboundRequest {
    pub(crate) method: String,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// Its response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutboundResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// Why an outbound request failed; `code()` is the actor error code.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("outbound HTTP to {0} is not allowed for this actor's namespace")]
    Denied(String),
    #[error("invalid outbound request: {0}")]
    BadRequest(String),
    #[error("outbound request failed: {0}")]
    Failed(String),
    #[error("the response is larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
}

impl FetchError {
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::Denied(_) => "fetch_denied",
            Self::BadRequest(_) => "fetch_invalid",
            Self::Failed(_) => "fetch_failed",
            Self::TooLarge => "fetch_too_large",
        }
    }
}

/// One namespace's outbound access.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    policy: Arc<OutboundPolicy>,
    namespace: String,
}

impl Outbound {
    /// Sends `request` if its origin is allowed, with the rule's headers. Blocks the thread:
    /// call it from a guest call, which runs in `block_in_place`.
    pub(crate) fn fetch(&self, request: OutboundRequest) -> Result<OutboundResponse, FetchError> {
        let url = Url::parse(&request.url)
            .map_err(|e| FetchError::BadRequest(format!("url `{}`: {e}", request.url)))?;
        let origin = url.origin().ascii_serialization();
        let rule = self
            .policy
            .namespaces
            .get(&self.namespace)
            .and_then(|rules| rules.iter().find(|rule| rule.origin == origin))
            .ok_or_else(|| FetchError::Denied(origin.clone()))?;
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| FetchError::BadRequest(format!("method `{}`", request.method)))?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &request.headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| FetchError::BadRequest(format!("header name `{name}`")))?;
            let value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|_| FetchError::BadRequest(format!("value of header `{name}`")))?;
            headers.append(name, value);
        }
        for (name, value) in &rule.headers {
            headers.insert(name.clone(), value.clone());
        }
        // Blocking on the request needs a worker the runtime can spare (guest calls run in
        // `block_in_place`), which only the multi-threaded runtime has.
        let runtime = tokio::runtime::Handle::try_current()
            .ok()
            .filter(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
            .ok_or_else(|| {
                FetchError::Failed("outbound HTTP needs the multi-threaded Tokio runtime".into())
            })?;
        let send = self
            .policy
            .client()?
            .request(method, url)
            .headers(headers)
            .body(request.body)
            .send();
        runtime.block_on(async move {
            let response = send
                .await
                .map_err(|e| FetchError::Failed(e.without_url().to_string()))?;
            read_response(response).await
        })
    }
}

async fn read_response(mut response: reqwest::Response) -> Result<OutboundResponse, FetchError> {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| FetchError::Failed(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(OutboundResponse {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalized_and_secrets_stay_out_of_debug_output() {
        let rule = OutboundRule::new("HTTPS://API.example.com:443/v1")
            .unwrap()
            .with_header("Authorization", "Bearer sk-secret")
            .unwrap();
        assert_eq!(rule.origin(), "https://api.example.com");
        let shown = format!("{rule:?}");
        assert!(
            shown.contains("authorization") && !shown.contains("sk-secret"),
            "{shown}"
        );
        for bad in ["ftp://x", "not a url", "file:///etc/passwd"] {
            assert!(OutboundRule::new(bad).is_err(), "{bad}");
        }
        assert!(rule.with_header("bad header", "v").is_err());
    }

    #[test]
    fn a_request_outside_the_namespace_rules_is_denied_before_any_connection() {
        let policy = Arc::new(
            OutboundPolicy::new()
                .allow("tenant-a", OutboundRule::new("http://127.0.0.1:9").unwrap()),
        );
        let request = |url: &str| OutboundRequest {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        };
        let denied = [
            ("tenant-b", "http://127.0.0.1:9/x"),
            ("tenant-a", "http://127.0.0.1:10/x"),
            ("tenant-a", "https://127.0.0.1:9/x"),
            ("tenant-a", "http://localhost:9/x"),
        ];
        for (namespace, url) in denied {
            let err = policy
                .for_namespace(namespace)
                .fetch(request(url))
                .unwrap_err();
            assert_eq!(err.code(), "fetch_denied", "{namespace} {url}: {err}");
        }
        let err = policy
            .for_namespace("tenant-a")
            .fetch(request("::"))
            .unwrap_err();
        assert_eq!(err.code(), "fetch_invalid");
    }
}

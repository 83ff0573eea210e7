//! Outbound HTTP from sandboxed actors: denied unless the operator allows the origin for the
//! actor's namespace. An allowed origin may carry headers the host adds to every request
//! (API keys): the actor never sees them, so they cannot leak into its state or logs.
//!
//! The guest names a URL, nothing about the connection: it may not set `Host` (which would
//! send an injected secret to another virtual host behind the same address) or the headers
//! that frame the request. A rule's host name must resolve to public addresses: an allowed name
//! that resolves to loopback, link-local (the cloud metadata service at 169.254.169.254) or a
//! private range is refused at connect time, unless the rule says otherwise
//! ([`OutboundRule::allowing_private_addresses`]) or names the address itself.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
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
    private_addresses: bool,
}

impl std::fmt::Debug for OutboundRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values are secrets: names only.
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("OutboundRule")
            .field("origin", &self.origin)
            .field("injected_headers", &names)
            .field("private_addresses", &self.private_addresses)
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
            private_addresses: false,
        })
    }

    /// Lets the origin's host name resolve to loopback, link-local or private addresses (an
    /// internal service the operator runs). An origin that is an IP address is always reached.
    pub fn allowing_private_addresses(mut self) -> Self {
        self.private_addresses = true;
        self
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
    /// For rules that reach public addresses only, and for those that may reach private ones.
    public_client: OnceLock<reqwest::Client>,
    any_client: OnceLock<reqwest::Client>,
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

    fn client(&self, private_addresses: bool) -> Result<&reqwest::Client, FetchError> {
        let slot = if private_addresses {
            &self.any_client
        } else {
            &self.public_client
        };
        if let Some(client) = slot.get() {
            return Ok(client);
        }
        let mut builder = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            // A proxy from the environment would resolve names itself, past the check below.
            .no_proxy()
            // A redirect could lead to an origin that is not allowed.
            .redirect(reqwest::redirect::Policy::none());
        if !private_addresses {
            builder = builder.dns_resolver(Arc::new(PublicAddressesOnly));
        }
        let client = builder
            .build()
            .map_err(|e| FetchError::Failed(format!("HTTP client: {e}")))?;
        Ok(slot.get_or_init(|| client))
    }
}

/// Headers the guest may not set: the runner derives them from the URL and the body.
const CONNECTION_HEADERS: &[&str] = &[
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
];

/// Resolves host names, keeping only public addresses.
struct PublicAddressesOnly;

impl reqwest::dns::Resolve for PublicAddressesOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| is_public(addr.ip()))
                .collect();
            if public.is_empty() {
                let refused = std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!(
                        "`{host}` resolves only to loopback, link-local or private addresses, \
                         which this origin's rule does not allow"
                    ),
                );
                return Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether `ip` is a public unicast address (not loopback, link-local, private, shared,
/// unspecified, multicast or broadcast, in v4, v6, or v4 mapped into v6).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || (a == 192 && b == 0 && c == 0))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            let first = segments[0];
            // Forms that embed an IPv4 address the network may route to: IPv4-compatible
            // (::a.b.c.d), NAT64 (64:ff9b::/96, 64:ff9b:1::/48) and 6to4 (2002::/16).
            let embeds_v4 = segments[..6].iter().all(|s| *s == 0)
                || (first == 0x64 && segments[1] == 0xff9b)
                || first == 0x2002;
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || embeds_v4
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0)
        }
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
            if CONNECTION_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(FetchError::BadRequest(format!(
                    "the `{name}` header is set by the runner, not by the actor"
                )));
            }
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
            .client(rule.private_addresses)?
            .request(method, url)
            .headers(headers)
            .body(request.body)
            .send();
        runtime.block_on(async move {
            let response = send.await.map_err(|e| FetchError::Failed(with_causes(e)))?;
            read_response(response).await
        })
    }
}

/// The error and what caused it (reqwest's own message alone says "error sending request").
fn with_causes(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
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

    fn get(url: &str, headers: &[(&str, &str)]) -> OutboundRequest {
        OutboundRequest {
            method: "GET".into(),
            url: url.into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: Vec::new(),
        }
    }

    /// The guest could set `Host`, so a secret injected for one virtual host reached another
    /// behind the same address.
    #[test]
    fn the_guest_may_not_set_host_or_framing_headers() {
        let policy = Arc::new(
            OutboundPolicy::new().allow("t", OutboundRule::new("http://127.0.0.1:9").unwrap()),
        );
        for header in ["Host", "host", "Transfer-Encoding", "Connection"] {
            let err = policy
                .for_namespace("t")
                .fetch(get("http://127.0.0.1:9/", &[(header, "other.example")]))
                .unwrap_err();
            assert_eq!(err.code(), "fetch_invalid", "{header}: {err}");
        }
    }

    /// An allowed name that resolves to loopback (or the metadata service) was reached.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_allowed_name_resolving_to_a_private_address_is_refused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let origin = format!("http://localhost:{port}");
        let strict =
            Arc::new(OutboundPolicy::new().allow("t", OutboundRule::new(&origin).unwrap()));
        let url = format!("{origin}/x");
        let err = tokio::task::block_in_place(|| {
            strict.for_namespace("t").fetch(get(&url, &[])).unwrap_err()
        });
        assert!(
            err.to_string().contains("loopback, link-local or private"),
            "{err}"
        );
        // The operator can allow it: then the request reaches the listener (which closes
        // without answering).
        let open = Arc::new(
            OutboundPolicy::new().allow(
                "t",
                OutboundRule::new(&origin)
                    .unwrap()
                    .allowing_private_addresses(),
            ),
        );
        let accepted = std::thread::spawn(move || listener.accept().map(|_| ()));
        let result = tokio::task::block_in_place(|| open.for_namespace("t").fetch(get(&url, &[])));
        assert!(
            accepted.join().unwrap().is_ok(),
            "the request never arrived"
        );
        if let Err(err) = result {
            assert!(!err.to_string().contains("private"), "{err}");
        }
        for (ip, public) in [
            ("169.254.169.254", false),
            ("10.1.2.3", false),
            ("172.20.0.1", false),
            ("192.168.1.1", false),
            ("100.64.0.1", false),
            ("0.0.0.0", false),
            ("::1", false),
            ("fe80::1", false),
            ("fd00::1", false),
            ("::ffff:127.0.0.1", false),
            ("64:ff9b::a9fe:a9fe", false),
            ("2002:a9fe:a9fe::1", false),
            ("::169.254.169.254", false),
            ("fec0::1", false),
            ("198.18.0.1", false),
            ("240.0.0.1", false),
            ("93.184.216.34", true),
            ("2606:4700::1111", true),
        ] {
            assert_eq!(is_public(ip.parse().unwrap()), public, "{ip}");
        }
    }
}

//! S3 (and R2, SeaweedFS, MinIO) over plain HTTP requests signed with SigV4, for targets where
//! the AWS SDK does not run (a Worker's `fetch`). The adapter supplies the [`HttpClient`]; this
//! module owns the S3 protocol: addressing, signing, conditional writes, listing, and the
//! mapping of answers to [`ObjectStoreError`].
//!
//! It gives the same guarantees as the SDK store (the conformance suite runs against both):
//! `If-None-Match: *` / `If-Match` for conditional writes, 412 and 409 as a lost race, 429 and
//! 503 as throttling, other 5xx and transport failures as transient. It does not retry by
//! itself: the persistence layer retries transient failures with backoff.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::{
    Object, ObjectMeta, ObjectStore, ObjectStoreError, PutMode, S3Config, StoreFuture, validate_key,
};

/// Sends one HTTP request and returns the whole response; `Err` is a transport failure (no
/// response).
pub trait HttpClient: Send + Sync + 'static {
    /// Sends `request`.
    fn send(
        &self,
        request: Request<Bytes>,
    ) -> crate::rt::BoxFuture<'_, Result<Response<Bytes>, HttpClientError>>;
}

/// Why an [`HttpClient`] got no response: the client's own error, kept as it is (a message
/// where the platform gives nothing more, as a Worker's `fetch` does).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct HttpClientError(Box<dyn std::error::Error + Send + Sync>);

impl HttpClientError {
    /// Wraps the client's error (or a message).
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(error.into())
    }
}

/// How long one request may take before it counts as a transient failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Characters escaped in a key's path segments: all but RFC 3986's unreserved ones.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// An S3 bucket reached through an [`HttpClient`].
pub struct HttpS3Store {
    client: Arc<dyn HttpClient>,
    /// `scheme://host[:port]`, without the bucket.
    endpoint: String,
    bucket: String,
    region: String,
    path_style: bool,
    identity: Identity,
}

impl std::fmt::Debug for HttpS3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpS3Store")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .finish_non_exhaustive()
    }
}

/// Why an [`HttpS3Store`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpS3ConfigError {
    /// Requests are signed with static keys: there is no credential chain to fall back on.
    #[error("the S3 store needs an access key id and a secret access key")]
    MissingCredentials,
    /// The endpoint is not an `http://` or `https://` URL.
    #[error("S3 endpoint `{0}` is not an http:// or https:// URL")]
    BadEndpoint(String),
}

impl HttpS3Store {
    /// A store for `config`'s bucket; without an endpoint, AWS's regional one. `max_attempts`
    /// does not apply (the persistence layer retries).
    pub fn new(config: S3Config, client: Arc<dyn HttpClient>) -> Result<Self, HttpS3ConfigError> {
        let credentials = config
            .credentials
            .ok_or(HttpS3ConfigError::MissingCredentials)?;
        let endpoint = match config.endpoint {
            Some(endpoint) => endpoint.trim_end_matches('/').to_owned(),
            None => format!("https://s3.{}.amazonaws.com", config.region),
        };
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(HttpS3ConfigError::BadEndpoint(endpoint));
        }
        let identity = Credentials::new(
            credentials.access_key_id,
            credentials.secret_access_key,
            credentials.session_token,
            None,
            "runner-config",
        )
        .into();
        Ok(Self {
            client,
            endpoint,
            bucket: config.bucket,
            region: config.region,
            path_style: config.force_path_style,
            identity,
        })
    }

    /// The URL of `key` (or of the bucket, for an empty key), with `query` appended.
    fn url(&self, key: &str, query: &str) -> String {
        let path: Vec<String> = key
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| utf8_percent_encode(s, PATH_SEGMENT).to_string())
            .collect();
        let path = path.join("/");
        let base = if self.path_style {
            format!("{}/{}/{path}", self.endpoint, self.bucket)
        } else {
            let (scheme, host) = self.endpoint.split_once("://").unwrap_or(("https", ""));
            format!("{scheme}://{}.{host}/{path}", self.bucket)
        };
        if query.is_empty() {
            base
        } else {
            format!("{base}?{query}")
        }
    }

    /// Signs and sends one request; maps transport failures and timeouts to `Unavailable`.
    async fn send(
        &self,
        method: Method,
        url: String,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<Response<Bytes>, ObjectStoreError> {
        let mut request = Request::builder().method(method).uri(&url);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut request = request.body(body).map_err(|err| {
            ObjectStoreError::Other(format!("building a request for {url}: {err}"))
        })?;
        self.sign(&mut request)?;
        match crate::rt::timeout(REQUEST_TIMEOUT, self.client.send(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(err)) => Err(ObjectStoreError::Unavailable(format!("{url}: {err}"))),
            Err(_) => Err(ObjectStoreError::Unavailable(format!(
                "{url}: no answer within {REQUEST_TIMEOUT:?}"
            ))),
        }
    }

    fn sign(&self, request: &mut Request<Bytes>) -> Result<(), ObjectStoreError> {
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let unsigned =
            |err: &dyn std::fmt::Display| ObjectStoreError::Other(format!("signing: {err}"));
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("s3")
            .time(now())
            .settings(settings)
            .build()
            .map_err(|err| unsigned(&err))?
            .into();
        let uri = request.uri().to_string();
        let headers = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let signable = SignableRequest::new(
            request.method().as_str(),
            &uri,
            headers,
            SignableBody::Bytes(request.body()),
        )
        .map_err(|err| unsigned(&err))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|err| unsigned(&err))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }

    async fn list_page(
        &self,
        prefix: &str,
        token: Option<&str>,
    ) -> Result<ListBucketResult, ObjectStoreError> {
        let mut query = format!("list-type=2&prefix={}", query_value(prefix));
        if let Some(token) = token {
            query.push_str("&continuation-token=");
            query.push_str(&query_value(token));
        }
        let response = self
            .send(Method::GET, self.url("", &query), &[], Bytes::new())
            .await?;
        if !response.status().is_success() {
            return Err(failure(prefix, &response));
        }
        quick_xml::de::from_reader(response.body().as_ref()).map_err(|err| {
            ObjectStoreError::Other(format!("unreadable listing of `{prefix}`: {err}"))
        })
    }
}

/// The signing time. `std::time::SystemTime::now` panics on `wasm32`; the host clock does not.
fn now() -> std::time::SystemTime {
    let since_epoch = crate::rt::SystemTime::now()
        .duration_since(crate::rt::UNIX_EPOCH)
        .unwrap_or_default();
    std::time::UNIX_EPOCH + since_epoch
}

fn query_value(value: &str) -> String {
    utf8_percent_encode(value, PATH_SEGMENT).to_string()
}

fn etag_of(response: &Response<Bytes>) -> String {
    response
        .headers()
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Maps an unsuccessful answer to the port's error, by status, with S3's code and message.
fn failure(key: &str, response: &Response<Bytes>) -> ObjectStoreError {
    let status = response.status();
    let detail = match quick_xml::de::from_reader::<_, ErrorBody>(response.body().as_ref()) {
        Ok(ErrorBody {
            code,
            message: Some(message),
        }) => format!("{code}: {message} ({status})"),
        Ok(ErrorBody {
            code,
            message: None,
        }) => format!("{code} ({status})"),
        Err(_) => format!("`{key}`: {status}"),
    };
    match status.as_u16() {
        412 | 409 => ObjectStoreError::PreconditionFailed {
            key: key.to_owned(),
        },
        429 | 503 => ObjectStoreError::Throttled(detail),
        500..=599 => ObjectStoreError::Unavailable(detail),
        _ => ObjectStoreError::Other(detail),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListBucketResult {
    #[serde(default)]
    contents: Vec<ListedObject>,
    #[serde(default)]
    is_truncated: bool,
    next_continuation_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedObject {
    key: String,
    size: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody {
    code: String,
    message: Option<String>,
}

impl ObjectStore for HttpS3Store {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Object>> {
        Box::pin(async move {
            validate_key(key)?;
            let response = self
                .send(Method::GET, self.url(key, ""), &[], Bytes::new())
                .await?;
            match response.status() {
                StatusCode::NOT_FOUND => Ok(None),
                status if status.is_success() => Ok(Some(Object {
                    etag: etag_of(&response),
                    bytes: response.into_body(),
                })),
                _ => Err(failure(key, &response)),
            }
        })
    }

    fn get_range<'a>(&'a self, key: &'a str, range: Range<u64>) -> StoreFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            validate_key(key)?;
            let Some(header) = super::http_range(&range) else {
                return Ok(self.get(key).await?.map(|_| Bytes::new()));
            };
            let response = self
                .send(
                    Method::GET,
                    self.url(key, ""),
                    &[("range", header)],
                    Bytes::new(),
                )
                .await?;
            match response.status() {
                StatusCode::NOT_FOUND => Ok(None),
                // The range starts past the end of the object.
                StatusCode::RANGE_NOT_SATISFIABLE => Ok(Some(Bytes::new())),
                status if status.is_success() => Ok(Some(response.into_body())),
                _ => Err(failure(key, &response)),
            }
        })
    }

    fn put<'a>(&'a self, key: &'a str, bytes: Bytes, mode: PutMode) -> StoreFuture<'a, String> {
        Box::pin(async move {
            validate_key(key)?;
            let conditional = matches!(mode, PutMode::IfMatch(_));
            let condition = match mode {
                PutMode::Overwrite => None,
                PutMode::IfAbsent => Some(("if-none-match", "*".to_owned())),
                PutMode::IfMatch(etag) => Some(("if-match", etag)),
            };
            let headers: Vec<_> = condition.into_iter().collect();
            let response = self
                .send(Method::PUT, self.url(key, ""), &headers, bytes)
                .await?;
            if response.status().is_success() {
                Ok(etag_of(&response))
            } else if conditional && response.status() == http::StatusCode::NOT_FOUND {
                // AWS answers `If-Match` on a missing key with 404, not 412.
                Err(ObjectStoreError::PreconditionFailed {
                    key: key.to_owned(),
                })
            } else {
                Err(failure(key, &response))
            }
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<ObjectMeta>> {
        Box::pin(async move {
            let mut found = Vec::new();
            let mut token = None;
            loop {
                let page = self.list_page(prefix, token.as_deref()).await?;
                found.extend(page.contents.into_iter().map(|o| ObjectMeta {
                    key: o.key,
                    size: o.size,
                }));
                match page.next_continuation_token {
                    Some(next) if page.is_truncated => token = Some(next),
                    _ => break,
                }
            }
            found.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(found)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            validate_key(key)?;
            let response = self
                .send(Method::DELETE, self.url(key, ""), &[], Bytes::new())
                .await?;
            match response.status() {
                StatusCode::NOT_FOUND => Ok(()),
                status if status.is_success() => Ok(()),
                _ => Err(failure(key, &response)),
            }
        })
    }
}

//! S3 (and S3-compatible: R2, SeaweedFS, MinIO) as an object store, with `aws-sdk-s3`.
//!
//! Conditional writes map to `If-None-Match: *` and `If-Match: <etag>`; S3 answers a lost race
//! with 412 (or 409 for a concurrent conditional write), which both become
//! [`ObjectStoreError::PreconditionFailed`]. Throttling (503 SlowDown, 429) and transient
//! failures are retried by the SDK's standard retry policy (bounded attempts with exponential
//! backoff) before they surface as [`ObjectStoreError::Throttled`] / `Unavailable`.

use std::ops::Range;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::{
    Object, ObjectMeta, ObjectStore, ObjectStoreError, PutMode, S3Config, StoreFuture, validate_key,
};

/// An S3 bucket as an [`ObjectStore`].
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
}

impl S3Store {
    /// Builds the client (resolving the default credential chain if needed).
    pub async fn new(config: S3Config) -> Self {
        let retry = aws_sdk_s3::config::retry::RetryConfig::standard()
            .with_max_attempts(config.max_attempts.max(1));
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .retry_config(retry);
        if let Some(credentials) = &config.credentials {
            loader = loader.credentials_provider(Credentials::new(
                credentials.access_key_id.clone(),
                credentials.secret_access_key.clone(),
                credentials.session_token.clone(),
                None,
                "runner-config",
            ));
        }
        let shared = loader.load().await;
        let mut builder =
            aws_sdk_s3::config::Builder::from(&shared).force_path_style(config.force_path_style);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Self {
            client: Client::from_conf(builder.build()),
            bucket: config.bucket,
        }
    }
}

/// Maps an SDK failure to the port's error, by HTTP status where there is one.
fn map_error<E: ProvideErrorMetadata + std::fmt::Debug>(
    key: &str,
    err: SdkError<E>,
) -> ObjectStoreError {
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err
        .as_service_error()
        .and_then(|e| e.code().map(str::to_owned));
    let detail = match (&code, err.as_service_error().and_then(|e| e.message())) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.clone(),
        _ => format!("{err}"),
    };
    match (status, &err) {
        (Some(412 | 409), _) => ObjectStoreError::PreconditionFailed {
            key: key.to_owned(),
        },
        (Some(429 | 503), _) => ObjectStoreError::Throttled(detail),
        (Some(500..=599), _) => ObjectStoreError::Unavailable(detail),
        (_, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)) => {
            ObjectStoreError::Unavailable(detail)
        }
        _ => ObjectStoreError::Other(detail),
    }
}

async fn read_body(key: &str, body: ByteStream) -> Result<Bytes, ObjectStoreError> {
    body.collect()
        .await
        .map(|data| data.into_bytes())
        .map_err(|err| ObjectStoreError::Unavailable(format!("read `{key}`: {err}")))
}

fn is_not_found<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
    err.raw_response()
        .is_some_and(|r| r.status().as_u16() == 404)
}

impl ObjectStore for S3Store {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Object>> {
        Box::pin(async move {
            validate_key(key)?;
            let output = match self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
            {
                Ok(output) => output,
                Err(err) if is_not_found(&err) => return Ok(None),
                Err(err) => return Err(map_error(key, err)),
            };
            let etag = output.e_tag().unwrap_or_default().to_owned();
            let bytes = read_body(key, output.body).await?;
            Ok(Some(Object { bytes, etag }))
        })
    }

    fn get_range<'a>(&'a self, key: &'a str, range: Range<u64>) -> StoreFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            validate_key(key)?;
            let Some(header) = super::http_range(&range) else {
                return Ok(self.get(key).await?.map(|_| Bytes::new()));
            };
            let request = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .range(header);
            let output = match request.send().await {
                Ok(output) => output,
                Err(err) if is_not_found(&err) => return Ok(None),
                // 416: the range starts past the end of the object.
                Err(err)
                    if err
                        .raw_response()
                        .is_some_and(|r| r.status().as_u16() == 416) =>
                {
                    return Ok(Some(Bytes::new()));
                }
                Err(err) => return Err(map_error(key, err)),
            };
            Ok(Some(read_body(key, output.body).await?))
        })
    }

    fn put<'a>(&'a self, key: &'a str, bytes: Bytes, mode: PutMode) -> StoreFuture<'a, String> {
        Box::pin(async move {
            validate_key(key)?;
            let mut request = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(ByteStream::from(bytes));
            let conditional = matches!(mode, PutMode::IfMatch(_));
            request = match mode {
                PutMode::Overwrite => request,
                PutMode::IfAbsent => request.if_none_match("*"),
                PutMode::IfMatch(etag) => request.if_match(etag),
            };
            let output = request.send().await.map_err(|err| {
                // AWS answers `If-Match` on a missing key with 404, not 412: the precondition
                // failed all the same.
                if conditional && is_not_found(&err) {
                    ObjectStoreError::PreconditionFailed {
                        key: key.to_owned(),
                    }
                } else {
                    map_error(key, err)
                }
            })?;
            Ok(output.e_tag().unwrap_or_default().to_owned())
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<ObjectMeta>> {
        Box::pin(async move {
            let mut found = Vec::new();
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|err| map_error(prefix, err))?;
                for object in page.contents() {
                    if let Some(key) = object.key() {
                        found.push(ObjectMeta {
                            key: key.to_owned(),
                            size: object.size().unwrap_or_default().max(0) as u64,
                        });
                    }
                }
            }
            found.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(found)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            validate_key(key)?;
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|err| map_error(key, err))?;
            Ok(())
        })
    }
}

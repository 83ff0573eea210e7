//! The core's [`HttpClient`] over the Worker's `fetch`: how the S3 store reaches the bucket.

use bytes::Bytes;
use runner_core::object_store::{HttpClient, HttpClientError};
use runner_core::rt::BoxFuture;
use worker::{Fetch, Headers, Method, Request, RequestInit};

/// Sends requests with the host's `fetch`. It must be called from inside a request (a Worker's
/// I/O belongs to one): the shipper that uses it runs on the `/start` request's `LocalSet`.
#[derive(Debug, Default)]
pub(crate) struct FetchClient;

impl HttpClient for FetchClient {
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, HttpClientError>> {
        Box::pin(async move {
            // A JavaScript error is not `Send`: its message is all that can travel.
            send(request)
                .await
                .map_err(|err| HttpClientError::new(crate::js_error::plain(&err.to_string())))
        })
    }
}

async fn send(request: http::Request<Bytes>) -> worker::Result<http::Response<Bytes>> {
    let (parts, body) = request.into_parts();
    let headers = Headers::new();
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            headers.set(name.as_str(), value)?;
        }
    }
    let mut init = RequestInit::new();
    init.with_method(Method::from(parts.method.as_str().to_owned()))
        .with_headers(headers);
    if !body.is_empty() {
        init.with_body(Some(js_sys::Uint8Array::from(body.as_ref()).into()));
    }
    let request = Request::new_with_init(&parts.uri.to_string(), &init)?;
    let mut response = Fetch::Request(request).send().await?;
    let mut answer = http::Response::builder().status(response.status_code());
    for (name, value) in response.headers() {
        answer = answer.header(name, value);
    }
    let body = Bytes::from(response.bytes().await?);
    answer
        .body(body)
        .map_err(|err| worker::Error::RustError(err.to_string()))
}

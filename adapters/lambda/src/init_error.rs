//! Init failures reported to the Runtime API's `/runtime/init/error`, so Lambda answers the
//! invocation that started this environment with `Runtime.InitError` and the message (instead of
//! a bare "runtime exited"), and the message reaches the function's logs and metrics.

use http::Method;
use lambda_runtime_api_client::{Client, body::Body};

/// Lambda's error type for a runtime that could not start.
pub(crate) const ERROR_TYPE: &str = "Runtime.InitError";

/// Posts `message` to `/runtime/init/error`. A failure to report is logged, never hidden: the
/// caller exits with the message either way.
pub(crate) async fn report(message: &str) {
    if let Err(err) = post(message).await {
        tracing::error!(error = %err, "could not report the init error to the Runtime API");
    }
}

async fn post(message: &str) -> Result<(), lambda_runtime_api_client::BoxError> {
    let Ok(endpoint) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return Err("AWS_LAMBDA_RUNTIME_API is not set (not running on Lambda?)".into());
    };
    let client = Client::builder()
        .with_endpoint(format!("http://{endpoint}").parse()?)
        .build()?;
    let request = lambda_runtime_api_client::build_request()
        .method(Method::POST)
        .uri("/2018-06-01/runtime/init/error")
        .header("lambda-runtime-function-error-type", ERROR_TYPE)
        .header("content-type", "application/json")
        .body(Body::from(body(message)))?;
    let response = client.call(request).await?;
    if !response.status().is_success() {
        return Err(format!("the Runtime API answered {}", response.status()).into());
    }
    Ok(())
}

/// Lambda's error shape: `{"errorType", "errorMessage"}`.
fn body(message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "errorType": ERROR_TYPE, "errorMessage": message }))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_body_is_lambdas_error_shape() {
        let body: serde_json::Value =
            serde_json::from_slice(&super::body("no \"secret\"")).unwrap();
        assert_eq!(body["errorType"], "Runtime.InitError");
        assert_eq!(body["errorMessage"], "no \"secret\"");
    }
}

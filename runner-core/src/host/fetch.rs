//! Tunnelled HTTP requests to an actor: actions, queue sends and raw `/request/*`.

use std::collections::HashMap;
use std::time::Duration;

use rivet_envoy_client::config::{HttpRequest, HttpResponse};

use crate::actor::{ActionError, ActorHandle, MAX_QUEUE_WAIT, RawRequest};
use crate::client::{
    ActorRoute, ActorSpec, Encoding, decode_action_args, decode_queue_send, encode_action_output,
    encode_http_error, encode_queue_outcome, route_path,
};

/// Largest action request body (and `/connect` frame) accepted: RivetKit's default
/// `maxIncomingMessageSize`, 64 KiB.
pub(super) const MAX_INCOMING_MESSAGE: usize = 64 * 1024;

pub(super) async fn handle(actor: Option<ActorHandle>, request: HttpRequest) -> HttpResponse {
    let Some(actor) = actor else {
        // A 503 with `x-rivet-error` makes the gateway retry with a fresh route.
        return HttpResponse {
            status: 503,
            headers: HashMap::from([(
                "x-rivet-error".to_owned(),
                "envoy.actor_not_found".to_owned(),
            )]),
            body: Some(b"actor not found on this runner".to_vec()),
            body_stream: None,
        };
    };
    let encoding = Encoding::from_name(header(&request, "x-rivet-encoding"));
    let spec = ActorSpec {
        actor_id: actor.actor_id().to_owned(),
        generation: actor.generation(),
        key: actor.key().map(str::to_owned),
    };
    let mut response = match route_path(&request.path) {
        ActorRoute::Action(name) if request.method == "POST" => {
            action(&actor, &name, encoding, &request, &spec).await
        }
        ActorRoute::Action(_) => error_response(
            encoding,
            &ActionError::new("actor", "method_not_allowed", "actions take POST"),
            405,
            &spec,
        ),
        ActorRoute::Request(path) => raw_request(&actor, path, request, encoding, &spec).await,
        ActorRoute::Queue(name) if request.method == "POST" => {
            queue_send(&actor, name, encoding, &request, &spec).await
        }
        ActorRoute::Queue(_) => error_response(
            encoding,
            &ActionError::new("actor", "method_not_allowed", "queue sends take POST"),
            405,
            &spec,
        ),
        ActorRoute::Health => plain(200, "ok"),
        ActorRoute::Connect | ActorRoute::NotFound => error_response(
            encoding,
            &ActionError::new(
                "actor",
                "not_found",
                format!("no route for `{}`", request.path),
            ),
            404,
            &spec,
        ),
    };
    add_actor_headers(&mut response, &spec);
    response
}

async fn action(
    actor: &ActorHandle,
    name: &str,
    encoding: Encoding,
    request: &HttpRequest,
    spec: &ActorSpec,
) -> HttpResponse {
    let (args, params) = match decoded(
        request,
        encoding,
        spec,
        "action request",
        decode_action_args,
    ) {
        Ok(decoded) => decoded,
        Err(refusal) => return refusal,
    };
    let output = actor.http_action(name, args, params).await;
    encoded(encoding, spec, output, |encoding, output| {
        encode_action_output(encoding, output)
    })
}

/// A client's message for the actor's queue (RivetKit's `handle.send(name, body, {wait,
/// timeout})`).
async fn queue_send(
    actor: &ActorHandle,
    name: String,
    encoding: Encoding,
    request: &HttpRequest,
    spec: &ActorSpec,
) -> HttpResponse {
    let (send, params) = match decoded(request, encoding, spec, "queue send", decode_queue_send) {
        Ok(decoded) => decoded,
        Err(refusal) => return refusal,
    };
    let wait = send.wait.then(|| {
        send.timeout_ms
            .map_or(MAX_QUEUE_WAIT, Duration::from_millis)
    });
    let outcome = actor.queue_send(name, send.body, wait, params).await;
    encoded(encoding, spec, outcome, encode_queue_outcome)
}

/// A framework call's body decoded with `decode`, and its connection params; or the response
/// refusing it (too large, undecodable, bad params).
fn decoded<T>(
    request: &HttpRequest,
    encoding: Encoding,
    spec: &ActorSpec,
    what: &str,
    decode: impl FnOnce(Encoding, &[u8]) -> Result<T, String>,
) -> Result<(T, Vec<u8>), HttpResponse> {
    let body = request.body.as_deref().unwrap_or_default();
    if body.len() > MAX_INCOMING_MESSAGE {
        let error = ActionError::new(
            "message",
            "incoming_too_long",
            format!("the request body is larger than {MAX_INCOMING_MESSAGE} bytes"),
        );
        return Err(error_response(encoding, &error, 400, spec));
    }
    let value = decode(encoding, body).map_err(|detail| {
        let error = ActionError::new(
            "actor",
            "invalid_request",
            format!("could not decode {what}: {detail}"),
        );
        error_response(encoding, &error, 400, spec)
    })?;
    let params =
        http_params(request).map_err(|error| error_response(encoding, &error, 400, spec))?;
    Ok((value, params))
}

/// A framework call's result, encoded with `encode`, or its error.
fn encoded<T>(
    encoding: Encoding,
    spec: &ActorSpec,
    result: Result<T, ActionError>,
    encode: impl FnOnce(Encoding, &T) -> Result<Vec<u8>, String>,
) -> HttpResponse {
    let value = match result {
        Ok(value) => value,
        Err(error) => return error_response(encoding, &error, error.http_status(), spec),
    };
    match encode(encoding, &value) {
        Ok(body) => HttpResponse {
            status: 200,
            headers: HashMap::from([(
                "content-type".to_owned(),
                encoding.content_type().to_owned(),
            )]),
            body: Some(body),
            body_stream: None,
        },
        Err(detail) => error_response(encoding, &ActionError::internal(detail), 500, spec),
    }
}

async fn raw_request(
    actor: &ActorHandle,
    path: String,
    request: HttpRequest,
    encoding: Encoding,
    spec: &ActorSpec,
) -> HttpResponse {
    let params = match http_params(&request) {
        Ok(params) => params,
        Err(error) => return error_response(encoding, &error, 400, spec),
    };
    let raw = RawRequest {
        method: request.method,
        path,
        headers: request.headers,
        body: request.body.unwrap_or_default(),
    };
    match actor.request(raw, params).await {
        Ok(Some(response)) => HttpResponse {
            status: response.status,
            headers: response.headers,
            body: Some(response.body),
            body_stream: None,
        },
        Ok(None) => error_response(
            encoding,
            &ActionError::new("actor", "not_found", "this actor has no request handler"),
            404,
            spec,
        ),
        Err(error) => error_response(encoding, &error, error.http_status(), spec),
    }
}

fn error_response(
    encoding: Encoding,
    error: &ActionError,
    status: u16,
    spec: &ActorSpec,
) -> HttpResponse {
    HttpResponse {
        status,
        headers: HashMap::from([(
            "content-type".to_owned(),
            encoding.content_type().to_owned(),
        )]),
        body: Some(encode_http_error(encoding, error, Some(spec))),
        body_stream: None,
    }
}

fn plain(status: u16, body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: HashMap::from([("content-type".to_owned(), "text/plain".to_owned())]),
        body: Some(body.as_bytes().to_vec()),
        body_stream: None,
    }
}

fn add_actor_headers(response: &mut HttpResponse, spec: &ActorSpec) {
    let headers = &mut response.headers;
    headers.insert("x-rivet-actor".to_owned(), spec.actor_id.clone());
    headers.insert(
        "x-rivet-actor-generation".to_owned(),
        spec.generation.to_string(),
    );
    if let Some(key) = spec.key.as_ref().filter(|k| !k.contains(['\r', '\n'])) {
        headers.insert("x-rivet-actor-key".to_owned(), key.clone());
    }
}

/// The connection params of an HTTP call: RivetKit's clients send them as JSON in
/// `x-rivet-conn-params`.
fn http_params(request: &HttpRequest) -> Result<Vec<u8>, ActionError> {
    match header(request, "x-rivet-conn-params") {
        Some(json) => crate::client::params::from_json(json),
        None => Ok(Vec::new()),
    }
}

fn header<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

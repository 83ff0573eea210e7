//! The native side of `http.js` (`fetch`, `Request`, `Response`): outbound requests, the bytes
//! of bodies, which cross as `Uint8Array`s through a slot on the host rather than as JSON, and
//! UTF-8 for `text()` and string bodies. Also the JSON an `onRequest` call is made with and the
//! response it answers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use rquickjs::function::Opt;
use rquickjs::{ArrayBuffer, Ctx, Function, Object, TypedArray};
use serde_json::json;

use super::host::{JsHost, fail};
use crate::actor::{ActionError, RawRequest, RawResponse};
use crate::sandbox::outbound::OutboundRequest;

/// The header RivetKit reads a proxied request's original URL from (and removes).
const ORIGINAL_URL_HEADER: &str = "x-rivet-internal-original-request-url";
/// The origin of a raw request's URL when it has none of its own, as in RivetKit.
const REQUEST_ORIGIN: &str = "http://127.0.0.1";

/// Bodies on their way between the runner and the guest.
#[derive(Default)]
pub(super) struct BodySlots {
    /// For the guest to take: the body of the request `onRequest` gets, or of a fetched
    /// response.
    pub(super) inbound: Option<Vec<u8>>,
    /// What the guest handed over: the body of the response `onRequest` answered.
    pub(super) outbound: Option<Vec<u8>>,
}

/// Registers `fetch`, `takeBody`, `putBody`, `encodeUtf8` and `decodeUtf8` on `object`.
pub(super) fn http_functions<'js>(
    ctx: &Ctx<'js>,
    object: &Object<'js>,
    host: &Arc<JsHost>,
) -> rquickjs::Result<()> {
    let h = host.clone();
    object.set(
        "fetch",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, request: String, body: Opt<TypedArray<'js, u8>>| {
                let body = match body.0 {
                    Some(body) => copy_bytes(&ctx, &body)?,
                    None => Vec::new(),
                };
                Ok::<_, rquickjs::Error>(fetch(&h, &request, body))
            },
        )?,
    )?;
    let h = host.clone();
    object.set(
        "takeBody",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>| {
            let bytes = h.bodies().inbound.take().unwrap_or_default();
            // A copy QuickJS allocates, so the memory limit counts it (a buffer made from a
            // Rust allocation is not counted, nor is its growth through `transfer`).
            ArrayBuffer::new_copy(ctx, bytes)
        })?,
    )?;
    let h = host.clone();
    object.set(
        "putBody",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, body: TypedArray<'js, u8>| {
                h.bodies().outbound = Some(copy_bytes(&ctx, &body)?);
                Ok::<_, rquickjs::Error>(())
            },
        )?,
    )?;
    object.set(
        "encodeUtf8",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, text: String| {
            ArrayBuffer::new_copy(ctx, text.as_bytes())
        })?,
    )?;
    object.set(
        "decodeUtf8",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, bytes: TypedArray<'js, u8>, keep_bom: Opt<bool>| {
                let bytes = copy_bytes(&ctx, &bytes)?;
                // `text()` drops a leading BOM, as the Encoding standard's UTF-8 decode does.
                let text = match keep_bom.0 {
                    Some(true) => &bytes[..],
                    _ => bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes),
                };
                Ok::<_, rquickjs::Error>(String::from_utf8_lossy(text).into_owned())
            },
        )?,
    )?;
    Ok(())
}

/// The bytes of `array`, copied out before any script runs again; a detached one is a
/// `TypeError`.
pub(super) fn copy_bytes<'js>(
    ctx: &Ctx<'js>,
    array: &TypedArray<'js, u8>,
) -> rquickjs::Result<Vec<u8>> {
    #[expect(
        unsafe_code,
        reason = "the slice is copied at once, and no JavaScript runs while it lives"
    )]
    // SAFETY: the slice aliases the engine's buffer only until `to_vec` returns; nothing in
    // between runs JavaScript, which alone could detach or resize it.
    let bytes = unsafe { array.as_bytes().map(<[u8]>::to_vec) };
    match bytes {
        Some(bytes) => Ok(bytes),
        None => {
            // Reading a detached array left QuickJS's own exception pending: ours replaces it.
            let _ = ctx.catch();
            Err(rquickjs::Exception::throw_type(
                ctx,
                "the array's buffer is detached",
            ))
        }
    }
}

/// An outbound request under the namespace's policy; the response's body waits in the inbound
/// slot for `takeBody`.
fn fetch(host: &JsHost, request: &str, body: Vec<u8>) -> String {
    #[derive(serde::Deserialize)]
    struct Head {
        method: String,
        url: String,
        headers: Vec<(String, String)>,
    }
    let head: Head = match serde_json::from_str(request) {
        Ok(head) => head,
        Err(err) => return fail("actor", "fetch_invalid", err),
    };
    let request = OutboundRequest {
        method: head.method,
        url: head.url,
        headers: head.headers,
        body,
    };
    let Some(outbound) = &host.outbound else {
        let denied = crate::sandbox::outbound::FetchError::Denied(request.url);
        return fail("actor", denied.code(), denied);
    };
    let started = Instant::now();
    let result = outbound.fetch(request);
    host.guard.clock.give_back(started.elapsed());
    match result {
        Ok(response) => {
            host.bodies().inbound = Some(response.body);
            json!({"ok": {"status": response.status, "headers": response.headers}}).to_string()
        }
        Err(err) => fail("actor", err.code(), err),
    }
}

/// The JSON `http.js` builds `onRequest`'s `Request` from, as RivetKit builds it: the URL is
/// the original one a proxy passed in its header, else the path under RivetKit's origin.
/// Headers `Headers` would refuse (a value past U+00FF, say) are left out, and an original URL
/// that is not an http(s) URL is ignored: a client cannot make the request fail before the
/// actor's code sees it.
pub(super) fn request_head(request: &RawRequest) -> String {
    let mut headers = request.headers.clone();
    let url = headers
        .remove(ORIGINAL_URL_HEADER)
        .filter(|url| {
            reqwest::Url::parse(url).is_ok_and(|url| matches!(url.scheme(), "http" | "https"))
        })
        .unwrap_or_else(|| format!("{REQUEST_ORIGIN}{}", request.path));
    let mut headers: Vec<(String, String)> = headers
        .into_iter()
        .filter(|(name, value)| valid_header(name, value))
        .collect();
    headers.sort();
    json!({"method": request.method, "url": url, "headers": headers}).to_string()
}

/// A header `Headers` accepts: a token for a name, and a value of characters up to U+00FF
/// without NUL, CR or LF.
fn valid_header(name: &str, value: &str) -> bool {
    http::HeaderName::from_bytes(name.as_bytes()).is_ok()
        && value
            .chars()
            .all(|c| c <= '\u{ff}' && !matches!(c, '\0' | '\r' | '\n'))
}

/// Headers that frame the message or the connection: the runner sets them, not the actor.
const FRAMING_HEADERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
];

/// The response `onRequest` answered: its head as JSON (`null`: none, RivetKit's 404) and the
/// body it handed over.
pub(super) fn response(
    head: &str,
    body: Option<Vec<u8>>,
) -> Result<Option<RawResponse>, ActionError> {
    #[derive(serde::Deserialize)]
    struct Head {
        status: f64,
        headers: Vec<(String, String)>,
    }
    let invalid = |detail: String| ActionError::new("actor", "invalid_response", detail);
    let Some(head): Option<Head> = serde_json::from_str(head).map_err(|e| {
        invalid(format!(
            "onRequest answered something other than a Response: {e}"
        ))
    })?
    else {
        return Ok(None);
    };
    if !(200.0..=599.0).contains(&head.status) || head.status.fract() != 0.0 {
        return Err(invalid(format!(
            "onRequest answered status {}; a response's status is 200 to 599",
            head.status
        )));
    }
    let mut headers = HashMap::new();
    for (name, value) in head.headers {
        // A Response-like object of the actor's own can hold what `Headers` would refuse.
        if !valid_header(&name, &value) {
            return Err(invalid(format!(
                "onRequest answered an invalid header `{}`",
                name.escape_debug()
            )));
        }
        let name = name.to_ascii_lowercase();
        if FRAMING_HEADERS.contains(&name.as_str()) {
            continue;
        }
        if let Some(earlier) = headers.insert(name.clone(), value) {
            // The runner's responses hold one value per name.
            tracing::warn!(header = %name, dropped = %earlier, "onRequest answered a header twice; the last value is sent");
        }
    }
    let status = head.status as u16;
    // 204, 205 and 304 carry no body.
    let body = match status {
        204 | 205 | 304 => Vec::new(),
        _ => body.unwrap_or_default(),
    };
    Ok(Some(RawResponse {
        status,
        headers,
        body,
    }))
}

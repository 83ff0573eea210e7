//! JavaScript actors' HTTP and WebSockets as RivetKit code writes them, started directly (no
//! engine): `onRequest(c, request)` with a WinterTC `Request` and `Response` (bytes both ways),
//! `fetch` with `Headers` and bodies through the operator's outbound policy, and
//! `onWebSocket(c, websocket)`.

use std::collections::HashMap;
use std::sync::Arc;

use runner_core::actor::{ActorHandle, RawRequest, RawResponse};
use runner_core::sandbox::SandboxLimits;
use runner_core::sandbox::js::{JsFactory, JsRuntime};
use runner_core::sandbox::{OutboundPolicy, OutboundRule};
use runner_core::storage::ActorStore;
use runner_core::testing::NAMESPACE;
use runner_tests::fake_api::FakeApi;
use runner_tests::sandbox::{call, js_factory, start_actor};
use serde_json::{Value, json};

const HTTP: &str = r#"

export default actor({
  state: { hits: 0 },
  actions: {
    hits: (c) => c.state.hits,
    call: async (c, url) => {
      const headers = new Headers({ "X-Token": "t1" });
      headers.append("accept", "text/plain");
      const response = await fetch(new Request(url, { method: "post", headers, body: JSON.stringify({ a: 1 }) }));
      return { status: response.status, ok: response.ok, url: response.url, text: await response.text(),
               type: response.headers.get("content-type"), used: response.bodyUsed };
    },
  },
  onRequest: async (c, request) => {
    c.state.hits += 1;
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/echo": {
        const bytes = await request.bytes();
        return new Response(bytes, {
          status: 201,
          headers: { "x-method": request.method, "x-length": String(bytes.length),
                     "x-type": request.headers.get("content-type") ?? "none" },
        });
      }
      case "/json": {
        const body = await request.json();
        return Response.json({ got: body, q: url.searchParams.get("q"), used: request.bodyUsed, url: request.url });
      }
      case "/text": {
        const copy = request.clone();
        return new Response(`${await request.text()}|${(await copy.arrayBuffer()).byteLength}`);
      }
      case "/twice": {
        await request.text();
        return request.text().then(() => new Response("read twice"), (e) => new Response(e.constructor.name));
      }
      case "/stream": {
        const chunks = [];
        for await (const chunk of request.body) chunks.push(chunk.length);
        return new Response(new Response(String(chunks)).body);
      }
      case "/headers": {
        const h = new Headers([["b", "2"], ["a", "1"]]);
        h.append("A", "3");
        h.append("set-cookie", "x=1");
        h.append("set-cookie", "y=2");
        let bad = "none";
        try { h.set("x", "a\nb"); } catch (e) { bad = e.constructor.name; }
        return new Response(JSON.stringify({ list: [...h], bad }), { headers: h });
      }
      case "/empty": return new Response(null, { status: 204 });
      case "/method": return new Response(`${request.method} ${request.url}`);
      case "/surrogate": return new Response("a\uD800b", { headers: { "content-length": "999", "x-name": "café" } });
      case "/redirect": return Response.redirect("https://example.com/next", 307);
      case "/plain": return { status: 200, headers: {}, body: "a plain object" };
      case "/refuse": throw new UserError("no teapots", { code: "teapot" });
      case "/status": return new Response("x", { status: Number(url.searchParams.get("s")) });
      default: return new Response("not found", { status: 404 });
    }
  },
});
"#;

async fn send(
    actor: &ActorHandle,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<RawResponse, runner_core::actor::ActionError> {
    let request = RawRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect::<HashMap<_, _>>(),
        body: body.to_vec(),
    };
    Ok(actor
        .request(request, Vec::new())
        .await?
        .expect("onRequest answered"))
}

fn text(response: &RawResponse) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_request_takes_a_request_and_answers_a_response_with_bytes_both_ways()
-> anyhow::Result<()> {
    let runtime = JsRuntime::new(SandboxLimits::default())?;
    let dir = tempfile::tempdir()?;
    let actor = start_actor(
        js_factory(&runtime, "http", HTTP),
        &ActorStore::new(dir.path()),
        "h1",
    )
    .await?;

    let every_byte: Vec<u8> = (0..=255).collect();
    let echo = send(
        &actor,
        "post",
        "/echo",
        &[("content-type", "application/octet-stream")],
        &every_byte,
    )
    .await?;
    assert_eq!(echo.status, 201);
    assert_eq!(echo.body, every_byte, "binary bodies cross unchanged");
    assert_eq!(echo.headers["x-method"], "POST", "methods are normalized");
    assert_eq!(echo.headers["x-length"], "256");
    assert_eq!(echo.headers["x-type"], "application/octet-stream");

    let json_reply = send(
        &actor,
        "PUT",
        "/json?q=%C3%A9t%C3%A9",
        &[],
        br#"{"n":[1,2]}"#,
    )
    .await?;
    assert_eq!(
        json_reply.headers["content-type"], "application/json",
        "Response.json sets its type"
    );
    let parsed: Value = serde_json::from_slice(&json_reply.body)?;
    assert_eq!(
        parsed,
        json!({"got": {"n": [1, 2]}, "q": "été", "used": true,
               "url": "http://127.0.0.1/json?q=%C3%A9t%C3%A9"})
    );

    let utf8 = send(&actor, "POST", "/text", &[], "héllo ✓".as_bytes()).await?;
    assert_eq!(
        text(&utf8),
        "héllo ✓|10",
        "UTF-8 text, and a clone reads its own copy"
    );
    assert_eq!(utf8.headers["content-type"], "text/plain;charset=UTF-8");
    let twice = send(&actor, "POST", "/twice", &[], b"x").await?;
    assert_eq!(text(&twice), "TypeError", "a body is read once");
    let stream = send(&actor, "POST", "/stream", &[], &[7; 300]).await?;
    assert_eq!(
        text(&stream),
        "300",
        "a body's stream, handed to another Response"
    );

    let headers = send(&actor, "GET", "/headers", &[], b"").await?;
    let listed: Value = serde_json::from_slice(&headers.body)?;
    assert_eq!(
        listed,
        json!({"list": [["a", "1, 3"], ["b", "2"], ["set-cookie", "x=1"], ["set-cookie", "y=2"]],
               "bad": "TypeError"}),
        "sorted, lowercased, joined, set-cookie apart, CR/LF refused"
    );
    assert_eq!(headers.headers["a"], "1, 3");

    let traced = send(
        &actor,
        "TRACE",
        "/method",
        &[("x-rivet-internal-original-request-url", "not a url")],
        b"",
    )
    .await?;
    assert_eq!(
        text(&traced),
        "TRACE http://127.0.0.1/method",
        "a client's method and a bad original URL do not fail the request"
    );
    let surrogate = send(&actor, "GET", "/surrogate", &[], b"").await?;
    assert_eq!(
        surrogate.body,
        "a\u{FFFD}b".as_bytes(),
        "a lone surrogate is U+FFFD"
    );
    assert_eq!(surrogate.headers["x-name"], "café");
    assert!(
        !surrogate.headers.contains_key("content-length"),
        "framing headers are the runner's"
    );
    let empty = send(&actor, "GET", "/empty", &[], b"").await?;
    assert_eq!((empty.status, empty.body.len()), (204, 0));
    let redirect = send(&actor, "GET", "/redirect", &[], b"").await?;
    assert_eq!(
        (redirect.status, redirect.headers["location"].as_str()),
        (307, "https://example.com/next")
    );
    let missing = send(&actor, "GET", "/nowhere", &[], b"").await?;
    assert_eq!(
        (missing.status, text(&missing).as_str()),
        (404, "not found")
    );

    let plain = send(&actor, "GET", "/plain", &[], b"").await.unwrap_err();
    assert!(
        plain.message.contains("must return a Response"),
        "a plain object is not a Response, as in RivetKit: {plain}"
    );
    let refused = send(&actor, "GET", "/refuse", &[], b"").await.unwrap_err();
    assert_eq!(
        (refused.group.as_str(), refused.code.as_str()),
        ("user", "teapot")
    );
    let status = send(&actor, "GET", "/status?s=99", &[], b"")
        .await
        .unwrap_err();
    assert!(status.message.contains("RangeError"), "{status}");

    assert_eq!(
        call(&actor, "hits", json!([])).await?,
        json!(11),
        "a request that fails has its writes undone"
    );
    actor.stop(false).await.map_err(anyhow::Error::msg)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_sends_a_request_object_and_reads_the_response() -> anyhow::Result<()> {
    let api = FakeApi::start("pong ✓").await?;
    let rule = OutboundRule::new(&api.origin())?.allowing_private_addresses();
    let policy = Arc::new(OutboundPolicy::new().allow(NAMESPACE, rule));
    let runtime = JsRuntime::new(SandboxLimits::default())?;
    let code = runtime.compile("http", HTTP)?;
    let factory = Arc::new(JsFactory::new("http", code).with_outbound(policy));
    let dir = tempfile::tempdir()?;
    let actor = start_actor(factory, &ActorStore::new(dir.path()), "f1").await?;

    let url = format!("{}/v1/ping", api.origin());
    let answer = call(&actor, "call", json!([url])).await?;
    assert_eq!(
        answer,
        json!({"status": 200, "ok": true, "url": url, "text": "pong ✓", "type": null, "used": true})
    );
    let sent = api.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body, r#"{"a":1}"#);
    let header = |name: &str| {
        sent[0]
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("x-token").as_deref(), Some("t1"));
    assert_eq!(header("accept").as_deref(), Some("text/plain"));
    assert_eq!(
        header("content-type").as_deref(),
        Some("text/plain;charset=UTF-8"),
        "a string body's type"
    );
    actor.stop(false).await.map_err(anyhow::Error::msg)?;
    Ok(())
}

const SOCKETS: &str = r#"
export default actor({
  state: { connectionCount: 0, messageCount: 0, lastClose: null },
  onBeforeConnect: (c, params) => {
    if (params && params.deny) throw new UserError("not you", { code: "denied" });
  },
  onWebSocket(c, ws) {
    c.state.connectionCount += 1;
    ws.send(JSON.stringify({ type: "welcome", count: c.state.connectionCount,
                             path: new URL(c.request.url).pathname, url: ws.url, open: ws.readyState === ws.OPEN }));
    ws.addEventListener("message", (event) => {
      c.state.messageCount += 1;
      if (typeof event.data !== "string") return ws.send(new Uint8Array(event.data).reverse());
      if (event.data === "close") return ws.close(4001, "bye");
      if (event.data === "spin") for (;;) {}
      ws.send(event.data);
    });
    ws.onclose = (event) => {
      c.state.connectionCount -= 1;
      c.state.lastClose = [event.code, event.reason];
    };
  },
  actions: { stats: (c) => c.state },
});
"#;

/// What a raw WebSocket's client received.
#[derive(Default)]
struct SocketClient(
    std::sync::Mutex<Vec<(Vec<u8>, bool)>>,
    std::sync::Mutex<Option<u16>>,
);

impl runner_core::actor::ConnSink for SocketClient {
    fn event(&self, _: &str, _: &[u8]) {}
    fn close(&self, _: &str) {}
    fn frame(&self, data: &[u8], binary: bool) {
        self.0.lock().unwrap().push((data.to_vec(), binary));
    }
    fn close_with(&self, code: u16, _: &str) {
        *self.1.lock().unwrap() = Some(code);
    }
}

impl SocketClient {
    fn frames(&self) -> Vec<(Vec<u8>, bool)> {
        self.0.lock().unwrap().clone()
    }
    fn closed(&self) -> Option<u16> {
        *self.1.lock().unwrap()
    }
}

fn socket_request(path: &str) -> RawRequest {
    RawRequest {
        method: "GET".to_owned(),
        path: path.to_owned(),
        headers: HashMap::new(),
        body: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_websocket_echoes_text_and_binary_and_hears_closes_with_its_writes_kept()
-> anyhow::Result<()> {
    let runtime = JsRuntime::new(SandboxLimits {
        call_time: std::time::Duration::from_millis(300),
        ..SandboxLimits::default()
    })?;
    let dir = tempfile::tempdir()?;
    let actor = start_actor(
        js_factory(&runtime, "sockets", SOCKETS),
        &ActorStore::new(dir.path()),
        "s1",
    )
    .await?;

    let client = Arc::new(SocketClient::default());
    let conn = actor
        .open_socket(
            client.clone(),
            Vec::new(),
            socket_request("/websocket/room?x=1"),
        )
        .await?;
    let welcome: Value = serde_json::from_slice(&client.frames()[0].0)?;
    assert_eq!(
        welcome,
        json!({"type": "welcome", "count": 1, "path": "/websocket/room",
               "url": "ws://127.0.0.1/websocket/room?x=1", "open": true})
    );
    actor
        .socket_message(conn.clone(), b"hello".to_vec(), false)
        .await;
    actor
        .socket_message(conn.clone(), vec![1, 2, 3], true)
        .await;
    assert_eq!(
        client.frames()[1..],
        [(b"hello".to_vec(), false), (vec![3, 2, 1], true)],
        "text echoes as text, binary as binary"
    );
    let stats = call(&actor, "stats", json!([])).await?;
    assert_eq!(
        (&stats["connectionCount"], &stats["messageCount"]),
        (&json!(1), &json!(2)),
        "a listener's writes are kept"
    );
    actor.close_socket(conn, 1000, "done".to_owned()).await;
    let stats = call(&actor, "stats", json!([])).await?;
    assert_eq!(
        (&stats["connectionCount"], &stats["lastClose"]),
        (&json!(0), &json!([1000, "done"]))
    );

    // The actor closes one itself: the client gets its code, the close listener runs.
    let closer = Arc::new(SocketClient::default());
    let conn = actor
        .open_socket(closer.clone(), Vec::new(), socket_request("/websocket/"))
        .await?;
    actor.socket_message(conn, b"close".to_vec(), false).await;
    assert_eq!(closer.closed(), Some(4001));
    let stats = call(&actor, "stats", json!([])).await?;
    assert_eq!(stats["lastClose"], json!([4001, "bye"]));

    // onBeforeConnect refuses it like a connection.
    let params = runner_tests::sandbox::cbor(&json!({"deny": true}));
    let refused = actor
        .open_socket(
            Arc::new(SocketClient::default()),
            params,
            socket_request("/websocket/"),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code, "denied", "{refused}");

    // A listener past the time limit: its sandbox is replaced and forgets the socket, which is
    // closed rather than left deaf.
    let spinner = Arc::new(SocketClient::default());
    let conn = actor
        .open_socket(spinner.clone(), Vec::new(), socket_request("/websocket/"))
        .await?;
    actor
        .socket_message(conn.clone(), b"spin".to_vec(), false)
        .await;
    actor.socket_message(conn, b"hello?".to_vec(), false).await;
    assert_eq!(
        spinner.closed(),
        Some(1011),
        "a socket the sandbox lost is closed"
    );
    // Its close listener went with the old sandbox: the count it kept stays as it was.
    assert_eq!(
        call(&actor, "stats", json!([])).await?["connectionCount"],
        json!(1)
    );
    actor.stop(false).await.map_err(anyhow::Error::msg)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_websocket_to_an_actor_without_on_websocket_is_refused() -> anyhow::Result<()> {
    let runtime = JsRuntime::new(SandboxLimits::default())?;
    let dir = tempfile::tempdir()?;
    let actor = start_actor(
        js_factory(&runtime, "http", HTTP),
        &ActorStore::new(dir.path()),
        "n1",
    )
    .await?;
    let err = actor
        .open_socket(
            Arc::new(SocketClient::default()),
            Vec::new(),
            socket_request("/websocket/"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, "not_found", "{err}");
    Ok(())
}

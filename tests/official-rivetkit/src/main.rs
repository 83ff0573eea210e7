//! The official RivetKit Rust runtime (`rivetkit` 2.3.19, `CoreServerlessRuntime`) hosting a
//! counter equivalent to `examples/counter`, served on a loopback address. The benchmark runs it
//! beside this project's runner on the same engine.
//!
//! `OFFICIAL_LISTEN=127.0.0.1:PORT OFFICIAL_ENGINE_ENDPOINT=http://127.0.0.1:6420 official-rivetkit-counter`

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use futures::stream;
use rivetkit::action::{Action, Raw};
use rivetkit::prelude::*;
use rivetkit::BindParam;
use rivetkit::{CoreServerlessRuntime, EngineSpawnMode, Registry, ServeConfig, ServerlessRequest};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Default, Serialize, Deserialize)]
struct CounterState {
    count: i64,
}

struct Counter;

#[async_trait::async_trait]
impl Actor for Counter {
    type State = CounterState;
    type Input = ();
    type Actions = (Increment, Count);
    type Events = ();
    type Queue = ();
    type ConnParams = ();
    type ConnState = ();
    type Action = Raw;

    const HAS_DATABASE: bool = true;

    async fn create_state(_ctx: &Ctx<Self>, (): ()) -> anyhow::Result<CounterState> {
        Ok(CounterState::default())
    }

    async fn create(ctx: &Ctx<Self>) -> anyhow::Result<Self> {
        ctx.sql()
            .run(
                "CREATE TABLE IF NOT EXISTS increments (id INTEGER PRIMARY KEY AUTOINCREMENT, amount INTEGER NOT NULL, total INTEGER NOT NULL)",
                None,
            )
            .await?;
        Ok(Self)
    }
}

/// `increment(n)`: adds n, records it in SQLite, broadcasts `newCount`, returns the count.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Increment(i64);

impl Action for Increment {
    type Output = i64;
    const NAME: &'static str = "increment";
}

impl Handles<Increment> for Counter {
    type Future = std::pin::Pin<Box<dyn Future<Output = anyhow::Result<i64>> + Send>>;

    fn handle(self: Arc<Self>, ctx: Ctx<Self>, Increment(n): Increment) -> Self::Future {
        Box::pin(async move {
            let total = {
                let mut state = ctx.state_mut();
                state.count += n;
                state.count
            };
            ctx.sql()
                .run(
                    "INSERT INTO increments (amount, total) VALUES (?, ?)",
                    Some(vec![BindParam::Integer(n), BindParam::Integer(total)]),
                )
                .await?;
            ctx.broadcast("newCount", &total)?;
            Ok(total)
        })
    }
}

/// `count()`: reads the count.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Count;

impl Action for Count {
    type Output = i64;
    const NAME: &'static str = "count";
}

impl Handles<Count> for Counter {
    type Future = std::pin::Pin<Box<dyn Future<Output = anyhow::Result<i64>> + Send>>;

    fn handle(self: Arc<Self>, ctx: Ctx<Self>, _: Count) -> Self::Future {
        Box::pin(async move { Ok(ctx.state().count) })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();
    let listen = std::env::var("OFFICIAL_LISTEN").unwrap_or_else(|_| "127.0.0.1:8089".into());
    let endpoint = std::env::var("OFFICIAL_ENGINE_ENDPOINT").context("OFFICIAL_ENGINE_ENDPOINT")?;
    let mut registry = Registry::new();
    registry.register_actor::<Counter>("counter");
    let runtime = registry
        .into_serverless_runtime(ServeConfig {
            version: 1,
            endpoint,
            namespace: "default".into(),
            pool_name: "official".into(),
            engine_spawn: EngineSpawnMode::Never,
            serverless_base_path: Some("/api/rivet".into()),
            serverless_package_version: "2.3.19".into(),
            serverless_max_start_payload_bytes: 1 << 20,
            serverless_cache_envoy: true,
            ..Default::default()
        })
        .await?;
    let app = axum::Router::new().fallback(handle).with_state(runtime);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn handle(State(runtime): State<CoreServerlessRuntime>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers: HashMap<String, String> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_owned())))
        .collect();
    let host = headers.get("host").cloned().unwrap_or_else(|| "localhost".into());
    let url = format!("http://{host}{}", parts.uri.path_and_query().map_or("/", |pq| pq.as_str()));
    let body = to_bytes(body, runtime.max_request_body_bytes()).await.unwrap_or_default();
    let cancel = CancellationToken::new();
    let response = runtime
        .handle_request(ServerlessRequest {
            method: parts.method.as_str().to_owned(),
            url,
            headers,
            body: body.to_vec(),
            cancel_token: cancel.clone(),
        })
        .await;
    let guard = cancel.drop_guard();
    let chunks = stream::unfold((response.body, guard), |(mut rx, guard)| async move {
        let chunk = rx.recv().await?;
        let item = chunk.map(axum::body::Bytes::from).map_err(|e| std::io::Error::other(e.message));
        Some((item, (rx, guard)))
    });
    let mut builder = Response::builder().status(response.status);
    for (k, v) in &response.headers {
        builder = builder.header(k, v);
    }
    builder.body(Body::from_stream(chunks)).unwrap_or_default()
}

//! A stand-in for an LLM or tool API on loopback: answers every request with a fixed body and
//! records what it received, so a test can see what the runner added to an actor's request.

use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// One request as the API saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

/// The fake API.
#[derive(Debug, Clone)]
pub struct FakeApi {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeApi {
    /// Starts answering `answer` to every request.
    pub async fn start(answer: &'static str) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api = Self {
            addr: listener.local_addr()?,
            requests: Arc::default(),
        };
        let requests = api.requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let requests = requests.clone();
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let requests = requests.clone();
                    async move {
                        let headers = request
                            .headers()
                            .iter()
                            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
                            .collect();
                        let body = request.into_body().collect().await?.to_bytes();
                        requests
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(Recorded {
                                headers,
                                body: String::from_utf8_lossy(&body).into_owned(),
                            });
                        Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from(answer))))
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        Ok(api)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

//! A loopback TCP proxy in front of a runner that notes when each `POST …/start` arrives, so a
//! benchmark can measure `/start` → Running from outside any runner implementation.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The proxy; forwards everything, records the time of the latest `/start`.
#[derive(Debug, Clone)]
pub struct StartSpy {
    /// The address the engine should call instead of the runner.
    pub addr: std::net::SocketAddr,
    last_start_ms: Arc<AtomicI64>,
}

impl StartSpy {
    /// Proxies a new loopback port to `upstream`.
    pub async fn start(upstream: std::net::SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let spy = Self {
            addr: listener.local_addr()?,
            last_start_ms: Arc::new(AtomicI64::new(0)),
        };
        let last = spy.last_start_ms.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let last = last.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        pipe(client, server, last).await;
                    }
                });
            }
        });
        Ok(spy)
    }

    /// Unix ms of the latest `/start` seen (0 if none).
    pub fn last_start_ms(&self) -> i64 {
        self.last_start_ms.load(Ordering::Acquire)
    }
}

async fn pipe(client: TcpStream, server: TcpStream, last: Arc<AtomicI64>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if buf[..n].windows(6).any(|w| w == b"/start") && buf[..n].starts_with(b"POST ") {
                last.store(now_ms(), Ordering::Release);
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    };
    let downstream = async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
    };
    tokio::join!(upstream, downstream);
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

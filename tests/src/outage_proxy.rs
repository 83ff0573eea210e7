//! A TCP forwarder on loopback that can be switched off: an outage of the service behind it
//! (say, the S3 server) as a client in another process (workerd) sees it. Off, every open
//! connection is cut and new ones are closed at once; on again, it forwards as before.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct OutageProxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    up: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl OutageProxy {
    /// Forwards a new loopback port to `target` (`host:port`), switched on.
    pub async fn start(target: &str) -> anyhow::Result<Self> {
        let target: SocketAddr = tokio::net::lookup_host(target)
            .await?
            .next()
            .ok_or_else(|| anyhow::anyhow!("no address for {target}"))?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (up, watch) = watch::channel(true);
        let task = tokio::spawn(accept(listener, target, watch));
        Ok(Self { url, up, task })
    }

    /// Cuts every connection and refuses new ones until [`Self::restore`].
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

impl Drop for OutageProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, target: SocketAddr, up: watch::Receiver<bool>) {
    while let Ok((client, _)) = listener.accept().await {
        if !*up.borrow() {
            drop(client);
            continue;
        }
        tokio::spawn(forward(client, target, up.clone()));
    }
}

/// Copies both ways until either side closes or the proxy is switched off.
async fn forward(mut client: TcpStream, target: SocketAddr, mut up: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = up.wait_for(|up| !*up) => {}
    }
}

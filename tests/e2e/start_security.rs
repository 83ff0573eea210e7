//! `/start` is a security boundary: refused requests get precise errors and open no connection.

use std::time::Duration;

use runner_tests::TestRunner;

async fn post_start(
    runner: &TestRunner,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let mut request = reqwest::Client::new()
        .post(format!("{}/start", runner.url()))
        .body(body);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}

/// Declares a 2 MiB body and sends none of it: the runner must answer 413 from the header alone.
async fn oversized_start_response(runner: &TestRunner) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(runner.addr).await?;
    let request = "POST /api/rivet/start HTTP/1.1\r\nhost: runner\r\nx-runner-secret: test-secret\r\n\
        x-rivet-endpoint: http://127.0.0.1:6420\r\nx-rivet-namespace-name: default\r\n\
        x-rivet-pool-name: default\r\ncontent-length: 2097152\r\n\r\n";
    stream.write_all(request.as_bytes()).await?;
    let mut response = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut response)).await??;
    Ok(String::from_utf8_lossy(&response[..read]).into_owned())
}

/// A start body as the engine sends it (protocol 8, one CommandStartActor).
fn start_body() -> Vec<u8> {
    let id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut body = vec![8, 0, 1, 1, id.len() as u8];
    body.extend_from_slice(id.as_bytes());
    body.extend_from_slice(&1u32.to_le_bytes());
    body.extend_from_slice(&0i64.to_le_bytes());
    body.extend_from_slice(&[0, 7]);
    body.extend_from_slice(b"counter");
    body.push(0);
    body.extend_from_slice(&0i64.to_le_bytes());
    body.extend_from_slice(&[0, 0, 0]);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_starts_open_no_connection() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    // A listener standing in for an attacker's "engine": it must never be contacted.
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let trap_url = format!("http://{}", trap.local_addr()?);
    let runner = TestRunner::start("http://127.0.0.1:6420", &[]).await?;
    let engine_headers = |endpoint: &'static str| {
        vec![
            ("x-rivet-endpoint", endpoint),
            ("x-rivet-namespace-name", "default"),
            ("x-rivet-pool-name", "default"),
        ]
    };
    let trap_endpoint: &'static str = Box::leak(trap_url.into_boxed_str());

    let (status, body) = post_start(&runner, &engine_headers(trap_endpoint), start_body()).await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unauthorized")),
        "{body}"
    );

    let mut with_secret = engine_headers(trap_endpoint);
    with_secret.push(("x-runner-secret", "test-secret"));
    let (status, body) = post_start(&runner, &with_secret, start_body()).await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    assert!(body["message"].as_str().unwrap().contains(trap_endpoint));

    let mut allowed = engine_headers("http://127.0.0.1:6420");
    allowed.push(("x-runner-secret", "test-secret"));
    let (status, body) = post_start(&runner, &allowed, b"not a start payload".to_vec()).await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_payload")),
        "{body}"
    );
    let oversized = oversized_start_response(&runner).await?;
    assert!(oversized.starts_with("HTTP/1.1 413"), "{oversized}");
    assert!(oversized.contains("payload_too_large"), "{oversized}");

    let contacted = tokio::time::timeout(Duration::from_secs(1), trap.accept()).await;
    assert!(
        contacted.is_err(),
        "the runner connected to a refused endpoint"
    );

    // Still serving after all of that.
    let health = reqwest::get(format!("{}/health", runner.url())).await?;
    assert_eq!(health.status(), 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_engine_is_a_clear_503() -> anyhow::Result<()> {
    runner_tests::init_tracing();
    let port = runner_tests::free_port()?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let runner =
        TestRunner::start(&endpoint, &[("RUNNER_ENGINE_CONNECT_TIMEOUT_MS", "1500")]).await?;
    let headers = [
        ("x-rivet-endpoint", endpoint.as_str()),
        ("x-rivet-namespace-name", "default"),
        ("x-rivet-pool-name", "default"),
        ("x-runner-secret", "test-secret"),
    ];
    let (status, body) = post_start(&runner, &headers, start_body()).await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("engine_unreachable")),
        "{body}"
    );
    Ok(())
}

/// A client that sends its request head one byte a second (slowloris) is cut off: it cannot
/// hold a connection for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_sent_one_byte_a_second_is_closed_within_30_s() -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let runner = TestRunner::start("http://127.0.0.1:6420", &[]).await?;
    let mut stream = tokio::net::TcpStream::connect(runner.addr).await?;
    let started = std::time::Instant::now();
    let head = b"GET /api/rivet/metadata HTTP/1.1\r\nhost: runner\r\nx-padding: ";
    let mut closed = false;
    for byte in head.iter().chain(std::iter::repeat(&b'a')).take(40) {
        if stream.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) => {
                // An error response (408) is as good as a close; the close follows it.
                closed = true;
                break;
            }
            Err(_) => {}
        }
    }
    assert!(closed, "the slow client was still connected after 40 s");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

/// An unauthenticated `/start` with a body that never ends is refused from its head: the runner
/// reads none of the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthenticated_start_is_refused_before_its_body_is_read() -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let runner = TestRunner::start("http://127.0.0.1:6420", &[]).await?;
    let mut stream = tokio::net::TcpStream::connect(runner.addr).await?;
    let request = "POST /api/rivet/start HTTP/1.1\r\nhost: runner\r\n\
        x-rivet-endpoint: http://127.0.0.1:6420\r\nx-rivet-namespace-name: default\r\n\
        x-rivet-pool-name: default\r\ntransfer-encoding: chunked\r\n\r\n100000\r\n";
    stream.write_all(request.as_bytes()).await?;
    let mut response = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut response))
        .await
        .map_err(|_| anyhow::anyhow!("no answer while the body was pending"))??;
    let response = String::from_utf8_lossy(&response[..read]);
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    Ok(())
}

//! The server-sent-event stream a `/start` answers with.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::rt::{self, Instant};

use super::envoys::StartEnvoy;
use super::payload::StartCommand;

/// Sent at once and then every second; the engine ignores it, but it keeps proxies and the
/// platform from closing an idle stream.
pub(crate) const PING: &[u8] = b"event: ping\ndata:\n\n";
/// Tells the engine this actor generation has stopped; the stream ends after it.
pub(crate) const STOPPING: &[u8] = b"event: stopping\ndata:\n\n";

const PING_INTERVAL: Duration = Duration::from_secs(1);
/// How long an envoy owned by one `/start` gets to tell the engine it is going before the
/// stream ends (and, on hosts that tie I/O to the request, the socket with it).
const OWN_ENVOY_CLOSE: Duration = Duration::from_secs(2);

/// Streams pings until the actor generation stops, then `stopping`. If `drain_at` comes first,
/// the actor is asked to sleep so it persists and stops before the platform's deadline. An
/// envoy the start owns is closed before `stopping`.
pub(crate) async fn stream(
    start_envoy: StartEnvoy,
    start: StartCommand,
    drain_at: Option<Instant>,
    tx: mpsc::Sender<Bytes>,
) {
    let envoy = start_envoy.handle();
    let stopped = envoy.wait_actor_registered_then_stopped(&start.actor_id, start.generation);
    tokio::pin!(stopped);
    let mut ticks = rt::Interval::new(PING_INTERVAL);
    let mut drain_requested = false;
    loop {
        tokio::select! {
            () = &mut stopped => break,
            _ = ticks.tick() => {
                if tx.send(Bytes::from_static(PING)).await.is_err() {
                    tracing::debug!(actor_id = %start.actor_id, "start stream closed by the engine");
                    return;
                }
            }
            () = rt::sleep_until_opt(drain_at), if !drain_requested => {
                drain_requested = true;
                tracing::warn!(
                    actor_id = %start.actor_id,
                    generation = start.generation,
                    "platform deadline near and the engine has not drained the actor: requesting sleep"
                );
                envoy.sleep_actor(start.actor_id.clone(), Some(start.generation), None);
            }
        }
    }
    tracing::info!(actor_id = %start.actor_id, generation = start.generation, "actor stopped; ending start stream");
    start_envoy.release(OWN_ENVOY_CLOSE).await;
    let _ = tx.send(Bytes::from_static(STOPPING)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_well_formed_sse() {
        for frame in [PING, STOPPING] {
            let text = std::str::from_utf8(frame).unwrap();
            assert!(text.starts_with("event: "));
            assert!(text.ends_with("\n\n"));
            assert_eq!(text.matches('\n').count(), 3);
        }
    }
}

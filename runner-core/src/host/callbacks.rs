//! The `EnvoyCallbacks` implementation.

use std::collections::HashMap;
use std::sync::Arc;

use rivet_envoy_client::config::{
    ActorStopHandle, BoxFuture, EnvoyCallbacks, HttpRequest, HttpResponse, WebSocketHandler,
    WebSocketSender,
};
use rivet_envoy_client::handle::EnvoyHandle;
use rivet_envoy_client::protocol;

use crate::storage::ActorKey;

use super::control::EnvoyControl;
use super::{ActorHost, ActorStart};

/// Adapts [`ActorHost`] to the envoy client.
pub(crate) struct HostCallbacks(pub(crate) Arc<ActorHost>);

impl EnvoyCallbacks for HostCallbacks {
    fn on_actor_start(
        &self,
        envoy: EnvoyHandle,
        actor_id: String,
        generation: u32,
        config: protocol::ActorConfig,
        _preloaded_kv: Option<protocol::PreloadedKv>,
    ) -> BoxFuture<anyhow::Result<()>> {
        let host = self.0.clone();
        Box::pin(async move {
            let control = Arc::new(EnvoyControl {
                envoy: envoy.clone(),
                actor_id: actor_id.clone(),
                generation,
            });
            let start = ActorStart {
                namespace: envoy.namespace().to_owned(),
                actor_id,
                generation,
                name: config.name,
                key: config.key,
                input: config.input,
            };
            host.start(start, control)
                .await
                .map(drop)
                .map_err(for_engine)
        })
    }

    fn on_actor_stop_with_completion(
        &self,
        envoy: EnvoyHandle,
        actor_id: String,
        generation: u32,
        reason: protocol::StopActorReason,
        stop_handle: ActorStopHandle,
    ) -> BoxFuture<anyhow::Result<()>> {
        let host = self.0.clone();
        Box::pin(async move {
            // STOP_INTENT answered with Stopped{OK} destroys the actor, so both delete data.
            let destroy = matches!(
                reason,
                protocol::StopActorReason::StopIntent | protocol::StopActorReason::Destroy
            );
            tracing::info!(%actor_id, generation, ?reason, "stopping actor");
            let key = ActorKey {
                namespace: envoy.namespace().to_owned(),
                actor_id: actor_id.clone(),
            };
            let outcome = host.stop(&key, generation, destroy).await;
            if let Err(err) = &outcome {
                tracing::error!(%actor_id, generation, error = %err, "actor stop failed");
            }
            stop_handle.finish(outcome.map_err(for_engine));
            Ok(())
        })
    }

    fn on_shutdown(&self) {
        tracing::info!("envoy shut down");
    }

    fn fetch(
        &self,
        _envoy: EnvoyHandle,
        actor_id: String,
        _gateway_id: protocol::GatewayId,
        _request_id: protocol::RequestId,
        request: HttpRequest,
    ) -> BoxFuture<anyhow::Result<HttpResponse>> {
        let actor = self.0.get(&actor_id);
        Box::pin(async move { Ok(super::fetch::handle(actor, request).await) })
    }

    fn websocket(
        &self,
        _envoy: EnvoyHandle,
        actor_id: String,
        _gateway_id: protocol::GatewayId,
        _request_id: protocol::RequestId,
        _request: HttpRequest,
        path: String,
        headers: HashMap<String, String>,
        _is_hibernatable: bool,
        _is_restoring_hibernatable: bool,
        sender: WebSocketSender,
    ) -> BoxFuture<anyhow::Result<WebSocketHandler>> {
        let actor = self.0.get(&actor_id);
        Box::pin(async move { super::websocket::open(actor, &path, &headers, sender).await })
    }

    fn can_hibernate(
        &self,
        _actor_id: &str,
        _gateway_id: &protocol::GatewayId,
        _request_id: &protocol::RequestId,
        _request: &HttpRequest,
    ) -> BoxFuture<anyhow::Result<bool>> {
        // Hibernatable WebSockets are not supported yet: connections close when the actor sleeps.
        Box::pin(async { Ok(false) })
    }
}

/// The envoy client reports an error to the engine as `{:#}`, which appends the source chain to
/// the message. The core's errors already name their cause in their message, so the engine gets
/// the message alone, and reads each cause once.
fn for_engine(err: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::msg(err.to_string())
}

//! Lets an actor ask the engine for sleep and alarms through its envoy.

use rivet_envoy_client::handle::EnvoyHandle;

use crate::actor::ActorControl;

pub(super) struct EnvoyControl {
    pub(super) envoy: EnvoyHandle,
    pub(super) actor_id: String,
    pub(super) generation: u32,
}

impl ActorControl for EnvoyControl {
    fn request_sleep(&self) {
        self.envoy
            .sleep_actor(self.actor_id.clone(), Some(self.generation), None);
    }

    fn request_destroy(&self) {
        self.envoy
            .stop_actor(self.actor_id.clone(), Some(self.generation));
    }

    fn set_alarm(&self, at_ms: Option<i64>) {
        self.envoy
            .set_alarm(self.actor_id.clone(), at_ms, Some(self.generation));
    }
}

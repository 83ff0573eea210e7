//! The limits every sandboxed actor runs under.

use std::time::Duration;

/// Limits for one sandboxed actor instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxLimits {
    /// The most linear memory the instance may grow to, in bytes. Growing past it traps.
    pub memory_bytes: usize,
    /// The longest one call (an action, a hook, a request) may run. Past it the call is
    /// interrupted, its transaction rolled back, and the caller gets `actor.cpu_limit`.
    pub call_time: Duration,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            call_time: Duration::from_secs(5),
        }
    }
}

//! Failing fast while the bus is away.
//!
//! A publish to an unreachable Redis does not fail at once: the client waits for its connect
//! and response timeouts. Every message of a conversation publishes in turn, so during an outage
//! each would wait in line behind the one before it, and pushes would trail the outage by
//! minutes once it ended. After a failure the breaker stays open for [`OPEN_FOR`]: publishes in
//! that time are skipped at once. Nothing is lost by skipping: comet nodes see their own
//! subscription break in a bus outage and tell every socket to `resync`, and a recipient that
//! missed a push for any other reason sees the gap in `seq` at the next one.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

/// How long publishing is skipped after a failure; then one publish tries again.
const OPEN_FOR: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Breaker {
    open_until: Mutex<Option<Instant>>,
}

impl Breaker {
    /// Whether a publish should be tried now.
    pub fn allows(&self) -> bool {
        let guard = self.open_until.lock().unwrap_or_else(|e| e.into_inner());
        guard.is_none_or(|until| Instant::now() >= until)
    }

    pub fn failed(&self) {
        let mut guard = self.open_until.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            tracing::warn!("bus unreachable: skipping pushes until it answers (clients resync)");
        }
        *guard = Some(Instant::now() + OPEN_FOR);
    }

    pub fn succeeded(&self) {
        let mut guard = self.open_until.lock().unwrap_or_else(|e| e.into_inner());
        if guard.take().is_some() {
            tracing::info!("bus answers again: pushes resume");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_opens_it_and_a_success_closes_it() {
        let breaker = Breaker::default();
        assert!(breaker.allows());
        breaker.failed();
        assert!(!breaker.allows(), "skips right after a failure");
        breaker.succeeded();
        assert!(breaker.allows());
    }
}

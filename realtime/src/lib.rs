//! Natter's realtime plumbing: the **bus** and **presence** backends.
//!
//! Natter splits a deployment into tiers. Comet nodes hold the users' sockets; logic nodes decide
//! who must hear about an event. Two pieces of shared state connect them, and both live here:
//!
//! * [`Bus`]: logic publishes a payload to one specific comet node, and every comet node
//!   subscribes to its own channel. Fan-out is addressed per node rather than broadcast to all
//!   nodes, so adding comet nodes does not multiply the traffic each of them must filter.
//! * [`Presence`]: which comet nodes currently hold sockets of a user. Every entry carries a TTL
//!   that the holding node keeps refreshing, so when a node crashes without saying goodbye its
//!   users still go offline within one TTL instead of staying "online" forever.
//!
//! Each has two backends behind one trait, and both pass the same contract tests:
//!
//! * **Redis** ([`RedisBus`], [`RedisPresence`]) for multi-node deployments, where the tiers run
//!   in separate processes and need a shared, external meeting point.
//! * **In-process** ([`MemoryBus`], [`MemoryPresence`]) for the single-binary deployment and for
//!   tests, where adding Redis would only add a network hop and an operational dependency.
//!
//! Both buses are lossy by design, like Redis pub/sub itself: nothing is stored for a node that
//! is not listening. Instead of pretending otherwise, a [`Subscription`] reports every point where
//! payloads may have been lost as [`Delivery::Gap`], and comet answers that by telling its
//! sockets to resync from the durable store.

pub mod bus;
pub mod error;
pub mod presence;

pub use bus::{Bus, Delivery, Subscription, memory::MemoryBus, redis::RedisBus};
pub use error::RealtimeError;
pub use presence::{Presence, memory::MemoryPresence, redis::RedisPresence};

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Other tiers hold these behind `Arc<dyn _>` and move them across tasks; this fails to
    /// compile if a change ever takes that away.
    #[test]
    fn backends_are_usable_as_shared_trait_objects() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Subscription>();
        assert_send_sync::<Delivery>();
        assert_send_sync::<RealtimeError>();
        let _bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
        let _presence: Arc<dyn Presence> =
            Arc::new(MemoryPresence::new(std::time::Duration::from_secs(60)));
        fn assert_backends<B: Bus + Clone, P: Presence + Clone>() {}
        assert_backends::<MemoryBus, MemoryPresence>();
        assert_backends::<RedisBus, RedisPresence>();
    }
}

//! The bus: logic tells one specific comet node what to push to its sockets.
//!
//! Every comet node subscribes to a channel named after its own node id, and logic publishes to
//! the node(s) that presence says hold the recipients' sockets, or, for a large audience, to
//! every node at once. The bus is fire-and-forget: a
//! payload published while nobody listens is dropped, exactly like Redis pub/sub. Durability
//! belongs to the message store; the bus only has to be fast and honest about losses, which is
//! what [`Delivery::Gap`] is for.

pub mod memory;
pub mod redis;

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::DropGuard;

use crate::RealtimeError;

/// Point-to-point fan-out from logic nodes to comet nodes.
///
/// Implementations must pass the contract suite in `tests/contract.rs`, so callers can swap the
/// Redis and in-process backends without behavioural surprises.
#[async_trait::async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes one payload to one comet node's channel. Ok even if nobody listens.
    async fn publish(&self, node_id: &str, payload: Bytes) -> Result<(), RealtimeError>;

    /// Publishes one payload to every subscribed node. A node receives these and its own
    /// node's payloads in the order they were published (from any one publisher). For a
    /// fan-out to so many users that nearly every node holds some of them: it spares the
    /// presence lookup that routing would need.
    async fn publish_all(&self, payload: Bytes) -> Result<(), RealtimeError>;

    /// Subscribes a comet node: its own channel and the every-node payloads. Returns once the
    /// subscription is active (a publish after this returns is delivered). Dropping the
    /// Subscription unsubscribes.
    async fn subscribe(&self, node_id: &str) -> Result<Subscription, RealtimeError>;

    /// Subscribes to one channel alone, without the every-node payloads: for listeners that
    /// are not comet nodes (a logic instance's message streams), whose payloads are another
    /// kind of message.
    async fn subscribe_channel(&self, name: &str) -> Result<Subscription, RealtimeError>;
}

/// One item handed to a subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A payload exactly as it was published.
    Payload(Bytes),
    /// Payloads may have been missed (subscriber lagged, or the Redis connection dropped and was
    /// re-established). Comet answers by telling its sockets to resync.
    Gap,
}

/// A live subscription to one node's channel.
///
/// It is a handle, not a stream of owned state: dropping it is the way to unsubscribe, and it
/// ends (yields `None`) once every clone of the bus that created it has been dropped, so keep the
/// bus alive for as long as you want deliveries.
pub struct Subscription {
    source: Source,
}

/// Where a subscription's deliveries come from. The in-process bus reads its broadcast channel
/// directly (no extra task or copy); the Redis bus needs a background task that owns the pubsub
/// connection and forwards into a bounded channel.
enum Source {
    Broadcast(broadcast::Receiver<Bytes>),
    Channel {
        deliveries: mpsc::Receiver<Delivery>,
        /// Cancels the background task (and so closes its Redis connection) on drop.
        _stop: DropGuard,
    },
}

impl Subscription {
    pub(crate) fn from_broadcast(receiver: broadcast::Receiver<Bytes>) -> Self {
        Self {
            source: Source::Broadcast(receiver),
        }
    }

    pub(crate) fn from_channel(deliveries: mpsc::Receiver<Delivery>, stop: DropGuard) -> Self {
        Self {
            source: Source::Channel {
                deliveries,
                _stop: stop,
            },
        }
    }

    /// Next delivery, in publish order from any one publisher; None once the bus is shut down.
    ///
    /// Cancel-safe: if the future is dropped before it completes, no delivery is lost.
    pub async fn recv(&mut self) -> Option<Delivery> {
        match &mut self.source {
            Source::Broadcast(receiver) => match receiver.recv().await {
                Ok(payload) => Some(Delivery::Payload(payload)),
                // The receiver skips ahead to the oldest payload still buffered, so reporting a
                // gap and carrying on is all that is needed; ending here would turn a slow
                // consumer into a dead one.
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "bus subscriber lagged; delivering a gap");
                    Some(Delivery::Gap)
                }
                Err(broadcast::error::RecvError::Closed) => None,
            },
            Source::Channel { deliveries, .. } => deliveries.recv().await,
        }
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.source {
            Source::Broadcast(_) => "memory",
            Source::Channel { .. } => "redis",
        };
        f.debug_struct("Subscription")
            .field("backend", &backend)
            .finish_non_exhaustive()
    }
}

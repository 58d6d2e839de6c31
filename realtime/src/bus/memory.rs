//! The in-process bus, for the single-binary deployment and for tests.
//!
//! One `tokio::sync::broadcast` channel per node id. Broadcast (rather than mpsc) because it
//! never blocks or errors the publisher when a subscriber is slow: the slow subscriber is told
//! it lagged, which maps directly onto [`Delivery::Gap`](super::Delivery::Gap), the same
//! contract the Redis bus offers.

use std::sync::Arc;

use bytes::Bytes;
use dashmap::DashMap;
use tokio::sync::broadcast;

use super::{Bus, Subscription};
use crate::RealtimeError;

/// How many payloads a subscriber may fall behind before it sees a gap. Large enough to absorb
/// a burst for a busy comet node; the buffer is allocated once per subscribed node id.
const CAPACITY: usize = 65_536;

/// One channel, and whether a comet node listens on it (then it also carries the every-node
/// payloads, in the same queue, so that their order with the node's own is kept).
#[derive(Debug)]
struct Channel {
    sender: broadcast::Sender<Bytes>,
    node: bool,
}

/// In-process [`Bus`]. Clones share state, so a logic and a comet half of the same process can
/// each hold one.
#[derive(Debug, Clone)]
pub struct MemoryBus {
    /// One sender per node id that has ever been subscribed to. Entries are kept after the last
    /// subscriber leaves: node ids are few and long-lived, and a restarted comet half reuses its
    /// entry.
    channels: Arc<DashMap<String, Channel>>,
    capacity: usize,
}

impl MemoryBus {
    /// An empty bus: nobody is subscribed yet.
    pub fn new() -> Self {
        Self::with_capacity(CAPACITY)
    }

    /// Lets unit tests provoke lagging without publishing 65,536 payloads.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            channels: Arc::new(DashMap::new()),
            capacity,
        }
    }
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, node_id: &str, payload: Bytes) -> Result<(), RealtimeError> {
        // No entry means nobody ever subscribed: drop the payload without allocating a channel
        // for a node that may never exist. A send error only means "no receivers", which the
        // contract defines as success.
        if let Some(channel) = self.channels.get(node_id) {
            let _ = channel.sender.send(payload);
        }
        Ok(())
    }

    async fn publish_all(&self, payload: Bytes) -> Result<(), RealtimeError> {
        for channel in self.channels.iter().filter(|c| c.node) {
            let _ = channel.sender.send(payload.clone());
        }
        Ok(())
    }

    async fn subscribe(&self, node_id: &str) -> Result<Subscription, RealtimeError> {
        Ok(self.open(node_id, true))
    }

    async fn subscribe_channel(&self, name: &str) -> Result<Subscription, RealtimeError> {
        Ok(self.open(name, false))
    }
}

impl MemoryBus {
    fn open(&self, name: &str, node: bool) -> Subscription {
        let mut channel = self
            .channels
            .entry(name.to_owned())
            .or_insert_with(|| Channel {
                sender: broadcast::channel(self.capacity).0,
                node,
            });
        channel.node |= node;
        Subscription::from_broadcast(channel.sender.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Delivery;

    fn payload(text: &'static str) -> Delivery {
        Delivery::Payload(Bytes::from_static(text.as_bytes()))
    }

    #[tokio::test]
    async fn a_lagging_subscriber_gets_a_gap_and_then_keeps_receiving() {
        let bus = MemoryBus::with_capacity(2);
        let mut sub = bus.subscribe("n").await.unwrap();
        for text in ["1", "2", "3", "4"] {
            bus.publish("n", Bytes::from_static(text.as_bytes()))
                .await
                .unwrap();
        }
        assert_eq!(sub.recv().await, Some(Delivery::Gap));
        assert_eq!(sub.recv().await, Some(payload("3")));
        assert_eq!(sub.recv().await, Some(payload("4")));
        bus.publish("n", Bytes::from_static(b"5")).await.unwrap();
        assert_eq!(sub.recv().await, Some(payload("5")));
    }

    #[tokio::test]
    async fn dropping_a_subscription_releases_its_receiver() {
        let bus = MemoryBus::new();
        let sub = bus.subscribe("n").await.unwrap();
        assert_eq!(bus.channels.get("n").unwrap().sender.receiver_count(), 1);
        drop(sub);
        assert_eq!(bus.channels.get("n").unwrap().sender.receiver_count(), 0);
    }

    #[tokio::test]
    async fn publishing_to_an_unknown_node_allocates_nothing() {
        let bus = MemoryBus::new();
        bus.publish("nobody", Bytes::from_static(b"x"))
            .await
            .unwrap();
        assert!(bus.channels.is_empty());
    }

    #[tokio::test]
    async fn two_subscriptions_to_one_node_both_receive() {
        let bus = MemoryBus::new();
        let mut first = bus.subscribe("n").await.unwrap();
        let mut second = bus.subscribe("n").await.unwrap();
        bus.publish("n", Bytes::from_static(b"x")).await.unwrap();
        assert_eq!(first.recv().await, Some(payload("x")));
        assert_eq!(second.recv().await, Some(payload("x")));
    }
}

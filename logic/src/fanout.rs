//! Getting an event to the sockets of its recipients: ask presence which comet nodes hold them,
//! then publish **one** bus message per node, carrying that node's recipients. The cost of a
//! message is O(nodes), not O(members).
//!
//! A large audience (more than [`BROADCAST_OVER`] users by default, a big room) skips the lookup: one bus
//! message carrying every recipient goes to every node, and each node pushes to those of them
//! it holds. In a room of 1,000 that lookup (1,000 ids there and back) cost more than the whole
//! rest of the fan-out, and with that many users nearly every node holds some of them anyway.
//!
//! Fan-out is best effort by design: the message is already stored, and a client that misses a
//! push (Redis away, node restarting) catches up with `sync`. So failures here are logged, never
//! returned to the sender.

use crate::{breaker::Breaker, lookups::Lookups};
use natter_proto::{
    Transport,
    bus::{Envelope, Kick, Push, envelope::Event},
    repo::presence_store_client::PresenceStoreClient,
};
use natter_realtime::Bus;
use prost::Message as _;
use std::{collections::BTreeMap, sync::Arc, time::Duration};

/// Recipients above which a fan-out goes to every node rather than being routed (the default
/// of [`LogicConfig::broadcast_over`](crate::LogicConfig::broadcast_over)).
pub const BROADCAST_OVER: usize = 100;

/// Where a fan-out goes.
pub enum Route {
    /// Recipients by comet node. Empty when nobody is online, or when presence could not say
    /// (the recipients then resync).
    Nodes(BTreeMap<String, Vec<String>>),
    /// Every node, each pushing to those of these recipients it holds.
    All(Vec<String>),
}

#[derive(Clone)]
pub struct Fanout {
    /// Presence lookups, asked together with those of concurrent fan-outs.
    lookups: Lookups,
    bus: Arc<dyn Bus>,
    breaker: Arc<Breaker>,
    broadcast_over: usize,
}

impl Fanout {
    pub fn new(
        presence: PresenceStoreClient<Transport>,
        bus: Arc<dyn Bus>,
        breaker: Arc<Breaker>,
    ) -> Self {
        Self {
            lookups: Lookups::start(presence),
            bus,
            breaker,
            broadcast_over: BROADCAST_OVER,
        }
    }

    /// Fan-outs to more than `n` recipients go to every node.
    pub fn broadcast_over(mut self, n: usize) -> Self {
        self.broadcast_over = n;
        self
    }

    /// Sends `push` to every socket of `recipients`, within `timeout`.
    pub async fn push(&self, recipients: Vec<String>, push: Push, timeout: Duration) {
        self.publish(recipients, Event::Push(push), timeout).await;
    }

    /// Closes every socket of these sessions of `user_id`, wherever they are.
    pub async fn kick(&self, user_id: String, session_ids: Vec<String>, close_code: u32) {
        let kick = Kick {
            session_ids,
            close_code,
        };
        self.publish(vec![user_id], Event::Kick(kick), Duration::from_secs(2))
            .await;
    }

    async fn publish(&self, recipients: Vec<String>, event: Event, timeout: Duration) {
        let started = tokio::time::Instant::now();
        let route = self.route(recipients, timeout).await;
        let left = timeout.saturating_sub(started.elapsed());
        self.deliver(route, event, left).await;
    }

    /// Step one of a fan-out: which comet nodes hold `recipients`. Separate from
    /// [`deliver`](Self::deliver) so that a conversation's messages can look their routes up
    /// concurrently and only take turns for the (short) publishing.
    pub async fn route(&self, recipients: Vec<String>, timeout: Duration) -> Route {
        if recipients.is_empty() || !self.breaker.allows() {
            return Route::Nodes(BTreeMap::new());
        }
        if recipients.len() > self.broadcast_over {
            return Route::All(recipients);
        }
        match tokio::time::timeout(timeout, self.nodes_of(recipients)).await {
            Ok(Some(by_node)) => return Route::Nodes(by_node),
            Ok(None) => {}
            Err(_) => tracing::warn!("presence lookup timed out; recipients will resync"),
        }
        self.breaker.failed();
        Route::Nodes(BTreeMap::new())
    }

    /// Step two: one bus message per node of `route` (or one for all), within `timeout`.
    pub async fn deliver(&self, route: Route, event: Event, timeout: Duration) {
        let empty = match &route {
            Route::Nodes(by_node) => by_node.is_empty(),
            Route::All(user_ids) => user_ids.is_empty(),
        };
        if empty || !self.breaker.allows() {
            return;
        }
        let work = async {
            let mut delivered = true;
            match route {
                Route::All(user_ids) => {
                    tracing::debug!(recipients = user_ids.len(), "fan-out to every node");
                    let envelope = Envelope {
                        user_ids,
                        event: Some(event),
                    };
                    let published = self.bus.publish_all(envelope.encode_to_vec().into());
                    if let Err(err) = published.await {
                        tracing::warn!(%err, "bus publish failed; recipients will resync");
                        delivered = false;
                    }
                }
                Route::Nodes(by_node) => {
                    tracing::debug!(nodes = by_node.len(), "fan-out");
                    // Every node at once: one node's round trip never delays another's push.
                    // Each node still gets one publish per event, so a conversation's events
                    // reach it in the order this is called in (see `sequencer`).
                    let publishes = by_node.into_iter().map(|(node, user_ids)| {
                        let envelope = Envelope {
                            user_ids,
                            event: Some(event.clone()),
                        };
                        async move {
                            let published =
                                self.bus.publish(&node, envelope.encode_to_vec().into());
                            if let Err(err) = published.await {
                                tracing::warn!(%node, %err, "bus publish failed; recipients will resync");
                                return false;
                            }
                            true
                        }
                    });
                    let outcomes = futures::future::join_all(publishes).await;
                    delivered = outcomes.into_iter().all(|ok| ok);
                }
            }
            delivered
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(true) => self.breaker.succeeded(),
            Ok(false) => self.breaker.failed(),
            Err(_) => {
                tracing::warn!("fan-out timed out; recipients will resync");
                self.breaker.failed();
            }
        }
    }

    /// Recipients grouped by the comet node that holds their sockets.
    async fn nodes_of(&self, user_ids: Vec<String>) -> Option<BTreeMap<String, Vec<String>>> {
        let online = self.lookups.lookup(user_ids).await?;
        let mut by_node: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for entry in online {
            for node in entry.node_ids {
                by_node.entry(node).or_default().push(entry.user_id.clone());
            }
        }
        Some(by_node)
    }
}

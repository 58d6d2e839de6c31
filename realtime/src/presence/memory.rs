//! In-process presence, for the single-binary deployment and for tests.
//!
//! Expiry is checked on read (an entry past its deadline is simply not reported), so correctness
//! never depends on a cleanup task. Memory is reclaimed opportunistically: touched users are
//! pruned on write, and the whole map is swept at most once per TTL, which bounds the garbage
//! that users who went away without a `set_offline` can leave behind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::{DashMap, DashSet};
use std::time::Instant;

use super::Presence;
use crate::RealtimeError;

/// In-process [`Presence`]. Clones share state.
#[derive(Debug, Clone)]
pub struct MemoryPresence {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// user id -> (node id -> expiry).
    users: DashMap<String, HashMap<String, Instant>>,
    ttl: Duration,
    /// When the next full sweep is due.
    next_sweep: Mutex<Instant>,
    /// Users last announced online (see [`Presence::mark_announced`]).
    announced: DashSet<String>,
}

impl MemoryPresence {
    /// Entries live for `ttl` after their last `set_online`.
    pub fn new(ttl: std::time::Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                users: DashMap::new(),
                ttl,
                next_sweep: Mutex::new(Instant::now() + ttl),
                announced: DashSet::new(),
            }),
        }
    }

    /// [`Presence::set_online`] as of `now`, so tests can move time forward without sleeping.
    fn set_online_at(&self, node_id: &str, user_ids: &[String], now: Instant) {
        if user_ids.is_empty() {
            return;
        }
        let expiry = now + self.inner.ttl;
        for user_id in user_ids {
            let mut nodes = self.inner.users.entry(user_id.clone()).or_default();
            nodes.retain(|_, expiry| *expiry > now);
            nodes.insert(node_id.to_owned(), expiry);
        }
        self.sweep_if_due(now);
    }

    /// Drops expired entries everywhere, if a TTL has passed since the last sweep. Cheap to call
    /// often: it is one uncontended check unless a sweep is due.
    fn sweep_if_due(&self, now: Instant) {
        {
            let Ok(mut next) = self.inner.next_sweep.try_lock() else {
                return; // another caller is checking or sweeping right now
            };
            if now < *next {
                return;
            }
            *next = now + self.inner.ttl;
        }
        self.inner.users.retain(|_, nodes| {
            nodes.retain(|_, expiry| *expiry > now);
            !nodes.is_empty()
        });
    }
}

#[async_trait::async_trait]
impl Presence for MemoryPresence {
    async fn set_online(&self, node_id: &str, user_ids: &[String]) -> Result<(), RealtimeError> {
        self.set_online_at(node_id, user_ids, Instant::now());
        Ok(())
    }

    async fn set_offline(&self, node_id: &str, user_ids: &[String]) -> Result<(), RealtimeError> {
        if user_ids.is_empty() {
            return Ok(());
        }
        for user_id in user_ids {
            // Removes the node, and the user with it once no node is left. One shard lock, so a
            // concurrent set_online of the same user cannot slip in between and be lost.
            self.inner.users.remove_if_mut(user_id, |_, nodes| {
                nodes.remove(node_id);
                nodes.is_empty()
            });
        }
        self.sweep_if_due(Instant::now());
        Ok(())
    }

    async fn lookup(
        &self,
        user_ids: &[String],
    ) -> Result<Vec<(String, Vec<String>)>, RealtimeError> {
        let now = Instant::now();
        let mut found = Vec::new();
        for user_id in user_ids {
            let Some(nodes) = self.inner.users.get(user_id) else {
                continue;
            };
            let mut live: Vec<String> = nodes
                .iter()
                .filter(|(_, expiry)| **expiry > now)
                .map(|(node_id, _)| node_id.clone())
                .collect();
            drop(nodes);
            if !live.is_empty() {
                live.sort_unstable();
                found.push((user_id.clone(), live));
            }
        }
        Ok(found)
    }

    async fn mark_announced(&self, user_id: &str, online: bool) -> Result<bool, RealtimeError> {
        Ok(if online {
            self.inner.announced.insert(user_id.to_owned())
        } else {
            self.inner.announced.remove(user_id).is_some()
        })
    }

    /// One page holds everyone: the set is in memory, and as large as the users online here.
    async fn announced(&self, _cursor: u64) -> Result<(Vec<String>, u64), RealtimeError> {
        let users = self
            .inner
            .announced
            .iter()
            .map(|u| u.key().clone())
            .collect();
        Ok((users, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| (*id).to_owned()).collect()
    }

    #[tokio::test]
    async fn the_last_set_offline_forgets_the_user() {
        let presence = MemoryPresence::new(Duration::from_secs(60));
        presence.set_online("a", &users(&["u"])).await.unwrap();
        presence.set_online("b", &users(&["u"])).await.unwrap();
        presence.set_offline("a", &users(&["u"])).await.unwrap();
        assert!(presence.inner.users.contains_key("u"));
        presence.set_offline("b", &users(&["u"])).await.unwrap();
        assert!(!presence.inner.users.contains_key("u"));
    }

    #[test]
    fn a_sweep_reclaims_users_that_expired_without_set_offline() {
        let ttl = Duration::from_secs(60);
        let presence = MemoryPresence::new(ttl);
        let start = Instant::now();
        presence.set_online_at("a", &users(&["gone"]), start);
        presence.set_online_at("a", &users(&["early"]), start + ttl / 2);
        // Not due yet: nothing is swept before one TTL has passed.
        assert!(presence.inner.users.contains_key("gone"));
        presence.set_online_at("a", &users(&["here"]), start + ttl * 2);
        assert!(!presence.inner.users.contains_key("gone"));
        assert!(!presence.inner.users.contains_key("early"));
        assert!(presence.inner.users.contains_key("here"));
    }

    #[test]
    fn writes_prune_expired_nodes_of_the_users_they_touch() {
        let ttl = Duration::from_secs(60);
        let presence = MemoryPresence::new(ttl);
        let start = Instant::now();
        presence.set_online_at("old", &users(&["u"]), start);
        presence.set_online_at("new", &users(&["u"]), start + ttl + Duration::from_secs(1));
        let nodes = presence.inner.users.get("u").unwrap().clone();
        assert_eq!(nodes.keys().collect::<Vec<_>>(), ["new"]);
    }
}

//! Redis presence, shared by every node of a multi-process deployment.
//!
//! Layout: one hash per user, `"{prefix}presence:{user_id}"`, mapping node id -> expiry in
//! milliseconds since the Unix epoch. Redis (before 7.4) cannot expire single hash fields, so
//! expiry is two-level: readers ignore fields whose expiry has passed, and the key itself gets a
//! `PEXPIRE` of one TTL on every refresh, so a user no node refreshes any more vanishes entirely.
//! A field left behind by a crashed node, while another node keeps the key alive, is harmless:
//! it is filtered on read and dies with the key.
//!
//! Expiries come from the writer's clock and are compared with the reader's clock, so clock skew
//! between nodes shifts expiry by the skew; with NTP that is milliseconds against a TTL of a
//! minute, which is why the extra round trip to ask Redis for its `TIME` is not worth it.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;

use super::Presence;
use crate::RealtimeError;
use crate::bus::redis::connect_manager;

/// Users per pipeline. Batches of 10,000 users are normal (a comet node refreshing all its
/// sockets); one pipeline that size would hold Redis's single thread and its output buffers
/// longer than is polite to other clients, so big batches go in several round trips.
const CHUNK: usize = 1_000;

/// Redis-backed [`Presence`]. Clones share the connection.
#[derive(Clone)]
pub struct RedisPresence {
    connection: ConnectionManager,
    prefix: String,
    ttl: Duration,
}

impl RedisPresence {
    /// key per user: "{prefix}presence:{user_id}", a hash node_id -> expiry (ms since epoch); the
    /// key itself gets PEXPIRE ttl so it disappears. lookup uses one pipeline (HGETALL per user)
    /// and filters out fields whose expiry has passed. set_online/set_offline use one pipeline
    /// each, per 1,000 users (bigger batches are split, see `CHUNK`).
    pub async fn connect(
        url: &str,
        prefix: &str,
        ttl: std::time::Duration,
    ) -> Result<Self, RealtimeError> {
        let (_client, connection) = connect_manager(url).await?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
            ttl,
        })
    }

    fn key(&self, user_id: &str) -> String {
        format!("{}presence:{user_id}", self.prefix)
    }

    /// The set of users last announced online: one key, so SADD / SREM answer atomically
    /// whether they changed it.
    fn announced_key(&self) -> String {
        format!("{}presence-announced", self.prefix)
    }

    /// The TTL in whole milliseconds, at least 1: `PEXPIRE key 0` would delete the key at once.
    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis())
            .unwrap_or(i64::MAX)
            .max(1)
    }
}

impl std::fmt::Debug for RedisPresence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPresence")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl Presence for RedisPresence {
    async fn set_online(&self, node_id: &str, user_ids: &[String]) -> Result<(), RealtimeError> {
        let ttl_ms = self.ttl_ms();
        let expiry = now_ms().saturating_add(ttl_ms);
        let mut connection = self.connection.clone();
        // An empty batch has no chunks, so it makes no Redis call at all (same below).
        for chunk in user_ids.chunks(CHUNK) {
            let mut pipe = redis::pipe();
            for user_id in chunk {
                let key = self.key(user_id);
                pipe.cmd("HSET").arg(&key).arg(node_id).arg(expiry).ignore();
                pipe.cmd("PEXPIRE").arg(&key).arg(ttl_ms).ignore();
            }
            pipe.query_async::<()>(&mut connection).await?;
        }
        Ok(())
    }

    async fn set_offline(&self, node_id: &str, user_ids: &[String]) -> Result<(), RealtimeError> {
        let mut connection = self.connection.clone();
        for chunk in user_ids.chunks(CHUNK) {
            let mut pipe = redis::pipe();
            for user_id in chunk {
                // Redis deletes a hash with its last field, so the last node going offline
                // removes the user's key too.
                pipe.cmd("HDEL")
                    .arg(self.key(user_id))
                    .arg(node_id)
                    .ignore();
            }
            pipe.query_async::<()>(&mut connection).await?;
        }
        Ok(())
    }

    async fn lookup(
        &self,
        user_ids: &[String],
    ) -> Result<Vec<(String, Vec<String>)>, RealtimeError> {
        let mut connection = self.connection.clone();
        let mut found = Vec::new();
        for chunk in user_ids.chunks(CHUNK) {
            let mut pipe = redis::pipe();
            for user_id in chunk {
                pipe.cmd("HGETALL").arg(self.key(user_id));
            }
            let hashes: Vec<HashMap<String, i64>> = pipe.query_async(&mut connection).await?;
            // Taken after the reply, so an entry that expired while the pipeline ran is not
            // reported as live.
            let now = now_ms();
            for (user_id, nodes) in chunk.iter().zip(hashes) {
                let mut live: Vec<String> = nodes
                    .into_iter()
                    .filter(|(_, expiry)| *expiry > now)
                    .map(|(node_id, _)| node_id)
                    .collect();
                if !live.is_empty() {
                    live.sort_unstable();
                    found.push((user_id.clone(), live));
                }
            }
        }
        Ok(found)
    }

    async fn mark_announced(&self, user_id: &str, online: bool) -> Result<bool, RealtimeError> {
        let mut connection = self.connection.clone();
        let command = if online { "SADD" } else { "SREM" };
        let changed: i64 = redis::cmd(command)
            .arg(self.announced_key())
            .arg(user_id)
            .query_async(&mut connection)
            .await?;
        Ok(changed > 0)
    }

    async fn announced(&self, cursor: u64) -> Result<(Vec<String>, u64), RealtimeError> {
        let mut connection = self.connection.clone();
        let (next, users): (u64, Vec<String>) = redis::cmd("SSCAN")
            .arg(self.announced_key())
            .arg(cursor)
            .arg("COUNT")
            .arg(CHUNK)
            .query_async(&mut connection)
            .await?;
        Ok((users, next))
    }
}

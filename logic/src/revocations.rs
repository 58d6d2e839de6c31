//! Refusing the access tokens of revoked sessions without a database hit per call.
//!
//! Access tokens are verified by signature alone (comet does it locally, and so does the
//! caller interceptor), so logging out cannot make a token invalid by itself. Instead every
//! logic instance keeps the ids of recently revoked sessions in memory, and
//! [`crate::caller::interceptor`] refuses any call made with one. An entry only needs to live as
//! long as a token of that session can still verify: the access-token TTL (plus leeway) after
//! the revocation; after that the token's own expiry refuses it.
//!
//! The set is filled at once by this instance when it revokes (logout, refresh-token reuse,
//! account deletion) and refreshed every [`POLL`] from the repo (`ListRevokedSessions`), so
//! revocations made by other logic instances are refused here within a few seconds.

use natter_proto::{
    Transport,
    repo::{ListRevokedSessionsRequest, session_store_client::SessionStoreClient},
};
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};
use tokio_util::sync::CancellationToken;

/// How often each instance asks the repo for revocations made elsewhere.
pub const POLL: Duration = Duration::from_secs(2);

/// Each poll re-reads this far behind the previous poll's start: a revocation stamped by a
/// clock a little behind ours, or committed just after we read, is still seen.
const OVERLAP_MS: i64 = 10_000;

/// Kept past the access-token TTL to cover the verifier's leeway and clock differences.
const EXTRA_KEEP_MS: i64 = 60_000;

/// Rows per `ListRevokedSessions` page.
const PAGE: i32 = 1_000;

/// The revoked sessions whose access tokens may still verify.
pub struct Revocations {
    /// Session id → when the entry may be forgotten (ms since the epoch).
    revoked: RwLock<HashMap<String, i64>>,
    /// How long after its revocation a session's tokens can still verify.
    keep_ms: i64,
}

impl Revocations {
    pub fn new(access_ttl: Duration) -> Self {
        let ttl_ms = i64::try_from(access_ttl.as_millis()).unwrap_or(i64::MAX / 2);
        Self {
            revoked: RwLock::new(HashMap::new()),
            keep_ms: ttl_ms.saturating_add(EXTRA_KEEP_MS),
        }
    }

    /// Whether calls made with this session must be refused.
    pub fn is_revoked(&self, session_id: &str) -> bool {
        // A poisoned lock only means a writer panicked mid-insert; the map is still usable.
        let map = self.revoked.read().unwrap_or_else(|e| e.into_inner());
        map.contains_key(session_id)
    }

    /// Records that `session_id` was revoked at `revoked_at` (ms).
    pub fn insert(&self, session_id: String, revoked_at: i64) {
        let until = revoked_at.saturating_add(self.keep_ms);
        if until <= crate::convert::now_ms() {
            return;
        }
        let mut map = self.revoked.write().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(session_id).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Forgets entries whose tokens have all expired by now.
    fn prune(&self, now: i64) {
        let mut map = self.revoked.write().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, until| *until > now);
    }

    /// Where the first poll starts: everything whose tokens may still verify.
    fn horizon(&self, now: i64) -> i64 {
        now.saturating_sub(self.keep_ms)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.revoked.read().map(|m| m.len()).unwrap_or_default()
    }
}

/// Starts the refresh loop; it ends when `stop` is cancelled (the [`crate::Logic`] holds a drop
/// guard of it, so dropping the last handle stops polling). Outside a Tokio runtime nothing is
/// started and only this instance's own revocations are refused.
pub fn spawn_refresh(
    revocations: Arc<Revocations>,
    sessions: SessionStoreClient<Transport>,
    stop: CancellationToken,
) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no Tokio runtime: revocations by other logic instances are not polled");
        return;
    };
    runtime.spawn(async move {
        stop.run_until_cancelled(refresh_loop(revocations, sessions))
            .await;
    });
}

async fn refresh_loop(revocations: Arc<Revocations>, mut sessions: SessionStoreClient<Transport>) {
    let mut since = revocations.horizon(crate::convert::now_ms());
    let mut failing = false;
    loop {
        let started = crate::convert::now_ms();
        match poll(&revocations, &mut sessions, since).await {
            Ok(()) => {
                if failing {
                    tracing::info!("revocation polling recovered");
                }
                failing = false;
                since = started.saturating_sub(OVERLAP_MS).max(since);
            }
            Err(status) => {
                // Logged once per outage, not every 2 s; the next poll retries the same window.
                if !failing {
                    tracing::warn!(%status, "polling revoked sessions failed");
                }
                failing = true;
            }
        }
        revocations.prune(crate::convert::now_ms());
        tokio::time::sleep(POLL).await;
    }
}

/// Reads every session revoked since `since`, page by page, into the set.
async fn poll(
    revocations: &Revocations,
    sessions: &mut SessionStoreClient<Transport>,
    since: i64,
) -> Result<(), tonic::Status> {
    let mut req = ListRevokedSessionsRequest {
        since_ms: since,
        after_session_id: String::new(),
        limit: PAGE,
    };
    loop {
        let page = sessions
            .list_revoked_sessions(req.clone())
            .await?
            .into_inner()
            .sessions;
        let full = page.len() >= PAGE as usize;
        let last = page.last().map(|s| (s.revoked_at, s.session_id.clone()));
        for s in page {
            revocations.insert(s.session_id, s.revoked_at);
        }
        match last {
            Some((at, id)) if full => {
                req.since_ms = at;
                req.after_session_id = id;
            }
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::now_ms;

    #[test]
    fn a_revoked_session_is_refused_until_its_tokens_expire() {
        let r = Revocations::new(Duration::from_secs(900));
        let now = now_ms();
        r.insert("s1".into(), now);
        assert!(r.is_revoked("s1"));
        assert!(!r.is_revoked("s2"));
        // Long enough ago that every token of the session has expired: not worth keeping.
        r.insert("old".into(), now - 900_000 - EXTRA_KEEP_MS - 1);
        assert!(!r.is_revoked("old"));
        r.prune(now + 900_000 + EXTRA_KEEP_MS + 1);
        assert!(!r.is_revoked("s1"));
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn the_first_poll_reaches_back_one_token_lifetime() {
        let r = Revocations::new(Duration::from_secs(60));
        assert_eq!(r.horizon(1_000_000), 1_000_000 - 60_000 - EXTRA_KEEP_MS);
    }
}

//! The logic tier's settings, with the defaults the embedded mode runs on.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct LogicConfig {
    /// How long an access token is good for. Short, because comet verifies it without asking
    /// anyone: revocation reaches sockets by a kick, and other calls by expiry.
    pub access_ttl: Duration,
    /// How long an unused refresh token stays good.
    pub refresh_ttl: Duration,
    /// Upper bound on the time a fan-out may take before the send answers anyway (the message
    /// is stored; recipients catch up by `sync`).
    pub fanout_timeout: Duration,
    /// When true, a direct chat (opening one, sending in one) needs the two to be friends; when
    /// false anyone not blocked may write to anyone.
    pub direct_requires_friendship: bool,
    /// How long a user's presence must hold still before their contacts are told: a connection
    /// that drops and comes back within this sends no `presence` push at all.
    pub presence_settle: Duration,
    /// How often this instance looks for users shown online whose presence expired (their comet
    /// node died without saying goodbye), to announce them offline.
    pub presence_sweep: Duration,
    /// A fan-out to more users than this goes to every comet node instead of being routed by
    /// a presence lookup. With one comet node (the embedded mode) routing buys nothing, so it
    /// runs with 0.
    pub broadcast_over: usize,
    /// Whether the appends of concurrent sends go to the repo together, one call for all that
    /// queued while earlier calls were in flight (see `appends`). Across processes that saves
    /// a network call per message, a fifth to a half of logic's and the repo's CPU under load;
    /// in one process (the embedded mode) a call costs little, and holding appends back for
    /// the next call only adds latency (5,000 msg/s: p50 12 ms against 6), so it runs with
    /// false.
    pub batch_appends: bool,
}

impl Default for LogicConfig {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            fanout_timeout: Duration::from_secs(2),
            direct_requires_friendship: false,
            presence_settle: Duration::from_secs(2),
            presence_sweep: Duration::from_secs(15),
            broadcast_over: crate::fanout::BROADCAST_OVER,
            batch_appends: true,
        }
    }
}

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
        }
    }
}

//! Presence: which comet nodes hold sockets of a user.
//!
//! Logic asks it where to publish (see [`Bus`](crate::Bus)); the repo tier answers "is this user
//! online" from it. Every entry is leased, not owned: a comet node re-announces its users well
//! within the TTL, and an entry it stops refreshing disappears on its own. That is what keeps a
//! crashed node, which never gets to call [`Presence::set_offline`], from leaving its users
//! online forever.

pub mod memory;
pub mod redis;

use crate::RealtimeError;

/// Per-user set of comet nodes, with a TTL per (user, node) entry.
///
/// Implementations must pass the contract suite in `tests/contract.rs`. All methods take whole
/// batches because comet refreshes every connected user at once, and per-user round trips would
/// not scale to tens of thousands of sockets per node.
#[async_trait::async_trait]
pub trait Presence: Send + Sync + 'static {
    /// Records that `node_id` holds sockets of these users, and refreshes their TTL on that node.
    async fn set_online(&self, node_id: &str, user_ids: &[String]) -> Result<(), RealtimeError>;
    /// The node no longer holds sockets of these users.
    async fn set_offline(&self, node_id: &str, user_ids: &[String]) -> Result<(), RealtimeError>;
    /// For each given user with at least one live (unexpired) node: (user_id, node_ids sorted).
    /// Users with no live node are left out. Order of the outer Vec follows the input order.
    async fn lookup(
        &self,
        user_ids: &[String],
    ) -> Result<Vec<(String, Vec<String>)>, RealtimeError>;

    /// Records whether the user's contacts were last told "online" (true) or "offline" (false);
    /// answers true when that changed the record. Atomic, so when several logic instances see
    /// the same change, exactly one of them announces it. Nothing is kept for users announced
    /// offline, so the record is as large as the number of users shown online.
    async fn mark_announced(&self, user_id: &str, online: bool) -> Result<bool, RealtimeError>;

    /// A page of the users last announced online, from `cursor` (start with 0), and the cursor
    /// of the next page (0 when done). A user may appear twice in one walk; one added or
    /// removed during a walk may be missed, and is found by the next walk.
    async fn announced(&self, cursor: u64) -> Result<(Vec<String>, u64), RealtimeError>;
}

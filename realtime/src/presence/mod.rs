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
}

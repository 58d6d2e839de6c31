//! Friend requests, friendships and blocks.
//!
//! The store enforces what must hold under concurrent calls (one pending request per direction,
//! no request across a block, a request answered once); who may answer a request is the logic
//! tier's rule.

use super::StoreError;
use async_trait::async_trait;
use natter_proto::repo::{
    CreateFriendRequestRequest, FriendRequest, ListFriendsRequest, ListFriendsResponse, Relation,
};

/// How many users one user may block: bounds the block list, which is listed whole.
pub const MAX_BLOCKS: i64 = 1000;

/// Pending requests listed at most (the most recent ones).
pub const MAX_LISTED_REQUESTS: i64 = 200;

#[async_trait]
pub trait FriendStore: Send + Sync + 'static {
    /// One transaction. `FailedPrecondition("blocked")` if either user blocked the other;
    /// `AlreadyExists("friendship")` if they are friends; `AlreadyExists("friend request")` if
    /// `from` already has a pending request to `to`. If `to` has a pending request to `from`,
    /// that one is accepted instead (the two become friends) and returned: the caller tells by
    /// `from_user_id`. Otherwise a pending request is stored. `NotFound("user")` for an unknown
    /// user.
    async fn create_friend_request(
        &self,
        req: CreateFriendRequestRequest,
    ) -> Result<FriendRequest, StoreError>;
    /// `NotFound("friend request")` if none.
    async fn get_friend_request(&self, request_id: &str) -> Result<FriendRequest, StoreError>;
    /// Moves a pending request to `status` ("accepted" or "declined"). Accepting records the
    /// friendship (both directions) and settles a pending request the other way too.
    /// `FailedPrecondition` if the request is no longer pending, `NotFound` if unknown.
    async fn set_friend_request_status(
        &self,
        request_id: &str,
        status: &str,
        now: i64,
    ) -> Result<FriendRequest, StoreError>;
    /// Pending requests to (`incoming`) and/or from (`outgoing`) the user, newest first, at most
    /// [`MAX_LISTED_REQUESTS`].
    async fn list_friend_requests(
        &self,
        user_id: &str,
        incoming: bool,
        outgoing: bool,
    ) -> Result<Vec<FriendRequest>, StoreError>;
    /// Friend ids in id order, after `after_user_id`; `has_more` when more follow.
    async fn list_friends(
        &self,
        req: ListFriendsRequest,
    ) -> Result<ListFriendsResponse, StoreError>;
    /// Ends a friendship (both directions). `NotFound("friendship")` if there was none.
    async fn remove_friend(&self, user_id: &str, other_user_id: &str) -> Result<(), StoreError>;
    async fn are_friends(&self, user_id: &str, other_user_id: &str) -> Result<bool, StoreError>;
    /// `user_id` blocks `other_user_id` (idempotent). In the same transaction their friendship
    /// and pending requests either way are deleted. `FailedPrecondition` beyond
    /// [`MAX_BLOCKS`]; `NotFound("user")` for an unknown user.
    async fn block(&self, user_id: &str, other_user_id: &str) -> Result<(), StoreError>;
    /// `NotFound("block")` if `user_id` had not blocked `other_user_id`.
    async fn unblock(&self, user_id: &str, other_user_id: &str) -> Result<(), StoreError>;
    /// Whether either user blocked the other.
    async fn is_blocked(&self, user_id: &str, other_user_id: &str) -> Result<bool, StoreError>;
    /// Whom the user blocked, in id order (at most [`MAX_BLOCKS`]).
    async fn list_blocked(&self, user_id: &str) -> Result<Vec<String>, StoreError>;
    /// The id of the live (not deleted) user with this nickname; `NotFound("user")` if none.
    async fn find_user_by_nickname(&self, nickname: &str) -> Result<String, StoreError>;
    /// Blocked either way, and friends.
    async fn relation(&self, user_id: &str, other_user_id: &str) -> Result<Relation, StoreError>;
}

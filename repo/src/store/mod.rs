//! The storage contract. Both backends (PostgreSQL and SQLite, through sqlx) implement [`Store`]
//! and pass one contract suite (`repo/tests/store_contract.rs`), so the embedded default and the
//! distributed form behave the same.
//!
//! The trait speaks in the `im.repo.v1` messages: they are already the shape the repo tier
//! answers in, and a second set of structs would only be copied field by field.

mod error;
pub mod postgres;
mod sql;
pub mod sqlite;

pub use error::StoreError;

use async_trait::async_trait;
use natter_proto::repo::{
    AppendMessageRequest, AppendMessageResponse, Conversation, CreateGroupRequest,
    CreateSessionRequest, CreateUserRequest, GetOrCreateDirectRequest, GetOrCreateDirectResponse,
    ListConversationsRequest, ListConversationsResponse, ListMessagesRequest, ListMessagesResponse,
    RotateRefreshTokenRequest, RotateRefreshTokenResponse, Session, SyncMessagesRequest, User,
};
use std::sync::Arc;

/// Upper bound of any page the store returns; callers' limits are clamped to it.
pub const MAX_PAGE: i64 = 200;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ---- users
    /// Inserts a user. `AlreadyExists("email")` / `AlreadyExists("nickname")` on a taken one
    /// (emails compare case-insensitively: logic lower-cases them before calling).
    async fn create_user(&self, req: CreateUserRequest) -> Result<User, StoreError>;
    /// The user with this email, `password_hash` included; `NotFound` if none (or deleted).
    async fn get_user_by_email(&self, email: &str) -> Result<User, StoreError>;
    /// Users by id, in no particular order; unknown ids are left out. `password_hash` is empty.
    async fn get_users(&self, user_ids: &[String]) -> Result<Vec<User>, StoreError>;

    // ---- sessions (a login on one device; refresh tokens rotate inside it)
    /// Creates a session with its first refresh token (stored only as a hash).
    async fn create_session(&self, req: CreateSessionRequest) -> Result<(), StoreError>;
    /// Atomically: if `old_hash` is a live, unused, unexpired token of a live session, mark it
    /// used, store `new_hash` for the same session, answer ROTATED. If it was already used,
    /// revoke the session (reuse detection) and answer REUSED. Unknown: UNKNOWN. Session revoked:
    /// REVOKED. Token expired: EXPIRED. Two concurrent rotations of one token: exactly one wins.
    async fn rotate_refresh_token(
        &self,
        req: RotateRefreshTokenRequest,
    ) -> Result<RotateRefreshTokenResponse, StoreError>;
    /// `NotFound` if no such session.
    async fn get_session(&self, session_id: &str) -> Result<Session, StoreError>;
    /// Idempotent.
    async fn revoke_session(&self, session_id: &str) -> Result<(), StoreError>;

    // ---- conversations
    /// The pair's direct conversation, created (with both members) on first use.
    /// `created` is false when it already existed. The pair is unordered: (a, b) == (b, a).
    async fn get_or_create_direct(
        &self,
        req: GetOrCreateDirectRequest,
    ) -> Result<GetOrCreateDirectResponse, StoreError>;
    /// Creates a group; the owner gets role "owner", every other listed id role "member"
    /// (duplicates and the owner's own id in `member_ids` are ignored).
    async fn create_group(&self, req: CreateGroupRequest) -> Result<Conversation, StoreError>;
    /// With `viewer_id`, `NotFound` unless they are a member, and `read_seq` is theirs.
    /// `member_ids` is filled; `last_message` is the message with seq == last_seq, if any.
    async fn get_conversation(
        &self,
        conversation_id: &str,
        viewer_id: Option<&str>,
    ) -> Result<Conversation, StoreError>;
    /// The user's conversations, most recent activity first (`updated_at` desc, then id), with
    /// `member_ids`, `last_message` and the user's `read_seq`; `next_cursor` when more remain.
    /// `total_unread` sums `last_seq - read_seq` over all of the user's conversations.
    async fn list_conversations(
        &self,
        req: ListConversationsRequest,
    ) -> Result<ListConversationsResponse, StoreError>;
    /// Moves the member's read pointer forward to `min(seq, last_seq)`; never backward.
    /// Returns the pointer after the call. `NotFound` if not a member.
    async fn set_read_seq(
        &self,
        conversation_id: &str,
        user_id: &str,
        seq: i64,
    ) -> Result<i64, StoreError>;

    // ---- messages
    /// One transaction: if (sender, client_msg_id) is already stored, return that message with
    /// `duplicate = true` and consume no seq; otherwise take `last_seq + 1`, insert, bump the
    /// conversation's `updated_at`. `NotFound` if the conversation does not exist, `NotMember`
    /// if the sender is not a member. `member_ids` lists every member (the sender included).
    /// Seqs are 1, 2, 3, ... with no gaps, even under concurrent senders.
    async fn append_message(
        &self,
        req: AppendMessageRequest,
    ) -> Result<AppendMessageResponse, StoreError>;
    /// Newest first, seq < before_seq (before_seq <= 0: from the newest); `has_more` when older
    /// ones remain.
    async fn list_messages(
        &self,
        req: ListMessagesRequest,
    ) -> Result<ListMessagesResponse, StoreError>;
    /// Oldest first, seq > after_seq; `has_more` when newer ones remain beyond the page.
    async fn sync_messages(
        &self,
        req: SyncMessagesRequest,
    ) -> Result<ListMessagesResponse, StoreError>;
}

/// Clamps a caller's page size to `1..=MAX_PAGE`, with `default` for 0 or negative.
pub fn page_limit(limit: i32, default: i64) -> i64 {
    if limit <= 0 {
        default
    } else {
        i64::from(limit).min(MAX_PAGE)
    }
}

/// Opens the store a URL names: `postgres://...` or `sqlite://path` (created if missing).
/// Migrations run first, so a fresh database is ready when this returns.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else {
        Err(StoreError::Config(format!(
            "unsupported database URL scheme (want postgres:// or sqlite://): {}",
            url.split(':').next().unwrap_or_default()
        )))
    }
}

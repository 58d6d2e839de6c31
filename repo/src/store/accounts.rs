//! Users and sessions (a login on one device; refresh tokens rotate inside it).

use super::StoreError;
use async_trait::async_trait;
use natter_proto::repo::{
    CreateSessionRequest, CreateUserRequest, DeleteUserRequest, ListRevokedSessionsRequest,
    RevokedSession, RotateRefreshTokenRequest, RotateRefreshTokenResponse, SearchUsersRequest,
    Session, UpdateUserRequest, UpgradeGuestRequest, User,
};

#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Inserts a user. `AlreadyExists("email")` / `AlreadyExists("nickname")` on a taken one
    /// (emails compare case-insensitively: logic lower-cases them before calling).
    async fn create_user(&self, req: CreateUserRequest) -> Result<User, StoreError>;
    /// The user with this email, `password_hash` included; `NotFound` if none (or deleted).
    async fn get_user_by_email(&self, email: &str) -> Result<User, StoreError>;
    /// Users by id, in no particular order; unknown ids are left out. `password_hash` is empty.
    async fn get_users(&self, user_ids: &[String]) -> Result<Vec<User>, StoreError>;
    /// Sets the fields given (nickname, bio, avatar_url, email, password_hash) of a live user;
    /// `NotFound("user")` if unknown or deleted, `AlreadyExists("nickname"|"email")` if taken.
    async fn update_user(&self, req: UpdateUserRequest) -> Result<User, StoreError>;
    /// Live users whose nickname starts with `prefix` (byte-wise), after `after_nickname`,
    /// ordered by nickname, at most `limit` (clamped to [`super::MAX_PAGE`]). Nicknames are
    /// `[a-z0-9_]`: the match is an index range `[prefix, prefix + "~")`, not a scan.
    async fn search_users(&self, req: SearchUsersRequest) -> Result<Vec<User>, StoreError>;
    /// Makes a guest a full account with this email and password hash. `NotFound("user")` if
    /// unknown or deleted, `FailedPrecondition` if not a guest, `AlreadyExists("email")`.
    async fn upgrade_guest(&self, req: UpgradeGuestRequest) -> Result<User, StoreError>;
    /// Soft-deletes a live user and revokes all their sessions in one transaction (see the
    /// `DeleteUser` RPC); returns the revoked session ids. `NotFound("user")` if unknown or
    /// already deleted.
    async fn delete_user(&self, req: DeleteUserRequest) -> Result<Vec<String>, StoreError>;

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
    /// Revokes every live session of the user; returns the ones this call revoked.
    async fn revoke_user_sessions(&self, user_id: &str) -> Result<Vec<String>, StoreError>;
    /// Revoked sessions from `since_ms` on (continuing after `after_session_id` at exactly
    /// `since_ms`), ordered by (revoked_at, id), at most `limit` (clamped to 10,000).
    async fn list_revoked_sessions(
        &self,
        req: ListRevokedSessionsRequest,
    ) -> Result<Vec<RevokedSession>, StoreError>;
}

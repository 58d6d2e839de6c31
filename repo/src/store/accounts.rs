//! Users and sessions (a login on one device; refresh tokens rotate inside it).

use super::StoreError;
use async_trait::async_trait;
use natter_proto::repo::{
    CreateSessionRequest, CreateUserRequest, RotateRefreshTokenRequest, RotateRefreshTokenResponse,
    Session, User,
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
}

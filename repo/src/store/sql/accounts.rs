//! Users and sessions: registration, lookup, refresh-token rotation, revocation.

/// Expands the `AccountStore` impl for a store type on a sqlx database (see [`super::impl_store`]).
macro_rules! impl_accounts {
    ($store:ty, $db:ty) => {
        mod accounts_impl {
            use super::*;
            use natter_proto::repo::{
                CreateSessionRequest, CreateUserRequest, RotateOutcome, RotateRefreshTokenRequest,
                RotateRefreshTokenResponse, Session, User,
            };
            use $crate::store::StoreError;
            use $crate::store::sql as shared;
            use $crate::store::sql::user_cols;
            #[async_trait::async_trait]
            impl $crate::store::AccountStore for $store {
                async fn create_user(&self, req: CreateUserRequest) -> Result<User, StoreError> {
                    // Emails compare case-insensitively: stored lower-cased (logic does it too;
                    // doing it here as well keeps the unique constraint honest). "" means none.
                    let email = req
                        .email
                        .map(|e| e.to_lowercase())
                        .filter(|e| !e.is_empty());
                    let row: shared::UserRow = sqlx::query_as(concat!(
                        "INSERT INTO users \
                         (id, email, password_hash, nickname, is_guest, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
                        user_cols!()
                    ))
                    .bind(&req.user_id)
                    .bind(email)
                    .bind(&req.password_hash)
                    .bind(&req.nickname)
                    .bind(req.is_guest)
                    .bind(req.created_at)
                    .fetch_one(self.writer())
                    .await
                    .map_err(|e| shared::db_err(e, "user"))?;
                    Ok(row.into_proto(false))
                }

                async fn get_user_by_email(&self, email: &str) -> Result<User, StoreError> {
                    let row: Option<shared::UserRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        user_cols!(),
                        " FROM users WHERE email = $1 AND deleted_at IS NULL"
                    ))
                    .bind(email.to_lowercase())
                    .fetch_optional(self.reader())
                    .await?;
                    Ok(row.ok_or(StoreError::NotFound("user"))?.into_proto(true))
                }

                async fn get_users(&self, user_ids: &[String]) -> Result<Vec<User>, StoreError> {
                    let ids = shared::unique_ids(user_ids, None);
                    let mut users = Vec::with_capacity(ids.len());
                    for chunk in ids.chunks(shared::CHUNK) {
                        let mut qb = sqlx::QueryBuilder::<$db>::new(concat!(
                            "SELECT ",
                            user_cols!(),
                            " FROM users WHERE id IN ("
                        ));
                        let mut list = qb.separated(", ");
                        for id in chunk {
                            list.push_bind(*id);
                        }
                        qb.push(")");
                        let rows: Vec<shared::UserRow> =
                            qb.build_query_as().fetch_all(self.reader()).await?;
                        users.extend(rows.into_iter().map(|r| r.into_proto(false)));
                    }
                    Ok(users)
                }

                async fn create_session(
                    &self,
                    req: CreateSessionRequest,
                ) -> Result<(), StoreError> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "INSERT INTO sessions (id, user_id, device_id, created_at) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&req.session_id)
                    .bind(&req.user_id)
                    .bind(&req.device_id)
                    .bind(req.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| shared::db_err(e, "user"))?;
                    sqlx::query(
                        "INSERT INTO refresh_tokens \
                         (token_hash, session_id, created_at, expires_at) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&req.refresh_token_hash)
                    .bind(&req.session_id)
                    .bind(req.created_at)
                    .bind(req.refresh_expires_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| shared::db_err(e, "session"))?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn rotate_refresh_token(
                    &self,
                    req: RotateRefreshTokenRequest,
                ) -> Result<RotateRefreshTokenResponse, StoreError> {
                    let answer = |outcome: RotateOutcome, session_id: String, user_id: String| {
                        Ok(RotateRefreshTokenResponse {
                            outcome: outcome as i32,
                            session_id,
                            user_id,
                        })
                    };
                    let mut tx = self.begin_write().await?;
                    // Claim the token. The conditional UPDATE is the race arbiter: of two
                    // concurrent rotations only one sees `used_at IS NULL` (on PostgreSQL the
                    // second waits for the first's row lock, then re-checks and finds it used).
                    let claimed: Option<String> = sqlx::query_scalar(
                        "UPDATE refresh_tokens SET used_at = $2 \
                         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
                         RETURNING session_id",
                    )
                    .bind(&req.old_hash)
                    .bind(req.now)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(session_id) = claimed {
                        let session: shared::SessionRow = sqlx::query_as(
                            "SELECT id, user_id, device_id, created_at, revoked_at \
                             FROM sessions WHERE id = $1",
                        )
                        .bind(&session_id)
                        .fetch_one(&mut *tx)
                        .await?;
                        if session.revoked_at.is_some() {
                            // Leave the token unused: nothing changed.
                            tx.rollback().await?;
                            return answer(RotateOutcome::Revoked, session.id, session.user_id);
                        }
                        sqlx::query(
                            "INSERT INTO refresh_tokens \
                             (token_hash, session_id, created_at, expires_at) \
                             VALUES ($1, $2, $3, $4)",
                        )
                        .bind(&req.new_hash)
                        .bind(&session_id)
                        .bind(req.now)
                        .bind(req.new_expires_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| shared::db_err(e, "session"))?;
                        tx.commit().await?;
                        return answer(RotateOutcome::Rotated, session.id, session.user_id);
                    }
                    // Not claimable: find out why. Expiry is checked before use, so presenting
                    // an old, expired token (a stale client) does not revoke a live session.
                    let state: Option<shared::TokenStateRow> = sqlx::query_as(
                        "SELECT t.session_id, s.user_id, t.expires_at, t.used_at, s.revoked_at \
                         FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
                         WHERE t.token_hash = $1",
                    )
                    .bind(&req.old_hash)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(state) = state else {
                        return answer(RotateOutcome::Unknown, String::new(), String::new());
                    };
                    if state.revoked_at.is_some() {
                        return answer(RotateOutcome::Revoked, state.session_id, state.user_id);
                    }
                    if state.expires_at <= req.now {
                        return answer(RotateOutcome::Expired, state.session_id, state.user_id);
                    }
                    debug_assert!(state.used_at.is_some());
                    // Reuse of a rotated token: whoever holds it may have stolen it. End the
                    // session so neither copy keeps working.
                    sqlx::query(
                        "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                    )
                    .bind(&state.session_id)
                    .bind(req.now)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    answer(RotateOutcome::Reused, state.session_id, state.user_id)
                }

                async fn get_session(&self, session_id: &str) -> Result<Session, StoreError> {
                    let row: Option<shared::SessionRow> = sqlx::query_as(
                        "SELECT id, user_id, device_id, created_at, revoked_at \
                         FROM sessions WHERE id = $1",
                    )
                    .bind(session_id)
                    .fetch_optional(self.reader())
                    .await?;
                    Ok(row.ok_or(StoreError::NotFound("session"))?.into_proto())
                }

                async fn revoke_session(&self, session_id: &str) -> Result<(), StoreError> {
                    // The first revocation's time stays; revoking an unknown session is a no-op.
                    sqlx::query(
                        "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                    )
                    .bind(session_id)
                    .bind(shared::now_ms())
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }
            }
        }
    };
}

pub(crate) use impl_accounts;

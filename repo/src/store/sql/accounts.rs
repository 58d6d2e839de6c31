//! Users and sessions: registration, lookup, refresh-token rotation, revocation.

/// Expands the `AccountStore` impl for a store type on a sqlx database (see [`super::impl_store`]).
macro_rules! impl_accounts {
    ($store:ty, $db:ty) => {
        mod accounts_impl {
            use super::*;
            use natter_proto::repo::{
                CreateSessionRequest, CreateUserRequest, DeleteUserRequest,
                ListRevokedSessionsRequest, RevokedSession, RotateOutcome,
                RotateRefreshTokenRequest, RotateRefreshTokenResponse, SearchUsersRequest,
                Session, UpdateUserRequest, UpgradeGuestRequest, User,
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

                async fn update_user(&self, req: UpdateUserRequest) -> Result<User, StoreError> {
                    // NULL leaves a column as it is: one statement for any subset of fields.
                    let row: Option<shared::UserRow> = sqlx::query_as(concat!(
                        "UPDATE users SET nickname = COALESCE($2, nickname), \
                         bio = COALESCE($3, bio), avatar_url = COALESCE($4, avatar_url), \
                         email = COALESCE($5, email), \
                         password_hash = COALESCE($6, password_hash) \
                         WHERE id = $1 AND deleted_at IS NULL RETURNING ",
                        user_cols!()
                    ))
                    .bind(&req.user_id)
                    .bind(req.nickname)
                    .bind(req.bio)
                    .bind(req.avatar_url)
                    .bind(req.email.map(|e| e.to_lowercase()))
                    .bind(req.password_hash)
                    .fetch_optional(self.writer())
                    .await
                    .map_err(|e| shared::db_err(e, "user"))?;
                    Ok(row.ok_or(StoreError::NotFound("user"))?.into_proto(false))
                }

                async fn search_users(
                    &self,
                    req: SearchUsersRequest,
                ) -> Result<Vec<User>, StoreError> {
                    // A range on the unique nickname index: every nickname of the alphabet
                    // [a-z0-9_] that starts with the prefix sorts before prefix + "~".
                    let upper = format!("{}~", req.prefix);
                    let rows: Vec<shared::UserRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        user_cols!(),
                        " FROM users WHERE nickname >= $1 AND nickname < $2 AND nickname > $3 \
                         AND deleted_at IS NULL ORDER BY nickname LIMIT $4"
                    ))
                    .bind(&req.prefix)
                    .bind(upper)
                    .bind(req.after_nickname.unwrap_or_default())
                    .bind($crate::store::page_limit(req.limit, 20))
                    .fetch_all(self.reader())
                    .await?;
                    Ok(rows.into_iter().map(|r| r.into_proto(false)).collect())
                }

                async fn upgrade_guest(&self, req: UpgradeGuestRequest) -> Result<User, StoreError> {
                    // The guard in WHERE makes a concurrent double upgrade apply once.
                    let row: Option<shared::UserRow> = sqlx::query_as(concat!(
                        "UPDATE users SET email = $2, password_hash = $3, is_guest = FALSE \
                         WHERE id = $1 AND is_guest = TRUE AND deleted_at IS NULL RETURNING ",
                        user_cols!()
                    ))
                    .bind(&req.user_id)
                    .bind(req.email.to_lowercase())
                    .bind(&req.password_hash)
                    .fetch_optional(self.writer())
                    .await
                    .map_err(|e| shared::db_err(e, "user"))?;
                    if let Some(row) = row {
                        return Ok(row.into_proto(false));
                    }
                    let ids = std::slice::from_ref(&req.user_id);
                    let found = <Self as $crate::store::AccountStore>::get_users(self, ids).await?;
                    match found.into_iter().next() {
                        Some(user) if !user.deleted => Err(StoreError::FailedPrecondition(
                            "not a guest account".into(),
                        )),
                        _ => Err(StoreError::NotFound("user")),
                    }
                }

                async fn delete_user(
                    &self,
                    req: DeleteUserRequest,
                ) -> Result<Vec<String>, StoreError> {
                    let mut tx = self.begin_write().await?;
                    // The row stays: messages keep their sender. What identified the person
                    // (email, password, nickname, bio, avatar) goes, freeing email and nickname.
                    let deleted: Option<String> = sqlx::query_scalar(
                        "UPDATE users SET deleted_at = $3, nickname = $2, email = NULL, \
                         password_hash = '', bio = '', avatar_url = '' \
                         WHERE id = $1 AND deleted_at IS NULL RETURNING id",
                    )
                    .bind(&req.user_id)
                    .bind(&req.deleted_nickname)
                    .bind(req.now)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| shared::db_err(e, "user"))?;
                    if deleted.is_none() {
                        return Err(StoreError::NotFound("user"));
                    }
                    let revoked: Vec<String> = sqlx::query_scalar(
                        "UPDATE sessions SET revoked_at = $2 \
                         WHERE user_id = $1 AND revoked_at IS NULL RETURNING id",
                    )
                    .bind(&req.user_id)
                    .bind(req.now)
                    .fetch_all(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(revoked)
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

                async fn revoke_user_sessions(
                    &self,
                    user_id: &str,
                ) -> Result<Vec<String>, StoreError> {
                    Ok(sqlx::query_scalar(
                        "UPDATE sessions SET revoked_at = $2 \
                         WHERE user_id = $1 AND revoked_at IS NULL RETURNING id",
                    )
                    .bind(user_id)
                    .bind(shared::now_ms())
                    .fetch_all(self.writer())
                    .await?)
                }

                async fn list_revoked_sessions(
                    &self,
                    req: ListRevokedSessionsRequest,
                ) -> Result<Vec<RevokedSession>, StoreError> {
                    // Served by sessions_revoked_idx (revoked_at, id), partial on revoked rows.
                    let limit = if req.limit <= 0 { 1_000 } else { i64::from(req.limit).min(10_000) };
                    let rows: Vec<(String, i64)> = sqlx::query_as(
                        "SELECT id, revoked_at FROM sessions WHERE revoked_at IS NOT NULL \
                         AND (revoked_at > $1 OR (revoked_at = $1 AND id > $2)) \
                         ORDER BY revoked_at, id LIMIT $3",
                    )
                    .bind(req.since_ms)
                    .bind(&req.after_session_id)
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(session_id, revoked_at)| RevokedSession {
                            session_id,
                            revoked_at,
                        })
                        .collect())
                }
            }
        }
    };
}

pub(crate) use impl_accounts;

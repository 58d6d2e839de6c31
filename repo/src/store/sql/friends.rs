//! Friends and blocks: requests, friendships (one row per direction) and blocks.
//!
//! On SQLite every write transaction holds the write lock from its start, so the checks and the
//! write of one call see a still world. On PostgreSQL (read committed) two calls can interleave:
//! the partial unique index keeps one pending request per direction, accepting re-checks blocks
//! inside its transaction, and the rare leftovers (two requests crossing each other) are settled
//! by accepting either one.

use natter_proto::repo::FriendRequest;

/// Columns of [`RequestRow`], in a `SELECT` from `friend_requests` or a `RETURNING`.
macro_rules! request_cols {
    () => {
        "id, from_user_id, to_user_id, status, created_at"
    };
}
pub(crate) use request_cols;

#[derive(sqlx::FromRow)]
pub(crate) struct RequestRow {
    pub(crate) id: String,
    pub(crate) from_user_id: String,
    pub(crate) to_user_id: String,
    status: String,
    created_at: i64,
}

impl RequestRow {
    pub(crate) fn into_proto(self) -> FriendRequest {
        FriendRequest {
            request_id: self.id,
            from_user_id: self.from_user_id,
            to_user_id: self.to_user_id,
            status: self.status,
            created_at: self.created_at,
        }
    }
}

/// Whether a driver error is the "one pending request per direction" index refusing a second.
pub(crate) fn is_duplicate_pending(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

pub(crate) mod queries;

/// Expands the `FriendStore` impl for a store type on a sqlx database (see [`super::impl_store`]).
macro_rules! impl_friends {
    ($store:ty, $db:ty) => {
        $crate::store::sql::friends::queries::impl_friend_queries!($store, $db);
        mod friends_impl {
            use super::*;
            use natter_proto::repo::{
                CreateFriendRequestRequest, FriendRequest, ListFriendsRequest, ListFriendsResponse,
                Relation,
            };
            use $crate::store::StoreError;
            use $crate::store::friends::{MAX_BLOCKS, MAX_LISTED_REQUESTS};
            use $crate::store::sql as shared;
            use $crate::store::sql::friends::{RequestRow, is_duplicate_pending, request_cols};

            #[async_trait::async_trait]
            impl $crate::store::FriendStore for $store {
                async fn create_friend_request(
                    &self,
                    req: CreateFriendRequestRequest,
                ) -> Result<FriendRequest, StoreError> {
                    let (from, to) = (req.from_user_id.as_str(), req.to_user_id.as_str());
                    let mut tx = self.begin_write().await?;
                    if Self::blocked_on(&mut tx, from, to).await? {
                        return Err(StoreError::FailedPrecondition("blocked".into()));
                    }
                    if Self::friends_on(&mut tx, from, to).await? {
                        return Err(StoreError::AlreadyExists("friendship"));
                    }
                    if Self::pending_on(&mut tx, from, to).await?.is_some() {
                        return Err(StoreError::AlreadyExists("friend request"));
                    }
                    if let Some(theirs) = Self::pending_on(&mut tx, to, from).await? {
                        let at = req.created_at;
                        let accepted = Self::settle_on(&mut tx, &theirs.id, "accepted", at)
                            .await?
                            .ok_or(StoreError::NotFound("friend request"))?;
                        Self::befriend_on(&mut tx, from, to, req.created_at).await?;
                        tx.commit().await?;
                        return Ok(accepted.into_proto());
                    }
                    let row: RequestRow = sqlx::query_as(concat!(
                        "INSERT INTO friend_requests \
                         (id, from_user_id, to_user_id, status, created_at, updated_at) \
                         VALUES ($1, $2, $3, 'pending', $4, $4) RETURNING ",
                        request_cols!()
                    ))
                    .bind(&req.request_id)
                    .bind(from)
                    .bind(to)
                    .bind(req.created_at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| {
                        if is_duplicate_pending(&e) {
                            StoreError::AlreadyExists("friend request")
                        } else {
                            shared::db_err(e, "user")
                        }
                    })?;
                    tx.commit().await?;
                    Ok(row.into_proto())
                }

                async fn get_friend_request(
                    &self,
                    request_id: &str,
                ) -> Result<FriendRequest, StoreError> {
                    let row: Option<RequestRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        request_cols!(),
                        " FROM friend_requests WHERE id = $1"
                    ))
                    .bind(request_id)
                    .fetch_optional(self.reader())
                    .await?;
                    Ok(row
                        .ok_or(StoreError::NotFound("friend request"))?
                        .into_proto())
                }

                async fn set_friend_request_status(
                    &self,
                    request_id: &str,
                    status: &str,
                    now: i64,
                ) -> Result<FriendRequest, StoreError> {
                    if !matches!(status, "accepted" | "declined") {
                        return Err(StoreError::FailedPrecondition(format!(
                            "a request cannot be set to {status:?}"
                        )));
                    }
                    let mut tx = self.begin_write().await?;
                    let Some(row) = Self::settle_on(&mut tx, request_id, status, now).await? else {
                        let current: Option<String> =
                            sqlx::query_scalar("SELECT status FROM friend_requests WHERE id = $1")
                                .bind(request_id)
                                .fetch_optional(&mut *tx)
                                .await?;
                        return Err(match current {
                            None => StoreError::NotFound("friend request"),
                            Some(s) => StoreError::FailedPrecondition(format!(
                                "the friend request is already {s}"
                            )),
                        });
                    };
                    if status == "accepted" {
                        if Self::blocked_on(&mut tx, &row.from_user_id, &row.to_user_id).await? {
                            tx.rollback().await?;
                            return Err(StoreError::FailedPrecondition("blocked".into()));
                        }
                        Self::befriend_on(&mut tx, &row.from_user_id, &row.to_user_id, now).await?;
                    }
                    tx.commit().await?;
                    Ok(row.into_proto())
                }

                async fn list_friend_requests(
                    &self,
                    user_id: &str,
                    incoming: bool,
                    outgoing: bool,
                ) -> Result<Vec<FriendRequest>, StoreError> {
                    let rows: Vec<RequestRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        request_cols!(),
                        " FROM friend_requests WHERE status = 'pending' \
                         AND (($2 AND to_user_id = $1) OR ($3 AND from_user_id = $1)) \
                         ORDER BY created_at DESC, id DESC LIMIT $4"
                    ))
                    .bind(user_id)
                    .bind(incoming)
                    .bind(outgoing)
                    .bind(MAX_LISTED_REQUESTS)
                    .fetch_all(self.reader())
                    .await?;
                    Ok(rows.into_iter().map(RequestRow::into_proto).collect())
                }

                async fn list_friends(
                    &self,
                    req: ListFriendsRequest,
                ) -> Result<ListFriendsResponse, StoreError> {
                    let limit = $crate::store::page_limit(req.limit, 50);
                    let mut user_ids: Vec<String> = sqlx::query_scalar(
                        "SELECT friend_id FROM friendships WHERE user_id = $1 AND friend_id > $2 \
                         ORDER BY friend_id LIMIT $3",
                    )
                    .bind(&req.user_id)
                    .bind(req.after_user_id.unwrap_or_default())
                    .bind(limit + 1)
                    .fetch_all(self.reader())
                    .await?;
                    let has_more = user_ids.len() as i64 > limit;
                    user_ids.truncate(limit as usize);
                    Ok(ListFriendsResponse { user_ids, has_more })
                }

                async fn remove_friend(
                    &self,
                    user_id: &str,
                    other_user_id: &str,
                ) -> Result<(), StoreError> {
                    let mut conn = self.writer().acquire().await?;
                    match Self::unfriend_on(&mut conn, user_id, other_user_id).await? {
                        0 => Err(StoreError::NotFound("friendship")),
                        _ => Ok(()),
                    }
                }

                async fn are_friends(
                    &self,
                    user_id: &str,
                    other_user_id: &str,
                ) -> Result<bool, StoreError> {
                    let mut conn = self.reader().acquire().await?;
                    Ok(Self::friends_on(&mut conn, user_id, other_user_id).await?)
                }

                async fn block(
                    &self,
                    user_id: &str,
                    other_user_id: &str,
                ) -> Result<(), StoreError> {
                    let mut tx = self.begin_write().await?;
                    let count: i64 =
                        sqlx::query_scalar("SELECT COUNT(*) FROM blocks WHERE user_id = $1")
                            .bind(user_id)
                            .fetch_one(&mut *tx)
                            .await?;
                    if count >= MAX_BLOCKS {
                        return Err(StoreError::FailedPrecondition(format!(
                            "the block list is full ({MAX_BLOCKS} users)"
                        )));
                    }
                    sqlx::query(
                        "INSERT INTO blocks (user_id, blocked_id, created_at) \
                         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    )
                    .bind(user_id)
                    .bind(other_user_id)
                    .bind(shared::now_ms())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| shared::db_err(e, "user"))?;
                    Self::unfriend_on(&mut tx, user_id, other_user_id).await?;
                    sqlx::query(
                        "DELETE FROM friend_requests WHERE status = 'pending' \
                         AND ((from_user_id = $1 AND to_user_id = $2) \
                           OR (from_user_id = $2 AND to_user_id = $1))",
                    )
                    .bind(user_id)
                    .bind(other_user_id)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn unblock(
                    &self,
                    user_id: &str,
                    other_user_id: &str,
                ) -> Result<(), StoreError> {
                    let done =
                        sqlx::query("DELETE FROM blocks WHERE user_id = $1 AND blocked_id = $2")
                            .bind(user_id)
                            .bind(other_user_id)
                            .execute(self.writer())
                            .await?;
                    match done.rows_affected() {
                        0 => Err(StoreError::NotFound("block")),
                        _ => Ok(()),
                    }
                }

                async fn is_blocked(
                    &self,
                    user_id: &str,
                    other_user_id: &str,
                ) -> Result<bool, StoreError> {
                    let mut conn = self.reader().acquire().await?;
                    Ok(Self::blocked_on(&mut conn, user_id, other_user_id).await?)
                }

                async fn list_blocked(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
                    Ok(sqlx::query_scalar(
                        "SELECT blocked_id FROM blocks WHERE user_id = $1 \
                         ORDER BY blocked_id LIMIT $2",
                    )
                    .bind(user_id)
                    .bind(MAX_BLOCKS)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn find_user_by_nickname(
                    &self,
                    nickname: &str,
                ) -> Result<String, StoreError> {
                    let id: Option<String> = sqlx::query_scalar(
                        "SELECT id FROM users WHERE nickname = $1 AND deleted_at IS NULL",
                    )
                    .bind(nickname)
                    .fetch_optional(self.reader())
                    .await?;
                    id.ok_or(StoreError::NotFound("user"))
                }

                async fn relation(
                    &self,
                    user_id: &str,
                    other_user_id: &str,
                ) -> Result<Relation, StoreError> {
                    let mut conn = self.reader().acquire().await?;
                    Ok(Relation {
                        blocked: Self::blocked_on(&mut conn, user_id, other_user_id).await?,
                        friends: Self::friends_on(&mut conn, user_id, other_user_id).await?,
                    })
                }
            }
        }
    };
}

pub(crate) use impl_friends;

//! The friends domain's queries on a connection the caller holds (often a transaction's), shared
//! by the `FriendStore` methods in [`super`].

/// Expands the helper queries for a store type on a sqlx database (see [`super::impl_friends`]).
macro_rules! impl_friend_queries {
    ($store:ty, $db:ty) => {
        mod friend_queries_impl {
            use super::*;
            use $crate::store::StoreError;
            use $crate::store::sql as shared;
            use $crate::store::sql::friends::{RequestRow, request_cols};

            type Conn = <$db as sqlx::Database>::Connection;

            /// Queries of this domain run on a connection the caller holds.
            impl $store {
                pub(super) async fn blocked_on(
                    conn: &mut Conn,
                    a: &str,
                    b: &str,
                ) -> Result<bool, sqlx::Error> {
                    let hit: Option<String> = sqlx::query_scalar(
                        "SELECT user_id FROM blocks \
                         WHERE (user_id = $1 AND blocked_id = $2) \
                            OR (user_id = $2 AND blocked_id = $1) LIMIT 1",
                    )
                    .bind(a)
                    .bind(b)
                    .fetch_optional(&mut *conn)
                    .await?;
                    Ok(hit.is_some())
                }

                pub(super) async fn friends_on(
                    conn: &mut Conn,
                    a: &str,
                    b: &str,
                ) -> Result<bool, sqlx::Error> {
                    let hit: Option<String> = sqlx::query_scalar(
                        "SELECT friend_id FROM friendships WHERE user_id = $1 AND friend_id = $2",
                    )
                    .bind(a)
                    .bind(b)
                    .fetch_optional(&mut *conn)
                    .await?;
                    Ok(hit.is_some())
                }

                pub(super) async fn pending_on(
                    conn: &mut Conn,
                    from: &str,
                    to: &str,
                ) -> Result<Option<RequestRow>, sqlx::Error> {
                    sqlx::query_as(concat!(
                        "SELECT ",
                        request_cols!(),
                        " FROM friend_requests \
                         WHERE from_user_id = $1 AND to_user_id = $2 AND status = 'pending'"
                    ))
                    .bind(from)
                    .bind(to)
                    .fetch_optional(&mut *conn)
                    .await
                }

                /// Sets a pending request's status; `None` if it was not pending (or unknown).
                pub(super) async fn settle_on(
                    conn: &mut Conn,
                    request_id: &str,
                    status: &str,
                    now: i64,
                ) -> Result<Option<RequestRow>, sqlx::Error> {
                    sqlx::query_as(concat!(
                        "UPDATE friend_requests SET status = $2, updated_at = $3 \
                         WHERE id = $1 AND status = 'pending' RETURNING ",
                        request_cols!()
                    ))
                    .bind(request_id)
                    .bind(status)
                    .bind(now)
                    .fetch_optional(&mut *conn)
                    .await
                }

                /// Records the friendship both ways and settles any request still pending
                /// between the two (two requests may have crossed).
                pub(super) async fn befriend_on(
                    conn: &mut Conn,
                    a: &str,
                    b: &str,
                    now: i64,
                ) -> Result<(), StoreError> {
                    for (x, y) in [(a, b), (b, a)] {
                        sqlx::query(
                            "INSERT INTO friendships (user_id, friend_id, created_at) \
                             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        )
                        .bind(x)
                        .bind(y)
                        .bind(now)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| shared::db_err(e, "user"))?;
                    }
                    sqlx::query(
                        "UPDATE friend_requests SET status = 'accepted', updated_at = $3 \
                         WHERE status = 'pending' AND ((from_user_id = $1 AND to_user_id = $2) \
                            OR (from_user_id = $2 AND to_user_id = $1))",
                    )
                    .bind(a)
                    .bind(b)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                    Ok(())
                }

                /// Deletes the friendship both ways; how many rows went.
                pub(super) async fn unfriend_on(
                    conn: &mut Conn,
                    a: &str,
                    b: &str,
                ) -> Result<u64, sqlx::Error> {
                    let done = sqlx::query(
                        "DELETE FROM friendships WHERE (user_id = $1 AND friend_id = $2) \
                            OR (user_id = $2 AND friend_id = $1)",
                    )
                    .bind(a)
                    .bind(b)
                    .execute(&mut *conn)
                    .await?;
                    Ok(done.rows_affected())
                }
            }

        }
    };
}

pub(crate) use impl_friend_queries;

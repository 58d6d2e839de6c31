//! Queries several domains share, run on a connection the caller holds (often a transaction's).

/// Expands the shared helper queries for a store type on a sqlx database (see [`super::impl_store`]).
macro_rules! impl_helpers {
    ($store:ty, $db:ty) => {
        mod helpers_impl {
            use super::*;
            use $crate::store::sql as shared;
            use $crate::store::sql::{conv_cols, msg_cols};
            use $crate::store::StoreError;
            use natter_proto::repo::{
                AppendMessageResponse, Conversation, ListMessagesResponse,
            };
            /// Helpers that run on a connection the caller holds (often a transaction's).
            impl $store {
                /// Every member of the conversation, in primary-key order (no sort needed).
                pub(super) async fn member_ids(
                    conn: &mut <$db as sqlx::Database>::Connection,
                    conversation_id: &str,
                ) -> Result<Vec<String>, sqlx::Error> {
                    // One value, not a row per member (see `split_ids`).
                    let joined: Option<String> = sqlx::query_scalar(
                        "SELECT string_agg(user_id, $2 ORDER BY user_id) FROM members \
                         WHERE conversation_id = $1",
                    )
                    .bind(conversation_id)
                    .bind(shared::ID_SEPARATOR)
                    .fetch_one(&mut *conn)
                    .await?;
                    Ok(shared::split_ids(joined))
                }

                /// The conversation with member ids, last message and (with a viewer) the
                /// viewer's read pointer; `NotFound` if absent or the viewer is not a member.
                pub(super) async fn load_conversation(
                    conn: &mut <$db as sqlx::Database>::Connection,
                    conversation_id: &str,
                    viewer_id: Option<&str>,
                ) -> Result<Conversation, StoreError> {
                    let row: Option<shared::ConvRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        conv_cols!(),
                        " FROM conversations c \
                         LEFT JOIN members v ON v.conversation_id = c.id AND v.user_id = $2 \
                         LEFT JOIN messages lm \
                           ON lm.conversation_id = c.id AND lm.seq = c.last_seq \
                         WHERE c.id = $1"
                    ))
                    .bind(conversation_id)
                    .bind(viewer_id)
                    .fetch_optional(&mut *conn)
                    .await?;
                    let row = row
                        .filter(|r| viewer_id.is_none() || r.viewer_id.is_some())
                        .ok_or(StoreError::NotFound("conversation"))?;
                    let member_ids = Self::member_ids(conn, conversation_id).await?;
                    Ok(row.into_proto(member_ids))
                }

                /// The message a sender stored under this client_msg_id, in any conversation.
                pub(super) async fn find_by_client_msg_id(
                    conn: &mut <$db as sqlx::Database>::Connection,
                    sender_id: &str,
                    client_msg_id: &str,
                ) -> Result<Option<shared::MessageRow>, sqlx::Error> {
                    sqlx::query_as(concat!(
                        "SELECT ",
                        msg_cols!(),
                        " FROM messages WHERE sender_id = $1 AND client_msg_id = $2"
                    ))
                    .bind(sender_id)
                    .bind(client_msg_id)
                    .fetch_optional(&mut *conn)
                    .await
                }

                /// The answer to a retry: the stored message, if it went to the same conversation.
                pub(super) async fn duplicate(
                    conn: &mut <$db as sqlx::Database>::Connection,
                    stored: shared::MessageRow,
                    conversation_id: &str,
                ) -> Result<AppendMessageResponse, StoreError> {
                    if stored.conversation_id != conversation_id {
                        return Err(StoreError::FailedPrecondition(
                            "client_msg_id already used in another conversation".into(),
                        ));
                    }
                    let member_ids = Self::member_ids(conn, conversation_id).await?;
                    Ok(AppendMessageResponse {
                        message: Some(stored.into_proto()),
                        duplicate: true,
                        member_ids,
                    })
                }

                /// One page of messages; `newest_first` picks history (`seq < bound`, descending)
                /// or sync (`seq > bound`, ascending). One extra row tells whether more remain.
                pub(super) async fn message_page(
                    &self,
                    conversation_id: &str,
                    bound: i64,
                    limit: i64,
                    newest_first: bool,
                ) -> Result<ListMessagesResponse, StoreError> {
                    let sql = if newest_first {
                        concat!(
                            "SELECT ",
                            msg_cols!(),
                            " FROM messages WHERE conversation_id = $1 AND seq < $2 \
                             ORDER BY seq DESC LIMIT $3"
                        )
                    } else {
                        concat!(
                            "SELECT ",
                            msg_cols!(),
                            " FROM messages WHERE conversation_id = $1 AND seq > $2 \
                             ORDER BY seq LIMIT $3"
                        )
                    };
                    let mut rows: Vec<shared::MessageRow> = sqlx::query_as(sql)
                        .bind(conversation_id)
                        .bind(bound)
                        .bind(limit + 1)
                        .fetch_all(self.reader())
                        .await?;
                    let has_more = rows.len() as i64 > limit;
                    rows.truncate(limit as usize);
                    Ok(ListMessagesResponse {
                        messages: rows.into_iter().map(shared::MessageRow::into_proto).collect(),
                        has_more,
                    })
                }
            }

        }
    };
}

pub(crate) use impl_helpers;

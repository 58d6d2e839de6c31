//! Messages: appending (queued for group commit; the SQL is in [`super::append`]), history and
//! sync, tombstones, read receipts and stream replay.

/// Expands the `MessageStore` impl for a store type on a sqlx database (see [`super::impl_store`]).
macro_rules! impl_messages {
    ($store:ty, $db:ty) => {
        mod messages_impl {
            use super::*;
            use $crate::store::sql as shared;
            use $crate::store::sql::msg_cols;
            use $crate::store::{StoreError, page_limit};
            use natter_proto::repo::{
                AppendMessageRequest, AppendMessageResponse, GetMessageForRequest,
                ListMessagesRequest, ListMessagesResponse, Message, MessageFor,
                ReplayMessagesRequest, SyncMessagesRequest,
            };

            #[async_trait::async_trait]
            impl $crate::store::MessageStore for $store {
                async fn append_message(
                    &self,
                    req: AppendMessageRequest,
                ) -> Result<AppendMessageResponse, StoreError> {
                    // Group commit: queued to a writer that stores it with whatever else is
                    // waiting, in one transaction (see `store::append_batch`).
                    self.appends().append(req).await
                }

                async fn list_messages(
                    &self,
                    req: ListMessagesRequest,
                ) -> Result<ListMessagesResponse, StoreError> {
                    let before = if req.before_seq <= 0 {
                        i64::MAX
                    } else {
                        req.before_seq
                    };
                    self.message_page(&req.conversation_id, before, page_limit(req.limit, 50), true)
                        .await
                }

                async fn sync_messages(
                    &self,
                    req: SyncMessagesRequest,
                ) -> Result<ListMessagesResponse, StoreError> {
                    // Catching up wants bigger pages than scrolling back.
                    let limit = page_limit(req.limit, 100);
                    self.message_page(&req.conversation_id, req.after_seq, limit, false)
                        .await
                }

                async fn get_message(
                    &self,
                    conversation_id: &str,
                    message_id: &str,
                ) -> Result<Message, StoreError> {
                    let row: Option<shared::MessageRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        msg_cols!(),
                        " FROM messages WHERE conversation_id = $1 AND id = $2"
                    ))
                    .bind(conversation_id)
                    .bind(message_id)
                    .fetch_optional(self.reader())
                    .await?;
                    row.map(shared::MessageRow::into_proto)
                        .ok_or(StoreError::NotFound("message"))
                }

                async fn delete_message(
                    &self,
                    conversation_id: &str,
                    message_id: &str,
                    now: i64,
                ) -> Result<Message, StoreError> {
                    // One statement: emptying is idempotent, and COALESCE keeps the first
                    // deletion time when a tombstone is deleted again.
                    let row: Option<shared::MessageRow> = sqlx::query_as(concat!(
                        "UPDATE messages SET content = '', metadata = '{}', \
                         deleted_at = COALESCE(deleted_at, $3) \
                         WHERE conversation_id = $1 AND id = $2 RETURNING ",
                        msg_cols!()
                    ))
                    .bind(conversation_id)
                    .bind(message_id)
                    .bind(now)
                    .fetch_optional(self.writer())
                    .await?;
                    row.map(shared::MessageRow::into_proto)
                        .ok_or(StoreError::NotFound("message"))
                }

                async fn get_message_for(
                    &self,
                    req: GetMessageForRequest,
                ) -> Result<MessageFor, StoreError> {
                    let place: Option<(String, Option<String>)> = sqlx::query_as(
                        "SELECT c.kind, v.role FROM conversations c \
                         LEFT JOIN members v ON v.conversation_id = c.id AND v.user_id = $2 \
                         WHERE c.id = $1",
                    )
                    .bind(&req.conversation_id)
                    .bind(&req.viewer_id)
                    .fetch_optional(self.reader())
                    .await?;
                    let (kind, role) = place.ok_or(StoreError::NotFound("conversation"))?;
                    let mut out = MessageFor {
                        conversation_kind: kind,
                        viewer_role: role.unwrap_or_default(),
                        ..MessageFor::default()
                    };
                    let message = match self
                        .get_message(&req.conversation_id, &req.message_id)
                        .await
                    {
                        Ok(message) => message,
                        Err(StoreError::NotFound(_)) => return Ok(out),
                        Err(other) => return Err(other),
                    };
                    out.read_by = sqlx::query_scalar(
                        "SELECT user_id FROM members WHERE conversation_id = $1 \
                         AND user_id <> $2 AND read_seq >= $3 ORDER BY user_id",
                    )
                    .bind(&req.conversation_id)
                    .bind(&message.sender_id)
                    .bind(message.seq)
                    .fetch_all(self.reader())
                    .await?;
                    out.others = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM members WHERE conversation_id = $1 AND user_id <> $2",
                    )
                    .bind(&req.conversation_id)
                    .bind(&message.sender_id)
                    .fetch_one(self.reader())
                    .await?;
                    out.message = Some(message);
                    Ok(out)
                }

                async fn replay_messages(
                    &self,
                    req: ReplayMessagesRequest,
                ) -> Result<ListMessagesResponse, StoreError> {
                    let limit = page_limit(req.limit, 100);
                    let rows: Vec<shared::MessageRow> = if req.conversation_id.is_empty() {
                        // Plain ORs instead of a row-value comparison (see sql.rs); the
                        // messages_created_idx index is exactly this order.
                        sqlx::query_as(concat!(
                            "SELECT ",
                            msg_cols!(),
                            " FROM messages WHERE created_at >= $1 AND (created_at > $2 \
                             OR (created_at = $2 AND (conversation_id > $3 \
                             OR (conversation_id = $3 AND seq > $4)))) \
                             ORDER BY created_at, conversation_id, seq LIMIT $5"
                        ))
                        .bind(req.since_time)
                        .bind(req.after_created_at)
                        .bind(&req.after_conversation_id)
                        .bind(req.after_seq)
                        .bind(limit + 1)
                        .fetch_all(self.reader())
                        .await?
                    } else {
                        sqlx::query_as(concat!(
                            "SELECT ",
                            msg_cols!(),
                            " FROM messages WHERE conversation_id = $1 AND seq > $2 \
                             AND created_at >= $3 ORDER BY seq LIMIT $4"
                        ))
                        .bind(&req.conversation_id)
                        .bind(req.after_seq)
                        .bind(req.since_time)
                        .bind(limit + 1)
                        .fetch_all(self.reader())
                        .await?
                    };
                    let has_more = rows.len() as i64 > limit;
                    Ok(ListMessagesResponse {
                        messages: rows
                            .into_iter()
                            .take(limit as usize)
                            .map(shared::MessageRow::into_proto)
                            .collect(),
                        has_more,
                    })
                }
            }
        }
    };
}

pub(crate) use impl_messages;

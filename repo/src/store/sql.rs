//! The one body of SQL both backends run.
//!
//! [`impl_store!`] expands the whole `impl Store` for a concrete store type and sqlx database,
//! so the Rust and the SQL are written once yet compiled monomorphically per backend: no bounds
//! generic over `sqlx::Database`. The store type provides `writer()` and `reader()` pools (the
//! same pool on PostgreSQL; SQLite has a single-connection writer, so our own writers never
//! meet `SQLITE_BUSY`, and a pool of readers) and `begin_write()`, which opens a write
//! transaction on the writer (`BEGIN IMMEDIATE` on SQLite: the write lock is taken up front, so
//! a transaction that reads first can never fail to upgrade).
//!
//! The SQL is the common dialect of PostgreSQL and SQLite (3.35+ for `RETURNING`): `$N`
//! placeholders (sqlx-sqlite binds `$N` by number), `ON CONFLICT ... DO NOTHING`, `TRUE`/`FALSE`
//! literals, row values left out in favour of plain `OR` comparisons. Variable-length `IN`
//! lists go through `sqlx::QueryBuilder`, which writes each backend's placeholders.
//!
//! Every write that reads before it writes runs in one `begin_write()` transaction, and inside a
//! transaction every statement goes through that transaction's connection: on SQLite asking
//! the writer pool for a second connection there would wait forever.

mod rows;

pub(crate) use rows::{
    ConvRow, MessageRow, SessionRow, TokenStateRow, UserRow, conv_cols, db_err, decode_cursor,
    encode_cursor, msg_cols, now_ms, unique_ids, user_cols,
};

/// Rows per `IN (...)` / multi-row `VALUES` statement: far below both backends' bind limits.
pub(crate) const CHUNK: usize = 500;

/// Expands `impl Store for $store` on the sqlx database `$db`. `$store` must have
/// `fn writer(&self) -> &sqlx::Pool<$db>`, `fn reader(&self) -> &sqlx::Pool<$db>` and
/// `async fn begin_write(&self) -> Result<sqlx::Transaction<'static, $db>, sqlx::Error>`.
macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        /// The shared `impl Store`, in its own module so that its imports stay out of the
        /// caller's.
        mod shared_impl {
            use super::*;
            use $crate::store::sql as shared;
            use $crate::store::sql::{conv_cols, msg_cols, user_cols};
            use $crate::store::{Store, StoreError, page_limit};
            use natter_proto::repo::{
                AppendMessageRequest, AppendMessageResponse, Conversation, CreateGroupRequest,
                CreateSessionRequest, CreateUserRequest, GetOrCreateDirectRequest,
                GetOrCreateDirectResponse, ListConversationsRequest, ListConversationsResponse,
                ListMessagesRequest, ListMessagesResponse, RotateOutcome, RotateRefreshTokenRequest,
                RotateRefreshTokenResponse, Session, SyncMessagesRequest, User,
            };

            /// Helpers that run on a connection the caller holds (often a transaction's).
            impl $store {
                /// Every member of the conversation, in primary-key order (no sort needed).
                async fn member_ids(
                    conn: &mut <$db as sqlx::Database>::Connection,
                    conversation_id: &str,
                ) -> Result<Vec<String>, sqlx::Error> {
                    sqlx::query_scalar(
                        "SELECT user_id FROM members WHERE conversation_id = $1 ORDER BY user_id",
                    )
                    .bind(conversation_id)
                    .fetch_all(&mut *conn)
                    .await
                }

                /// The conversation with member ids, last message and (with a viewer) the
                /// viewer's read pointer; `NotFound` if absent or the viewer is not a member.
                async fn load_conversation(
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
                async fn find_by_client_msg_id(
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
                async fn duplicate(
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
                async fn message_page(
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

            #[async_trait::async_trait]
            impl Store for $store {
                async fn create_user(&self, req: CreateUserRequest) -> Result<User, StoreError> {
                    // Emails compare case-insensitively: stored lower-cased (logic does it too;
                    // doing it here as well keeps the unique constraint honest). "" means none.
                    let email = req.email.map(|e| e.to_lowercase()).filter(|e| !e.is_empty());
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

                async fn get_or_create_direct(
                    &self,
                    req: GetOrCreateDirectRequest,
                ) -> Result<GetOrCreateDirectResponse, StoreError> {
                    let (a, b) = if req.user_id <= req.other_user_id {
                        (&req.user_id, &req.other_user_id)
                    } else {
                        (&req.other_user_id, &req.user_id)
                    };
                    let direct_key = format!("{a}:{b}");
                    let mut tx = self.begin_write().await?;
                    // The unique direct_key decides between concurrent creators: the loser's
                    // insert waits for the winner's commit, then does nothing.
                    let inserted: Option<String> = sqlx::query_scalar(
                        "INSERT INTO conversations (id, kind, direct_key, created_at, updated_at) \
                         VALUES ($1, 'direct', $2, $3, $3) \
                         ON CONFLICT (direct_key) DO NOTHING RETURNING id",
                    )
                    .bind(&req.conversation_id)
                    .bind(&direct_key)
                    .bind(req.now)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| shared::db_err(e, "user"))?;
                    let created = inserted.is_some();
                    if created {
                        // DO NOTHING: a conversation with oneself has a single member.
                        sqlx::query(
                            "INSERT INTO members (conversation_id, user_id, role, joined_at) \
                             VALUES ($1, $2, 'member', $4), ($1, $3, 'member', $4) \
                             ON CONFLICT (conversation_id, user_id) DO NOTHING",
                        )
                        .bind(&req.conversation_id)
                        .bind(a)
                        .bind(b)
                        .bind(req.now)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| shared::db_err(e, "user"))?;
                    }
                    let id: String =
                        sqlx::query_scalar("SELECT id FROM conversations WHERE direct_key = $1")
                            .bind(&direct_key)
                            .fetch_one(&mut *tx)
                            .await?;
                    let conversation =
                        Self::load_conversation(&mut tx, &id, Some(&req.user_id)).await?;
                    tx.commit().await?;
                    Ok(GetOrCreateDirectResponse {
                        conversation: Some(conversation),
                        created,
                    })
                }

                async fn create_group(
                    &self,
                    req: CreateGroupRequest,
                ) -> Result<Conversation, StoreError> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "INSERT INTO conversations (id, kind, name, avatar_url, owner_id, \
                         max_members, is_public, created_at, updated_at) \
                         VALUES ($1, 'group', $2, $3, $4, $5, $6, $7, $7)",
                    )
                    .bind(&req.conversation_id)
                    .bind(&req.name)
                    .bind(&req.avatar_url)
                    .bind(&req.owner_id)
                    .bind(i64::from(req.max_members))
                    .bind(req.is_public)
                    .bind(req.now)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| shared::db_err(e, "user"))?;
                    let mut members = vec![(req.owner_id.as_str(), "owner")];
                    members.extend(
                        shared::unique_ids(&req.member_ids, Some(&req.owner_id))
                            .into_iter()
                            .map(|id| (id, "member")),
                    );
                    for chunk in members.chunks(shared::CHUNK) {
                        let mut qb = sqlx::QueryBuilder::<$db>::new(
                            "INSERT INTO members (conversation_id, user_id, role, joined_at) ",
                        );
                        qb.push_values(chunk, |mut row, (user_id, role)| {
                            row.push_bind(&req.conversation_id)
                                .push_bind(*user_id)
                                .push_bind(*role)
                                .push_bind(req.now);
                        });
                        qb.build()
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| shared::db_err(e, "user"))?;
                    }
                    let conversation =
                        Self::load_conversation(&mut tx, &req.conversation_id, Some(&req.owner_id))
                            .await?;
                    tx.commit().await?;
                    Ok(conversation)
                }

                async fn get_conversation(
                    &self,
                    conversation_id: &str,
                    viewer_id: Option<&str>,
                ) -> Result<Conversation, StoreError> {
                    let mut conn = self.reader().acquire().await?;
                    Self::load_conversation(&mut conn, conversation_id, viewer_id).await
                }

                async fn list_conversations(
                    &self,
                    req: ListConversationsRequest,
                ) -> Result<ListConversationsResponse, StoreError> {
                    let limit = page_limit(req.limit, 50);
                    let (after_at, after_id) = shared::decode_cursor(req.cursor.as_deref())?;
                    let mut rows: Vec<shared::ConvRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        conv_cols!(),
                        " FROM members v \
                         JOIN conversations c ON c.id = v.conversation_id \
                         LEFT JOIN messages lm \
                           ON lm.conversation_id = c.id AND lm.seq = c.last_seq \
                         WHERE v.user_id = $1 AND v.hidden = FALSE \
                           AND ($2 = FALSE OR c.kind = 'group') \
                           AND (c.updated_at < $3 OR (c.updated_at = $3 AND c.id < $4)) \
                         ORDER BY c.updated_at DESC, c.id DESC \
                         LIMIT $5"
                    ))
                    .bind(&req.user_id)
                    .bind(req.groups_only)
                    .bind(after_at)
                    .bind(&after_id)
                    .bind(limit + 1)
                    .fetch_all(self.reader())
                    .await?;
                    let next_cursor = if rows.len() as i64 > limit {
                        rows.truncate(limit as usize);
                        rows.last().map(|r| shared::encode_cursor(r.updated_at, &r.id))
                    } else {
                        None
                    };
                    // Every member of every conversation on the page, in one query.
                    let mut members: std::collections::HashMap<String, Vec<String>> =
                        std::collections::HashMap::new();
                    if !rows.is_empty() {
                        let mut qb = sqlx::QueryBuilder::<$db>::new(
                            "SELECT conversation_id, user_id FROM members \
                             WHERE conversation_id IN (",
                        );
                        let mut list = qb.separated(", ");
                        for row in &rows {
                            list.push_bind(row.id.as_str());
                        }
                        qb.push(") ORDER BY conversation_id, user_id");
                        let pairs: Vec<(String, String)> =
                            qb.build_query_as().fetch_all(self.reader()).await?;
                        for (conversation_id, user_id) in pairs {
                            members.entry(conversation_id).or_default().push(user_id);
                        }
                    }
                    // Over all of the user's conversations, hidden and filtered ones included.
                    // read_seq never exceeds last_seq, so every term is >= 0. SUM of BIGINT is
                    // NUMERIC on PostgreSQL: cast back.
                    let total_unread: i64 = sqlx::query_scalar(
                        "SELECT CAST(COALESCE(SUM(c.last_seq - v.read_seq), 0) AS BIGINT) \
                         FROM members v JOIN conversations c ON c.id = v.conversation_id \
                         WHERE v.user_id = $1",
                    )
                    .bind(&req.user_id)
                    .fetch_one(self.reader())
                    .await?;
                    let conversations = rows
                        .into_iter()
                        .map(|row| {
                            let ids = members.remove(&row.id).unwrap_or_default();
                            row.into_proto(ids)
                        })
                        .collect();
                    Ok(ListConversationsResponse {
                        conversations,
                        next_cursor,
                        total_unread,
                    })
                }

                async fn set_read_seq(
                    &self,
                    conversation_id: &str,
                    user_id: &str,
                    seq: i64,
                ) -> Result<i64, StoreError> {
                    let current: Option<(i64, i64)> = sqlx::query_as(
                        "SELECT v.read_seq, c.last_seq \
                         FROM members v JOIN conversations c ON c.id = v.conversation_id \
                         WHERE v.conversation_id = $1 AND v.user_id = $2",
                    )
                    .bind(conversation_id)
                    .bind(user_id)
                    .fetch_optional(self.reader())
                    .await?;
                    let (read_seq, last_seq) = current.ok_or(StoreError::NotFound("member"))?;
                    // last_seq only grows, so a clamp from this read stays valid when we write.
                    let target = seq.min(last_seq);
                    if target <= read_seq {
                        return Ok(read_seq);
                    }
                    // Forward only, even against a concurrent call that moved it further.
                    let after: Option<i64> = sqlx::query_scalar(
                        "UPDATE members \
                         SET read_seq = CASE WHEN read_seq > $3 THEN read_seq ELSE $3 END \
                         WHERE conversation_id = $1 AND user_id = $2 RETURNING read_seq",
                    )
                    .bind(conversation_id)
                    .bind(user_id)
                    .bind(target)
                    .fetch_optional(self.writer())
                    .await?;
                    after.ok_or(StoreError::NotFound("member"))
                }

                async fn append_message(
                    &self,
                    req: AppendMessageRequest,
                ) -> Result<AppendMessageResponse, StoreError> {
                    let client_msg_id = req.client_msg_id.as_deref().filter(|c| !c.is_empty());
                    let metadata = if req.metadata_json.is_empty() {
                        "{}"
                    } else {
                        req.metadata_json.as_str()
                    };
                    let mut tx = self.begin_write().await?;
                    // (1) A retry: answer with what was stored, consuming no seq.
                    if let Some(client_msg_id) = client_msg_id {
                        let stored =
                            Self::find_by_client_msg_id(&mut tx, &req.sender_id, client_msg_id)
                                .await?;
                        if let Some(stored) = stored {
                            return Self::duplicate(&mut tx, stored, &req.conversation_id).await;
                        }
                    }
                    // (2) The conversation exists and the sender is in it.
                    let membership: Option<Option<String>> = sqlx::query_scalar(
                        "SELECT v.user_id FROM conversations c \
                         LEFT JOIN members v ON v.conversation_id = c.id AND v.user_id = $2 \
                         WHERE c.id = $1",
                    )
                    .bind(&req.conversation_id)
                    .bind(&req.sender_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    match membership {
                        None => return Err(StoreError::NotFound("conversation")),
                        Some(None) => return Err(StoreError::NotMember),
                        Some(Some(_)) => {}
                    }
                    // (3) Take the next seq. On PostgreSQL the row lock this takes serializes the
                    // senders of one conversation until commit; on SQLite the single writer does.
                    // updated_at never moves backward, whatever the callers' clocks say.
                    let seq: i64 = sqlx::query_scalar(
                        "UPDATE conversations SET last_seq = last_seq + 1, \
                         updated_at = CASE WHEN updated_at > $2 THEN updated_at ELSE $2 END \
                         WHERE id = $1 RETURNING last_seq",
                    )
                    .bind(&req.conversation_id)
                    .bind(req.created_at)
                    .fetch_one(&mut *tx)
                    .await?;
                    // (4) Store it, unless a concurrent retry of the same client_msg_id won.
                    let inserted: Option<shared::MessageRow> = sqlx::query_as(concat!(
                        "INSERT INTO messages (conversation_id, seq, id, sender_id, kind, content, \
                         metadata, client_msg_id, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                         ON CONFLICT (sender_id, client_msg_id) DO NOTHING RETURNING ",
                        msg_cols!()
                    ))
                    .bind(&req.conversation_id)
                    .bind(seq)
                    .bind(&req.message_id)
                    .bind(&req.sender_id)
                    .bind(&req.kind)
                    .bind(&req.content)
                    .bind(metadata)
                    .bind(client_msg_id)
                    .bind(req.created_at)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| shared::db_err(e, "conversation"))?;
                    let Some(message) = inserted else {
                        // Rolling back also undoes the seq bump: no gap.
                        tx.rollback().await?;
                        let mut conn = self.writer().acquire().await?;
                        let stored = Self::find_by_client_msg_id(
                            &mut conn,
                            &req.sender_id,
                            client_msg_id.unwrap_or_default(),
                        )
                        .await?
                        .ok_or(StoreError::NotFound("message"))?;
                        return Self::duplicate(&mut conn, stored, &req.conversation_id).await;
                    };
                    // (5) A conversation a member hid comes back with the next message.
                    sqlx::query(
                        "UPDATE members SET hidden = FALSE \
                         WHERE conversation_id = $1 AND hidden = TRUE",
                    )
                    .bind(&req.conversation_id)
                    .execute(&mut *tx)
                    .await?;
                    // (6) Who to fan out to.
                    let member_ids = Self::member_ids(&mut tx, &req.conversation_id).await?;
                    tx.commit().await?;
                    Ok(AppendMessageResponse {
                        message: Some(message.into_proto()),
                        duplicate: false,
                        member_ids,
                    })
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
            }
        }
    };
}

pub(crate) use impl_store;

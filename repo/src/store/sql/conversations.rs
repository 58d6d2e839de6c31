//! Conversations and members: direct pairs, groups, the chat list, read pointers. Group
//! changes and their system messages are in [`changes`] and [`membership`].

pub(crate) mod changes;
pub(crate) mod membership;

/// Expands the `ConversationStore` impl for a store type on a sqlx database (see [`super::impl_store`]).
macro_rules! impl_conversations {
    ($store:ty, $db:ty) => {
        $crate::store::sql::conversations::membership::impl_membership!($store, $db);
        $crate::store::sql::conversations::changes::impl_changes!($store, $db);
        mod conversations_impl {
            use super::*;
            use natter_proto::repo::{
                AddMembersRequest, Conversation, CreateGroupRequest, GetOrCreateDirectRequest,
                GetOrCreateDirectResponse, GroupChange, ListConversationsRequest,
                ListConversationsResponse, ListMembersRequest, ListMembersResponse,
                ListUserGroupsRequest, Member, RemoveMemberRequest, SetMemberRoleRequest,
                UpdateConversationRequest,
            };
            use $crate::store::sql as shared;
            use $crate::store::sql::conv_cols;
            use $crate::store::sql::conversations::membership::Event;
            use $crate::store::{StoreError, page_limit};

            #[async_trait::async_trait]
            impl $crate::store::ConversationStore for $store {
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
                    // Seq 1 of every group says who created it.
                    let created = Event {
                        kind: "created",
                        user_id: &req.owner_id,
                        by: &req.owner_id,
                        detail: Some(("name", &req.name)),
                    };
                    Self::append_system(&mut tx, &req.conversation_id, &created, req.now).await?;
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
                        rows.last()
                            .map(|r| shared::encode_cursor(r.updated_at, &r.id))
                    } else {
                        None
                    };
                    // Every member of every conversation on the page, in one query.
                    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
                    let mut members = self.members_of(&ids).await?;
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

                async fn update_group(
                    &self,
                    req: UpdateConversationRequest,
                ) -> Result<GroupChange, StoreError> {
                    self.change_group(req).await
                }

                async fn add_members(
                    &self,
                    req: AddMembersRequest,
                ) -> Result<GroupChange, StoreError> {
                    self.add_to_group(req).await
                }

                async fn remove_member(
                    &self,
                    req: RemoveMemberRequest,
                ) -> Result<GroupChange, StoreError> {
                    self.remove_from_group(req).await
                }

                async fn set_member_role(
                    &self,
                    req: SetMemberRoleRequest,
                ) -> Result<GroupChange, StoreError> {
                    self.change_role(req).await
                }

                async fn get_member(
                    &self,
                    conversation_id: &str,
                    user_id: &str,
                ) -> Result<Member, StoreError> {
                    let mut conn = self.reader().acquire().await?;
                    Self::member_row(&mut conn, conversation_id, user_id).await
                }

                async fn list_members(
                    &self,
                    req: ListMembersRequest,
                ) -> Result<ListMembersResponse, StoreError> {
                    self.member_page(req).await
                }

                async fn set_hidden(
                    &self,
                    conversation_id: &str,
                    user_id: &str,
                ) -> Result<(), StoreError> {
                    let done = sqlx::query(
                        "UPDATE members SET hidden = TRUE \
                         WHERE conversation_id = $1 AND user_id = $2",
                    )
                    .bind(conversation_id)
                    .bind(user_id)
                    .execute(self.writer())
                    .await?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound("member"));
                    }
                    Ok(())
                }

                async fn list_user_groups(
                    &self,
                    req: ListUserGroupsRequest,
                ) -> Result<ListConversationsResponse, StoreError> {
                    let limit = page_limit(req.limit, 50);
                    let mut rows: Vec<shared::ConvRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        conv_cols!(),
                        " FROM members t \
                         JOIN conversations c ON c.id = t.conversation_id \
                         LEFT JOIN members v ON v.conversation_id = c.id AND v.user_id = $2 \
                         LEFT JOIN messages lm \
                           ON lm.conversation_id = c.id AND lm.seq = c.last_seq \
                         WHERE t.user_id = $1 AND c.kind = 'group' AND c.id > $3 \
                           AND (t.user_id = $2 OR c.is_public = TRUE OR v.user_id IS NOT NULL) \
                         ORDER BY c.id LIMIT $4"
                    ))
                    .bind(&req.user_id)
                    .bind(&req.viewer_id)
                    .bind(req.after_id.as_deref().unwrap_or_default())
                    .bind(limit + 1)
                    .fetch_all(self.reader())
                    .await?;
                    let next_cursor = if rows.len() as i64 > limit {
                        rows.truncate(limit as usize);
                        rows.last().map(|r| r.id.clone())
                    } else {
                        None
                    };
                    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
                    let mut members = self.members_of(&ids).await?;
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
                        total_unread: 0,
                    })
                }

                async fn list_contacts(
                    &self,
                    user_id: &str,
                    max_group_members: i64,
                    limit: i64,
                ) -> Result<Vec<String>, StoreError> {
                    // A group's size is counted in the index, not read out row by row.
                    Ok(sqlx::query_scalar(
                        "SELECT friend_id AS id FROM friendships WHERE user_id = $1 \
                         UNION \
                         SELECT o.user_id FROM members m \
                         JOIN conversations c ON c.id = m.conversation_id \
                         JOIN members o ON o.conversation_id = m.conversation_id \
                         WHERE m.user_id = $1 AND m.hidden = FALSE AND o.user_id <> $1 \
                           AND (c.kind = 'direct' OR (SELECT COUNT(*) FROM members n \
                                WHERE n.conversation_id = c.id) <= $2) \
                         ORDER BY id LIMIT $3",
                    )
                    .bind(user_id)
                    .bind(max_group_members)
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?)
                }
            }
        }
    };
}

pub(crate) use impl_conversations;

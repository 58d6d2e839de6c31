//! The four group writes (update, add, remove, set role), each one transaction with the system
//! messages that record it (see [`super::membership`]). Who may make a change is logic's
//! business; these only keep the group's invariants: one owner while anyone is in it, never
//! more members than `max_members`.

/// Expands the group writes (inherent methods the `ConversationStore` impl calls).
macro_rules! impl_changes {
    ($store:ty, $db:ty) => {
        mod changes_impl {
            use super::*;
            use natter_proto::repo::{
                AddMembersRequest, GroupChange, Message, RemoveMemberRequest, SetMemberRoleRequest,
                UpdateConversationRequest,
            };
            use $crate::store::StoreError;
            use $crate::store::sql as shared;
            use $crate::store::sql::conversations::membership::Event;

            impl $store {
                /// The answer to a change: the group after it, read in the same transaction.
                async fn changed(
                    mut tx: sqlx::Transaction<'static, $db>,
                    conversation_id: &str,
                    system_messages: Vec<Message>,
                    removed: Option<&str>,
                ) -> Result<GroupChange, StoreError> {
                    let conversation =
                        Self::load_conversation(&mut tx, conversation_id, None).await?;
                    tx.commit().await?;
                    let mut recipient_ids = conversation.member_ids.clone();
                    recipient_ids.extend(removed.map(str::to_owned));
                    Ok(GroupChange {
                        conversation: Some(conversation),
                        system_messages,
                        recipient_ids,
                        member: None,
                    })
                }

                pub(super) async fn change_group(
                    &self,
                    req: UpdateConversationRequest,
                ) -> Result<GroupChange, StoreError> {
                    let cid = req.conversation_id.as_str();
                    let mut tx = self.begin_write().await?;
                    let (_, old_name, _, _) = Self::lock_group(&mut tx, cid).await?;
                    if let Some(max) = req.max_members {
                        let count: i64 = sqlx::query_scalar(
                            "SELECT COUNT(*) FROM members WHERE conversation_id = $1",
                        )
                        .bind(cid)
                        .fetch_one(&mut *tx)
                        .await?;
                        if i64::from(max) < count {
                            return Err(StoreError::FailedPrecondition(format!(
                                "max_members ({max}) is below the current member count ({count})"
                            )));
                        }
                    }
                    sqlx::query(
                        "UPDATE conversations SET name = COALESCE($2, name), \
                         avatar_url = COALESCE($3, avatar_url), \
                         is_public = COALESCE($4, is_public), \
                         max_members = COALESCE($5, max_members) WHERE id = $1",
                    )
                    .bind(cid)
                    .bind(req.name.as_deref())
                    .bind(req.avatar_url.as_deref())
                    .bind(req.is_public)
                    .bind(req.max_members.map(i64::from))
                    .execute(&mut *tx)
                    .await?;
                    let mut messages = Vec::new();
                    if let Some(name) = req.name.as_deref().filter(|n| *n != old_name) {
                        let event = Event {
                            kind: "renamed",
                            user_id: &req.by,
                            by: &req.by,
                            detail: Some(("name", name)),
                        };
                        messages.push(Self::append_system(&mut tx, cid, &event, req.now).await?);
                    }
                    Self::changed(tx, cid, messages, None).await
                }

                pub(super) async fn add_to_group(
                    &self,
                    req: AddMembersRequest,
                ) -> Result<GroupChange, StoreError> {
                    let cid = req.conversation_id.as_str();
                    let mut tx = self.begin_write().await?;
                    let (_, _, _, max_members) = Self::lock_group(&mut tx, cid).await?;
                    let wanted = shared::unique_ids(&req.user_ids, None);
                    let existing = Self::existing_members(&mut tx, cid, &wanted).await?;
                    let new: Vec<&str> = wanted
                        .into_iter()
                        .filter(|id| !existing.iter().any(|e| e == id))
                        .collect();
                    let count: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM members WHERE conversation_id = $1",
                    )
                    .bind(cid)
                    .fetch_one(&mut *tx)
                    .await?;
                    if count + new.len() as i64 > max_members {
                        return Err(StoreError::FailedPrecondition("group is full".into()));
                    }
                    let rows: Vec<(&str, &str)> = new.iter().map(|id| (*id, "member")).collect();
                    Self::insert_members(&mut tx, cid, &rows, req.now).await?;
                    // An empty group has no owner: whoever comes in first takes it.
                    if count == 0
                        && let Some(first) = new.first()
                    {
                        Self::set_owner(&mut tx, cid, Some(first)).await?;
                    }
                    let mut messages = Vec::with_capacity(new.len());
                    for user_id in &new {
                        let kind = if *user_id == req.by {
                            "joined"
                        } else {
                            "added"
                        };
                        let event = Event {
                            kind,
                            user_id,
                            by: &req.by,
                            detail: None,
                        };
                        messages.push(Self::append_system(&mut tx, cid, &event, req.now).await?);
                    }
                    Self::changed(tx, cid, messages, None).await
                }

                pub(super) async fn remove_from_group(
                    &self,
                    req: RemoveMemberRequest,
                ) -> Result<GroupChange, StoreError> {
                    let (cid, user_id) = (req.conversation_id.as_str(), req.user_id.as_str());
                    let mut tx = self.begin_write().await?;
                    Self::lock_group(&mut tx, cid).await?;
                    let member = Self::member_row(&mut tx, cid, user_id).await?;
                    let leaving = req.by == user_id;
                    if member.role == "owner" && !leaving {
                        return Err(StoreError::FailedPrecondition(
                            "the owner cannot be removed".into(),
                        ));
                    }
                    sqlx::query("DELETE FROM members WHERE conversation_id = $1 AND user_id = $2")
                        .bind(cid)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                    let event = Event {
                        kind: if leaving { "left" } else { "removed" },
                        user_id,
                        by: &req.by,
                        detail: None,
                    };
                    let mut messages =
                        vec![Self::append_system(&mut tx, cid, &event, req.now).await?];
                    if member.role == "owner" {
                        let heir: Option<String> = sqlx::query_scalar(
                            "SELECT user_id FROM members WHERE conversation_id = $1 \
                             ORDER BY CASE WHEN role = 'admin' THEN 0 ELSE 1 END, \
                             joined_at, user_id LIMIT 1",
                        )
                        .bind(cid)
                        .fetch_optional(&mut *tx)
                        .await?;
                        Self::set_owner(&mut tx, cid, heir.as_deref()).await?;
                        if let Some(heir) = heir.as_deref() {
                            let event = Event {
                                kind: "role_changed",
                                user_id: heir,
                                by: user_id,
                                detail: Some(("role", "owner")),
                            };
                            messages
                                .push(Self::append_system(&mut tx, cid, &event, req.now).await?);
                        }
                    }
                    Self::changed(tx, cid, messages, Some(user_id)).await
                }

                pub(super) async fn change_role(
                    &self,
                    req: SetMemberRoleRequest,
                ) -> Result<GroupChange, StoreError> {
                    let (cid, user_id, role) = (
                        req.conversation_id.as_str(),
                        req.user_id.as_str(),
                        req.role.as_str(),
                    );
                    if !matches!(role, "owner" | "admin" | "member") {
                        return Err(StoreError::FailedPrecondition(format!(
                            "unknown role {role}"
                        )));
                    }
                    let mut tx = self.begin_write().await?;
                    let (_, _, owner, _) = Self::lock_group(&mut tx, cid).await?;
                    let member = Self::member_row(&mut tx, cid, user_id).await?;
                    let mut messages = Vec::new();
                    if member.role != role {
                        if member.role == "owner" {
                            return Err(StoreError::FailedPrecondition(
                                "the owner's role changes only by transferring ownership".into(),
                            ));
                        }
                        if role == "owner" {
                            if let Some(old) = owner.as_deref() {
                                Self::set_role(&mut tx, cid, old, "admin").await?;
                            }
                            Self::set_owner(&mut tx, cid, Some(user_id)).await?;
                        } else {
                            Self::set_role(&mut tx, cid, user_id, role).await?;
                        }
                        let event = Event {
                            kind: "role_changed",
                            user_id,
                            by: &req.by,
                            detail: Some(("role", role)),
                        };
                        messages.push(Self::append_system(&mut tx, cid, &event, req.now).await?);
                    }
                    let member = Self::member_row(&mut tx, cid, user_id).await?;
                    let mut change = Self::changed(tx, cid, messages, None).await?;
                    change.member = Some(member);
                    Ok(change)
                }
            }
        }
    };
}

pub(crate) use impl_changes;

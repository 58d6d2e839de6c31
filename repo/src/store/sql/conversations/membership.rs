//! Group changes (who is in a group, with which role, under which name) and the system
//! messages that record them.
//!
//! Every change runs in one write transaction that first takes the group's row lock (a no-op
//! `UPDATE`: PostgreSQL holds the row until commit, SQLite's single writer serializes anyway),
//! so checks such as "is the group full" cannot race a concurrent join. The system messages
//! are appended in the same transaction, taking the next seqs exactly as `append_message` does:
//! the change and its record commit together or not at all.

use natter_proto::repo::Member;

/// A change to record as a system message: metadata `{"event", "user_id", "by"}` plus the
/// `detail` (`"name"` for created/renamed, `"role"` for role_changed).
pub(crate) struct Event<'a> {
    pub(crate) kind: &'static str,
    /// The member the change is about (the actor for created/renamed).
    pub(crate) user_id: &'a str,
    pub(crate) by: &'a str,
    pub(crate) detail: Option<(&'static str, &'a str)>,
}

impl Event<'_> {
    /// The short human sentence clients show, from the nicknames of `user_id` and `by`.
    pub(crate) fn sentence(&self, user: &str, by: &str) -> String {
        let detail = self.detail.map(|(_, v)| v).unwrap_or_default();
        match self.kind {
            "created" => format!("{by} created the group \"{detail}\""),
            "renamed" => format!("{by} renamed the group to \"{detail}\""),
            "joined" => format!("{user} joined"),
            "left" => format!("{user} left"),
            "added" => format!("{by} added {user}"),
            "removed" => format!("{by} removed {user}"),
            "role_changed" => {
                let role = match detail {
                    "owner" => "the owner",
                    "admin" => "an admin",
                    _ => "a member",
                };
                format!("{user} is now {role}")
            }
            other => format!("{by}: {other} {user}"),
        }
    }

    pub(crate) fn metadata_json(&self) -> String {
        let mut map = serde_json::Map::new();
        map.insert("event".into(), self.kind.into());
        map.insert("user_id".into(), self.user_id.into());
        map.insert("by".into(), self.by.into());
        if let Some((key, value)) = self.detail {
            map.insert(key.into(), value.into());
        }
        serde_json::Value::Object(map).to_string()
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MemberRow {
    user_id: String,
    role: String,
    joined_at: i64,
    read_seq: i64,
}

impl MemberRow {
    pub(crate) fn into_proto(self) -> Member {
        Member {
            user_id: self.user_id,
            role: self.role,
            joined_at: self.joined_at,
            read_seq: self.read_seq,
        }
    }
}

/// What the group-row lock reads: `(kind, name, owner_id, max_members)`.
pub(crate) type GroupRow = (String, String, Option<String>, i64);

/// Expands the membership helpers (inherent methods the `ConversationStore` impl calls).
macro_rules! impl_membership {
    ($store:ty, $db:ty) => {
        mod membership_impl {
            use super::*;
            use natter_proto::repo::{Message, Member, ListMembersRequest, ListMembersResponse};
            use $crate::store::sql as shared;
            use $crate::store::sql::conversations::membership::{Event, GroupRow, MemberRow};
            use $crate::store::sql::msg_cols;
            use $crate::store::{StoreError, page_limit};
            use std::collections::HashMap;

            impl $store {
                /// Locks the group's row until commit; `FailedPrecondition` unless a group.
                pub(super) async fn lock_group(
                    conn: &mut <$db as sqlx::Database>::Connection,
                    conversation_id: &str,
                ) -> Result<GroupRow, StoreError> {
                    let row: Option<GroupRow> = sqlx::query_as(
                        "UPDATE conversations SET last_seq = last_seq WHERE id = $1 \
                         RETURNING kind, name, owner_id, max_members",
                    )
                    .bind(conversation_id)
                    .fetch_optional(&mut *conn)
                    .await?;
                    let row = row.ok_or(StoreError::NotFound("conversation"))?;
                    if row.0 != "group" {
                        return Err(StoreError::FailedPrecondition("not a group".into()));
                    }
                    Ok(row)
                }

                /// Appends the system message recording `event`, taking the next seq; like
                /// any message it bumps `updated_at` and un-hides the conversation.
                pub(super) async fn append_system(
                    conn: &mut <$db as sqlx::Database>::Connection,
                    conversation_id: &str,
                    event: &Event<'_>,
                    now: i64,
                ) -> Result<Message, StoreError> {
                    let names: Vec<(String, String)> = sqlx::query_as(
                        "SELECT id, nickname FROM users WHERE id = $1 OR id = $2",
                    )
                    .bind(event.user_id)
                    .bind(event.by)
                    .fetch_all(&mut *conn)
                    .await?;
                    let nick = |id: &str| {
                        names
                            .iter()
                            .find(|(i, _)| i == id)
                            .map_or("someone", |(_, n)| n.as_str())
                    };
                    let content = event.sentence(nick(event.user_id), nick(event.by));
                    let seq: i64 = sqlx::query_scalar(
                        "UPDATE conversations SET last_seq = last_seq + 1, \
                         updated_at = CASE WHEN updated_at > $2 THEN updated_at ELSE $2 END \
                         WHERE id = $1 RETURNING last_seq",
                    )
                    .bind(conversation_id)
                    .bind(now)
                    .fetch_one(&mut *conn)
                    .await?;
                    let row: shared::MessageRow = sqlx::query_as(concat!(
                        "INSERT INTO messages (conversation_id, seq, id, sender_id, kind, \
                         content, metadata, created_at) \
                         VALUES ($1, $2, $3, $4, 'system', $5, $6, $7) RETURNING ",
                        msg_cols!()
                    ))
                    .bind(conversation_id)
                    .bind(seq)
                    .bind(uuid::Uuid::now_v7().to_string())
                    .bind(event.by)
                    .bind(&content)
                    .bind(event.metadata_json())
                    .bind(now)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(|e| shared::db_err(e, "user"))?;
                    sqlx::query(
                        "UPDATE members SET hidden = FALSE \
                         WHERE conversation_id = $1 AND hidden = TRUE",
                    )
                    .bind(conversation_id)
                    .execute(&mut *conn)
                    .await?;
                    Ok(row.into_proto())
                }

                pub(super) async fn member_row(
                    conn: &mut <$db as sqlx::Database>::Connection,
                    conversation_id: &str,
                    user_id: &str,
                ) -> Result<Member, StoreError> {
                    let row: Option<MemberRow> = sqlx::query_as(
                        "SELECT user_id, role, joined_at, read_seq FROM members \
                         WHERE conversation_id = $1 AND user_id = $2",
                    )
                    .bind(conversation_id)
                    .bind(user_id)
                    .fetch_optional(&mut *conn)
                    .await?;
                    row.map(MemberRow::into_proto)
                        .ok_or(StoreError::NotFound("member"))
                }

                pub(super) async fn set_role(
                    conn: &mut <$db as sqlx::Database>::Connection,
                    conversation_id: &str,
                    user_id: &str,
                    role: &str,
                ) -> Result<(), StoreError> {
                    sqlx::query(
                        "UPDATE members SET role = $3 WHERE conversation_id = $1 AND user_id = $2",
                    )
                    .bind(conversation_id)
                    .bind(user_id)
                    .bind(role)
                    .execute(&mut *conn)
                    .await?;
                    Ok(())
                }

                /// Records `user_id` as the group's owner (role and `owner_id`), or no owner.
                pub(super) async fn set_owner(
                    conn: &mut <$db as sqlx::Database>::Connection,
                    conversation_id: &str,
                    user_id: Option<&str>,
                ) -> Result<(), StoreError> {
                    if let Some(user_id) = user_id {
                        Self::set_role(conn, conversation_id, user_id, "owner").await?;
                    }
                    sqlx::query("UPDATE conversations SET owner_id = $2 WHERE id = $1")
                        .bind(conversation_id)
                        .bind(user_id)
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                }

                /// Of `ids`, those already members of the conversation.
                pub(super) async fn existing_members(
                    conn: &mut <$db as sqlx::Database>::Connection,
                    conversation_id: &str,
                    ids: &[&str],
                ) -> Result<Vec<String>, StoreError> {
                    let mut found = Vec::new();
                    for chunk in ids.chunks(shared::CHUNK) {
                        let mut qb = sqlx::QueryBuilder::<$db>::new(
                            "SELECT user_id FROM members WHERE conversation_id = ",
                        );
                        qb.push_bind(conversation_id).push(" AND user_id IN (");
                        let mut list = qb.separated(", ");
                        for id in chunk {
                            list.push_bind(*id);
                        }
                        qb.push(")");
                        let rows: Vec<String> =
                            qb.build_query_scalar().fetch_all(&mut *conn).await?;
                        found.extend(rows);
                    }
                    Ok(found)
                }

                /// Inserts members with one role each, in multi-row statements.
                pub(super) async fn insert_members(
                    conn: &mut <$db as sqlx::Database>::Connection,
                    conversation_id: &str,
                    members: &[(&str, &str)],
                    now: i64,
                ) -> Result<(), StoreError> {
                    for chunk in members.chunks(shared::CHUNK) {
                        let mut qb = sqlx::QueryBuilder::<$db>::new(
                            "INSERT INTO members (conversation_id, user_id, role, joined_at) ",
                        );
                        qb.push_values(chunk, |mut row, (user_id, role)| {
                            row.push_bind(conversation_id)
                                .push_bind(*user_id)
                                .push_bind(*role)
                                .push_bind(now);
                        });
                        qb.build()
                            .execute(&mut *conn)
                            .await
                            .map_err(|e| shared::db_err(e, "user"))?;
                    }
                    Ok(())
                }

                /// Every member of each listed conversation, in one query per chunk.
                pub(super) async fn members_of(
                    &self,
                    conversation_ids: &[&str],
                ) -> Result<HashMap<String, Vec<String>>, StoreError> {
                    let mut members: HashMap<String, Vec<String>> = HashMap::new();
                    for chunk in conversation_ids.chunks(shared::CHUNK) {
                        let mut qb = sqlx::QueryBuilder::<$db>::new(
                            "SELECT conversation_id, user_id FROM members \
                             WHERE conversation_id IN (",
                        );
                        let mut list = qb.separated(", ");
                        for id in chunk {
                            list.push_bind(*id);
                        }
                        qb.push(") ORDER BY conversation_id, user_id");
                        let pairs: Vec<(String, String)> =
                            qb.build_query_as().fetch_all(self.reader()).await?;
                        for (conversation_id, user_id) in pairs {
                            members.entry(conversation_id).or_default().push(user_id);
                        }
                    }
                    Ok(members)
                }

                pub(super) async fn member_page(
                    &self,
                    req: ListMembersRequest,
                ) -> Result<ListMembersResponse, StoreError> {
                    let limit = page_limit(req.limit, 50);
                    let mut rows: Vec<MemberRow> = sqlx::query_as(
                        "SELECT user_id, role, joined_at, read_seq FROM members \
                         WHERE conversation_id = $1 AND user_id > $2 \
                         ORDER BY user_id LIMIT $3",
                    )
                    .bind(&req.conversation_id)
                    .bind(req.after_user_id.as_deref().unwrap_or_default())
                    .bind(limit + 1)
                    .fetch_all(self.reader())
                    .await?;
                    let more = rows.len() as i64 > limit;
                    rows.truncate(limit as usize);
                    let members: Vec<Member> =
                        rows.into_iter().map(MemberRow::into_proto).collect();
                    let next_cursor = if more {
                        members.last().map(|m| m.user_id.clone())
                    } else {
                        None
                    };
                    Ok(ListMembersResponse {
                        members,
                        next_cursor,
                    })
                }
            }
        }
    };
}

pub(crate) use impl_membership;

#[cfg(test)]
mod tests {
    use super::Event;

    fn event<'a>(kind: &'static str, detail: Option<(&'static str, &'a str)>) -> Event<'a> {
        Event {
            kind,
            user_id: "u1",
            by: "u2",
            detail,
        }
    }

    #[test]
    fn system_sentences_name_who_did_what() {
        let cases = [
            (
                event("created", Some(("name", "crew"))),
                "bob created the group \"crew\"",
            ),
            (
                event("renamed", Some(("name", "new"))),
                "bob renamed the group to \"new\"",
            ),
            (event("joined", None), "ann joined"),
            (event("left", None), "ann left"),
            (event("added", None), "bob added ann"),
            (event("removed", None), "bob removed ann"),
            (
                event("role_changed", Some(("role", "owner"))),
                "ann is now the owner",
            ),
            (
                event("role_changed", Some(("role", "admin"))),
                "ann is now an admin",
            ),
            (
                event("role_changed", Some(("role", "member"))),
                "ann is now a member",
            ),
        ];
        for (e, sentence) in cases {
            assert_eq!(e.sentence("ann", "bob"), sentence);
        }
    }

    #[test]
    fn system_metadata_is_a_json_object_of_strings() {
        let json = event("renamed", Some(("name", "say \"hi\""))).metadata_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "event": "renamed", "user_id": "u1", "by": "u2", "name": "say \"hi\""
            })
        );
    }
}

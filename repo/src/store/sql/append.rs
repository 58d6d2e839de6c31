//! Storing messages: a batch of appends in one transaction (group commit, fed by
//! [`crate::store::append_batch`]), and a lone append in a transaction of its own.
//!
//! A batch costs a fixed number of statements whatever its size: read the client_msg_ids
//! already stored, read which conversations exist and which senders are in them, bump every
//! conversation's `last_seq` by its count in one `UPDATE ... FROM (VALUES ...)`, insert every
//! message in one multi-row `INSERT`, unhide, read the member ids, commit. What each message
//! gets is decided in memory by [`super::append_plan::Plan`], so a refused message never
//! aborts the transaction of the others.
//!
//! If the batch's transaction fails before its commit (a database error, or a concurrent
//! transaction outside this queue storing one of its client_msg_ids first), it is rolled back
//! and its messages are stored one by one by the lone path, which is the reference behaviour:
//! each caller still gets exactly its own answer. A failed COMMIT is reported to every caller
//! of the batch instead: retrying could store twice the messages without a client_msg_id.
//!
//! The batch statements vary in length with the batch, so they are not kept in sqlx's
//! statement cache (`persistent(false)`): they would only evict the fixed statements.

/// Why a batch's transaction was given up before its commit.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BatchError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Fewer rows inserted than planned: a transaction outside this queue stored one of the
    /// batch's client_msg_ids after it was looked up.
    #[error("a client_msg_id of the batch was stored concurrently")]
    Raced,
    #[error("a bumped conversation was not returned")]
    MissingConversation,
}

/// Expands `BatchAppender` for `$pools` (which has `writer()` and `begin_write()`, like the
/// store), storing batches with the SQL above; `$store` provides the shared helper queries.
macro_rules! impl_append {
    ($pools:ty, $store:ty, $db:ty) => {
        mod append_impl {
            use super::*;
            use $crate::store::StoreError;
            use $crate::store::append_batch::{Answer, BatchAppender};
            use $crate::store::sql as shared;
            use $crate::store::sql::append::BatchError;
            use $crate::store::sql::append_plan::{Facts, Plan, client_msg_id, metadata};
            use $crate::store::sql::msg_cols;
            use natter_proto::repo::{AppendMessageRequest, AppendMessageResponse, Message};
            use std::collections::{HashMap, HashSet};

            type Tx = sqlx::Transaction<'static, $db>;

            impl BatchAppender for $pools {
                async fn append_batch(&self, batch: Vec<AppendMessageRequest>) -> Vec<Answer> {
                    if batch.len() == 1 {
                        // Nothing to share a commit with: the lone path is a statement shorter.
                        let req = batch.into_iter().next().expect("one request");
                        return vec![self.append_one(req).await];
                    }
                    match self.store_batch(&batch).await {
                        Ok(answers) => answers,
                        Err(err) => {
                            tracing::warn!(
                                error = %err,
                                size = batch.len(),
                                "append batch rolled back; storing its messages one by one"
                            );
                            let mut answers = Vec::with_capacity(batch.len());
                            for req in batch {
                                answers.push(self.append_one(req).await);
                            }
                            answers
                        }
                    }
                }
            }

            impl $pools {
                /// The whole batch in one transaction; `Err` (rolled back) sends it down the
                /// lone path. A failed COMMIT is `Ok`, every answer carrying it.
                async fn store_batch(
                    &self,
                    batch: &[AppendMessageRequest],
                ) -> Result<Vec<Answer>, BatchError> {
                    let mut tx = self.begin_write().await?;
                    let facts = Facts {
                        stored: stored_messages(&mut tx, batch).await?,
                        ..membership(&mut tx, batch).await?
                    };
                    let plan = Plan::new(batch, facts);
                    let mut inserted = Vec::new();
                    if plan.new_count() > 0 {
                        let last_seqs = bump(&mut tx, &plan).await?;
                        inserted = plan
                            .new_messages(batch, &last_seqs)
                            .ok_or(BatchError::MissingConversation)?;
                        insert(&mut tx, &inserted).await?;
                        let bumped: Vec<&str> = plan.bumps().map(|(id, _)| id).collect();
                        unhide(&mut tx, &bumped).await?;
                    }
                    let members = member_ids(&mut tx, &plan.answered_conversations(batch)).await?;
                    if let Err(err) = tx.commit().await {
                        let err = std::sync::Arc::new(err);
                        return Ok(batch
                            .iter()
                            .map(|_| Err(StoreError::Commit(err.clone())))
                            .collect());
                    }
                    Ok(plan.answers(inserted, &members))
                }

                /// One message in its own transaction: the reference behaviour the batch
                /// reproduces (see `MessageStore::append_message`).
                async fn append_one(&self, req: AppendMessageRequest) -> Answer {
                    let client_msg_id = client_msg_id(&req);
                    let mut tx = self.begin_write().await?;
                    // (1) A retry: answer with what was stored, consuming no seq.
                    if let Some(client_msg_id) = client_msg_id {
                        let stored =
                            <$store>::find_by_client_msg_id(&mut tx, &req.sender_id, client_msg_id)
                                .await?;
                        if let Some(stored) = stored {
                            return <$store>::duplicate(&mut tx, stored, &req.conversation_id)
                                .await;
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
                    .bind(metadata(&req))
                    .bind(client_msg_id)
                    .bind(req.created_at)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| shared::db_err(e, "conversation"))?;
                    let Some(message) = inserted else {
                        // Rolling back also undoes the seq bump: no gap.
                        tx.rollback().await?;
                        let mut conn = self.writer().acquire().await?;
                        let stored = <$store>::find_by_client_msg_id(
                            &mut conn,
                            &req.sender_id,
                            client_msg_id.unwrap_or_default(),
                        )
                        .await?
                        .ok_or(StoreError::NotFound("message"))?;
                        return <$store>::duplicate(&mut conn, stored, &req.conversation_id).await;
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
                    let member_ids = <$store>::member_ids(&mut tx, &req.conversation_id).await?;
                    tx.commit().await?;
                    Ok(AppendMessageResponse {
                        message: Some(message.into_proto()),
                        duplicate: false,
                        member_ids,
                    })
                }
            }

            /// The messages stored before this batch under its (sender, client_msg_id) pairs.
            async fn stored_messages(
                tx: &mut Tx,
                batch: &[AppendMessageRequest],
            ) -> Result<Vec<Message>, sqlx::Error> {
                let keyed: Vec<&AppendMessageRequest> =
                    batch.iter().filter(|r| client_msg_id(r).is_some()).collect();
                if keyed.is_empty() {
                    return Ok(Vec::new());
                }
                // A join on the pairs: one index probe each (IN lists on both columns would
                // probe every sender with every id).
                let mut seen = HashSet::new();
                let keys: Vec<(&str, &str)> = keyed
                    .iter()
                    .filter_map(|r| Some((r.sender_id.as_str(), client_msg_id(r)?)))
                    .filter(|k| seen.insert(*k))
                    .collect();
                let mut qb = sqlx::QueryBuilder::<$db>::new(concat!(
                    "SELECT ",
                    msg_cols!(),
                    " FROM messages JOIN ("
                ));
                qb.push_values(keys, |mut row, (sender, cmid)| {
                    row.push_bind(sender).push_bind(cmid);
                });
                qb.push(
                    ") AS k ON messages.sender_id = k.column1 AND messages.client_msg_id = k.column2",
                );
                let rows: Vec<shared::MessageRow> = qb
                    .build_query_as()
                    .persistent(false)
                    .fetch_all(&mut **tx)
                    .await?;
                Ok(rows.into_iter().map(shared::MessageRow::into_proto).collect())
            }

            /// Which of the batch's conversations exist, and which of its senders are members
            /// of which (one row per conversation and member sender, or a NULL member).
            async fn membership(
                tx: &mut Tx,
                batch: &[AppendMessageRequest],
            ) -> Result<Facts, sqlx::Error> {
                let conversations = distinct(batch.iter().map(|r| r.conversation_id.as_str()));
                let senders = distinct(batch.iter().map(|r| r.sender_id.as_str()));
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT c.id, m.user_id FROM conversations c \
                     LEFT JOIN members m ON m.conversation_id = c.id AND m.user_id IN (",
                );
                push_list(&mut qb, &senders);
                qb.push(") WHERE c.id IN (");
                push_list(&mut qb, &conversations);
                qb.push(")");
                let rows: Vec<(String, Option<String>)> = qb
                    .build_query_as()
                    .persistent(false)
                    .fetch_all(&mut **tx)
                    .await?;
                let mut facts = Facts::default();
                for (conversation, member) in rows {
                    if let Some(member) = member {
                        facts.members.insert((conversation.clone(), member));
                    }
                    facts.conversations.insert(conversation);
                }
                Ok(facts)
            }

            /// Moves each conversation's `last_seq` by its count of new messages (and
            /// `updated_at` forward, never backward) in one statement; the new `last_seq` of
            /// each. On PostgreSQL this takes the rows' locks, held until commit.
            async fn bump(tx: &mut Tx, plan: &Plan) -> Result<HashMap<String, i64>, sqlx::Error> {
                // VALUES columns are named column1, column2, ... on both backends.
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "UPDATE conversations SET last_seq = last_seq + v.column2, \
                     updated_at = CASE WHEN updated_at > v.column3 THEN updated_at \
                     ELSE v.column3 END FROM (",
                );
                qb.push_values(plan.bumps(), |mut row, (id, bump)| {
                    row.push_bind(id.to_owned())
                        .push_bind(bump.count)
                        .push_bind(bump.latest);
                });
                qb.push(") AS v WHERE conversations.id = v.column1 RETURNING id, last_seq");
                let rows: Vec<(String, i64)> = qb
                    .build_query_as()
                    .persistent(false)
                    .fetch_all(&mut **tx)
                    .await?;
                Ok(rows.into_iter().collect())
            }

            /// Inserts the planned messages. A (sender, client_msg_id) stored meanwhile by a
            /// transaction outside the queue is skipped by the conflict clause and shows as a
            /// short count: `Raced`.
            async fn insert(tx: &mut Tx, messages: &[Message]) -> Result<(), BatchError> {
                for chunk in messages.chunks(shared::CHUNK) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO messages (conversation_id, seq, id, sender_id, kind, \
                         content, metadata, client_msg_id, created_at) ",
                    );
                    qb.push_values(chunk, |mut row, m| {
                        row.push_bind(&m.conversation_id)
                            .push_bind(m.seq)
                            .push_bind(&m.message_id)
                            .push_bind(&m.sender_id)
                            .push_bind(&m.kind)
                            .push_bind(&m.content)
                            .push_bind(&m.metadata_json)
                            .push_bind(m.client_msg_id.as_deref())
                            .push_bind(m.created_at);
                    });
                    qb.push(" ON CONFLICT (sender_id, client_msg_id) DO NOTHING");
                    let done = qb.build().persistent(false).execute(&mut **tx).await?;
                    if done.rows_affected() != chunk.len() as u64 {
                        return Err(BatchError::Raced);
                    }
                }
                Ok(())
            }

            /// A conversation a member hid comes back with the next message.
            async fn unhide(tx: &mut Tx, conversations: &[&str]) -> Result<(), sqlx::Error> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "UPDATE members SET hidden = FALSE WHERE hidden = TRUE AND conversation_id IN (",
                );
                push_list(&mut qb, conversations);
                qb.push(")");
                qb.build().persistent(false).execute(&mut **tx).await?;
                Ok(())
            }

            /// Every member of each conversation, in user id order.
            async fn member_ids(
                tx: &mut Tx,
                conversations: &[&str],
            ) -> Result<HashMap<String, Vec<String>>, sqlx::Error> {
                let mut members: HashMap<String, Vec<String>> = HashMap::new();
                if conversations.is_empty() {
                    return Ok(members);
                }
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT conversation_id, user_id FROM members WHERE conversation_id IN (",
                );
                push_list(&mut qb, conversations);
                qb.push(") ORDER BY conversation_id, user_id");
                let rows: Vec<(String, String)> = qb
                    .build_query_as()
                    .persistent(false)
                    .fetch_all(&mut **tx)
                    .await?;
                for (conversation, user) in rows {
                    members.entry(conversation).or_default().push(user);
                }
                Ok(members)
            }

            /// `$1, $2, ...` binding each value.
            fn push_list(qb: &mut sqlx::QueryBuilder<$db>, values: &[&str]) {
                let mut list = qb.separated(", ");
                for value in values {
                    list.push_bind(*value);
                }
            }

            /// Values in first-seen order without repeats.
            fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
                let mut seen = HashSet::new();
                values.filter(|v| seen.insert(*v)).collect()
            }
        }
    };
}

pub(crate) use impl_append;

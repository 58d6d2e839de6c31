//! Storing messages: a batch of appends in one transaction (group commit, fed by
//! [`crate::store::append_batch`]), and a lone append in a transaction of its own.
//!
//! A batch costs a fixed number of statements whatever its size. Each backend's module stores
//! it ([`super::append_lists`] on SQLite, [`super::append_arrays`] on PostgreSQL): read the
//! client_msg_ids already stored, read which conversations exist and which senders are in
//! them (and, in direct conversations, blocks and friendship between the two members; and
//! whether a member hid the conversation), bump every conversation's `last_seq` by its count,
//! insert every message, unhide (only when a member hid one of them; a hide committed after
//! the membership read is ordered after this batch, a valid serial order), read the member
//! ids. What each message gets is decided in memory by [`super::append_plan::Plan`], so a
//! refused message never aborts the transaction of the others. SQLite runs this as six
//! statements in one transaction on its single writer; PostgreSQL as two statements, a read
//! and one data-modifying `WITH` that commits alone (why that is safe: `append_arrays`).
//!
//! If a batch fails before its commit (a database error, or a concurrent transaction outside
//! this queue storing one of its client_msg_ids first), nothing of it is stored and its
//! messages are stored one by one by the lone path below, which is the reference behaviour:
//! each caller still gets exactly its own answer. A failed COMMIT is reported to every caller
//! of the batch instead ([`commit_failed`]): retrying could store twice the messages without a
//! client_msg_id.
//!
//! The statements' texts are fixed (arrays on PostgreSQL, JSON arrays walked by `json_each`
//! on SQLite) and prepared once per connection; only SQLite's multi-row insert is written for
//! each batch.

use crate::store::StoreError;
use crate::store::append_batch::Answer;
use natter_proto::repo::AppendMessageRequest;
use std::collections::HashSet;

/// The membership read's columns (rows: `append_plan::MemberRow`), over a derived table `s`
/// of (`id`, `user_id`, `other`) that [`membership_head!`] (the lone path's form) and each
/// backend's batch form (driven by [`member_pairs`]) complete:
/// each conversation that exists, each of the senders in it, and in a direct conversation the
/// other member (any member but the sender) with a block either way and the friendship, as
/// `blocked_on` and `friends_on` read them; last, whether any member has hidden the
/// conversation (`members_hidden_idx` answers it). SQLite has no `LATERAL`, hence the derived
/// table.
///
/// The three checks are scalar subqueries (`(SELECT 1 … LIMIT 1) IS NOT NULL`), not `EXISTS`,
/// and the block is two of them, one per direction, not one with an `OR`: PostgreSQL may plan
/// an `EXISTS` as one hashed scan of the whole table per statement, and did, for
/// `friendships`, when a plan was made on a young database; and an `OR` across two key
/// orders is no index lookup without a bitmap scan. In this form each check is one index
/// probe per row, whatever the statistics say (see `WRITER_SETTINGS` in `store::postgres`).
///
/// `membership_select!(outer, inner)` adds columns: `inner` to the derived table (which sees
/// `c`, the conversation, and `m`, the sender's `members` row), `outer` to the result (which
/// sees `s`, the derived table). Both start with a comma.
macro_rules! membership_select {
    () => {
        $crate::store::sql::append::membership_select!("", "")
    };
    ($outer:literal, $inner:literal) => {
        concat!(
            "SELECT s.id, s.user_id, s.other, \
             (SELECT 1 FROM blocks b WHERE b.user_id = s.user_id AND b.blocked_id = s.other \
               LIMIT 1) IS NOT NULL \
             OR (SELECT 1 FROM blocks b WHERE b.user_id = s.other AND b.blocked_id = s.user_id \
               LIMIT 1) IS NOT NULL, \
             (SELECT 1 FROM friendships f WHERE f.user_id = s.user_id AND f.friend_id = s.other \
               LIMIT 1) IS NOT NULL, \
             (SELECT 1 FROM members h WHERE h.conversation_id = s.id AND h.hidden = TRUE \
               LIMIT 1) IS NOT NULL",
            $outer,
            " FROM (SELECT c.id, m.user_id, CASE WHEN c.kind = 'direct' THEN \
               (SELECT o.user_id FROM members o WHERE o.conversation_id = c.id \
                AND o.user_id <> m.user_id LIMIT 1) END AS other",
            $inner,
            " "
        )
    };
}
pub(crate) use membership_select;

/// The membership read up to the condition on the senders; [`membership_sql!`] completes it.
macro_rules! membership_head {
    () => {
        concat!(
            $crate::store::sql::append::membership_select!(),
            "FROM conversations c LEFT JOIN members m ON m.conversation_id = c.id AND m.user_id "
        )
    };
}
pub(crate) use membership_head;

/// The membership read with `$senders` the condition on the member's id and
/// `$conversations` the one on the conversation's (`"= $2"`, `"= ANY($1::text[])"`, ...).
macro_rules! membership_sql {
    ($senders:literal, $conversations:literal) => {
        concat!(
            $crate::store::sql::append::membership_head!(),
            $senders,
            " WHERE c.id ",
            $conversations,
            ") AS s"
        )
    };
}
pub(crate) use membership_sql;

/// The batch's distinct (sender_id, client_msg_id) pairs, for the stored-message read.
pub(crate) fn retry_keys(batch: &[AppendMessageRequest]) -> Vec<(&str, &str)> {
    distinct(
        (batch.iter())
            .filter_map(|r| Some((r.sender_id.as_str(), super::append_plan::client_msg_id(r)?))),
    )
}

/// The batch's distinct (conversation_id, sender_id) pairs, which drive the membership read:
/// one probe per pair. (A list of senders matched in each conversation probed every sender of
/// the batch in every conversation of it: 65,000 index probes for 256 messages over 256
/// conversations, which made a 1,000-pair SQLite run collapse at 9,000 msg/s.)
pub(crate) fn member_pairs(batch: &[AppendMessageRequest]) -> Vec<(&str, &str)> {
    distinct((batch.iter()).map(|r| (r.conversation_id.as_str(), r.sender_id.as_str())))
}

/// Pairs in first-seen order without repeats.
fn distinct<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<(&'a str, &'a str)> {
    let mut seen = HashSet::new();
    pairs.filter(|pair| seen.insert(*pair)).collect()
}

/// Every caller's answer when a batch's commit failed, or may have: retrying could store
/// twice the messages without a client_msg_id, so none is retried.
pub(crate) fn commit_failed(batch: &[AppendMessageRequest], err: sqlx::Error) -> Vec<Answer> {
    let err = std::sync::Arc::new(err);
    (batch.iter())
        .map(|_| Err(StoreError::Commit(err.clone())))
        .collect()
}

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

/// Expands `BatchAppender` for `$pools`, which stores a batch itself (`store_batch()`, with
/// the statements of `sql::$statements`: `append_arrays` or `append_lists`) and has `writer()`
/// and `begin_write()` for the lone path; `sql::$statements::LONE_PATH_FOR_ONE` says whether a
/// batch of one takes that path. `$store` provides the shared helper queries.
macro_rules! impl_append {
    ($pools:ty, $store:ty, $statements:ident) => {
        mod append_impl {
            use super::*;
            use $crate::store::StoreError;
            use $crate::store::append_batch::{Answer, BatchAppender};
            use $crate::store::sql as shared;
            use $crate::store::sql::$statements as statements;
            use $crate::store::sql::append::membership_sql;
            use $crate::store::sql::append_plan::{Facts, MemberRow, client_msg_id, metadata};
            use $crate::store::sql::msg_cols;
            use natter_proto::repo::{AppendMessageRequest, AppendMessageResponse};

            impl BatchAppender for $pools {
                async fn append_batch(&self, batch: Vec<AppendMessageRequest>) -> Vec<Answer> {
                    if batch.len() == 1 && statements::LONE_PATH_FOR_ONE {
                        // Nothing to share a commit with (see `LONE_PATH_FOR_ONE`).
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
                    // (2) Take the next seq, first: on PostgreSQL the row lock this takes
                    // serializes the senders of one conversation until commit (on SQLite the
                    // single writer does), and every change of who is in the conversation
                    // takes it too, so the reads after it see the membership this message
                    // commits under (read before it, a leave committing in between would let
                    // the leaver's message in). A refused message rolls the bump back.
                    // updated_at never moves backward, whatever the callers' clocks say.
                    let seq: Option<i64> = sqlx::query_scalar(
                        "UPDATE conversations SET last_seq = last_seq + 1, \
                         updated_at = CASE WHEN updated_at > $2 THEN updated_at ELSE $2 END \
                         WHERE id = $1 RETURNING last_seq",
                    )
                    .bind(&req.conversation_id)
                    .bind(req.created_at)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let seq = seq.ok_or(StoreError::NotFound("conversation"))?;
                    // (3) The sender is in it; in a direct one, no block between the two
                    // members (and friendship, if asked for).
                    let rows: Vec<MemberRow> = sqlx::query_as(membership_sql!("= $2", "= $1"))
                    .bind(&req.conversation_id)
                    .bind(&req.sender_id)
                    .fetch_all(&mut *tx)
                    .await?;
                    let facts = Facts::from_members(rows);
                    if let Some(refused) = facts.refusal(&req) {
                        return Err(refused);
                    }
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
                    if facts.hidden(&req.conversation_id) {
                        sqlx::query(
                            "UPDATE members SET hidden = FALSE \
                             WHERE conversation_id = $1 AND hidden = TRUE",
                        )
                        .bind(&req.conversation_id)
                        .execute(&mut *tx)
                        .await?;
                    }
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
        }
    };
}

pub(crate) use impl_append;

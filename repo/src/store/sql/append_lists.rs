//! The group commit's batch statements on SQLite. The reads and the bump take the batch as
//! JSON arrays, walked by `json_each` (SQLite's counterpart of PostgreSQL's arrays), so their
//! text is the same whatever the batch: prepared once per connection and kept in sqlx's
//! statement cache. A text written for each batch (`IN (...)` lists, multi-row `VALUES`) was
//! parsed and planned for every batch: a fifth of the SQLite worker thread's time at 5,000
//! messages/s, the membership read's long text most of it. The insert still writes its
//! multi-row `VALUES` for each batch (`persistent(false)`, out of the cache), binding each
//! value as it is: its text is short and parses quickly.
//!
//! [`super::append_arrays`] is the PostgreSQL form, [`super::append`] says what a batch does.

use super::append::{BatchError, commit_failed, member_pairs, membership_select, retry_keys};
use super::append_plan::{Facts, MemberRow, Plan};
use super::{CHUNK, ID_SEPARATOR, MessageRow, msg_cols, split_ids};
use crate::store::append_batch::Answer;
use crate::store::sqlite::BEGIN_WRITE;
use natter_proto::repo::{AppendMessageRequest, Message};
use sqlx::{SqliteConnection, SqlitePool};
use std::collections::HashMap;

/// A batch of one is stored by the lone path: its statements are cached, where the batch's
/// insert is written for each batch.
pub(crate) const LONE_PATH_FOR_ONE: bool = true;

/// The whole batch in one transaction on the writer: BEGIN, the two reads, the bump (which
/// reads the members along), the insert, the unhide when needed, COMMIT. `Err` (rolled
/// back) sends the batch down the lone path; a failed COMMIT is `Ok`, every answer carrying it.
pub(crate) async fn store_batch(
    writer: &SqlitePool,
    batch: &[AppendMessageRequest],
) -> Result<Vec<Answer>, BatchError> {
    let mut tx = writer.begin_with(BEGIN_WRITE).await?;
    let facts = Facts {
        stored: stored_messages(&mut tx, batch).await?,
        ..membership(&mut tx, batch).await?
    };
    let plan = Plan::new(batch, facts);
    let mut inserted = Vec::new();
    let mut members = HashMap::new();
    if plan.new_count() > 0 {
        let bumped = bump(&mut tx, &plan).await?;
        members = bumped.members;
        inserted = plan
            .new_messages(batch, &bumped.last_seqs)
            .ok_or(BatchError::MissingConversation)?;
        insert(&mut tx, &inserted).await?;
        let unhide_ids = plan.unhides();
        if !unhide_ids.is_empty() {
            unhide(&mut tx, &unhide_ids).await?;
        }
    }
    let unread = plan.unread_conversations(batch, &members);
    members.extend(member_ids(&mut tx, &unread).await?);
    if let Err(err) = tx.commit().await {
        return Ok(commit_failed(batch, err));
    }
    Ok(plan.answers(inserted, &members))
}

/// The messages stored before this batch under its (sender, client_msg_id) pairs.
async fn stored_messages(
    conn: &mut SqliteConnection,
    batch: &[AppendMessageRequest],
) -> Result<Vec<Message>, sqlx::Error> {
    let keys = retry_keys(batch);
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    // A row-value IN on the pairs: one index probe each.
    let rows: Vec<MessageRow> = sqlx::query_as(concat!(
        "SELECT ",
        msg_cols!(),
        " FROM messages WHERE (sender_id, client_msg_id) IN \
         (SELECT value ->> 0, value ->> 1 FROM json_each($1))"
    ))
    .bind(json(&keys))
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(MessageRow::into_proto).collect())
}

/// Which of the batch's conversations exist, which of its senders are members of which, and
/// how the two members of its direct conversations stand (see [`Facts::from_members`]).
async fn membership(
    conn: &mut SqliteConnection,
    batch: &[AppendMessageRequest],
) -> Result<Facts, sqlx::Error> {
    let pairs = member_pairs(batch);
    let rows: Vec<MemberRow> = sqlx::query_as(concat!(
        membership_select!(),
        "FROM json_each($1) AS p JOIN conversations c ON c.id = p.value ->> 0 \
         LEFT JOIN members m ON m.conversation_id = c.id AND m.user_id = p.value ->> 1) AS s"
    ))
    .bind(json(&pairs))
    .fetch_all(&mut *conn)
    .await?;
    Ok(Facts::from_members(rows))
}

/// What the bump answers: each bumped conversation's `last_seq` after it, and its member ids,
/// read in the same statement (one hand-off to the worker thread fewer): SQLite has one
/// writer, so no membership changes before this transaction commits.
#[derive(Debug, Default)]
struct Bumped {
    last_seqs: HashMap<String, i64>,
    members: HashMap<String, Vec<String>>,
}

/// Moves each conversation's `last_seq` by its count of new messages (and
/// `updated_at` forward, never backward) in one statement; the new `last_seq` of
/// each, and its member ids read along (see [`Bumped`]).
async fn bump(conn: &mut SqliteConnection, plan: &Plan) -> Result<Bumped, sqlx::Error> {
    let bumps: Vec<(&str, i64, i64)> = plan
        .bumps()
        .map(|(id, bump)| (id, bump.count, bump.latest))
        .collect();
    // The members as one joined value per conversation (see `split_ids`).
    let rows: Vec<(String, i64, Option<String>)> = sqlx::query_as(
        "UPDATE conversations SET last_seq = last_seq + v.count, \
         updated_at = CASE WHEN updated_at > v.latest THEN updated_at ELSE v.latest END \
         FROM (SELECT value ->> 0 AS cid, value ->> 1 AS count, value ->> 2 AS latest \
         FROM json_each($1)) AS v \
         WHERE conversations.id = v.cid RETURNING id, last_seq, \
         (SELECT string_agg(m.user_id, $2 ORDER BY m.user_id) FROM members m \
          WHERE m.conversation_id = conversations.id)",
    )
    .bind(json(&bumps))
    .bind(ID_SEPARATOR)
    .fetch_all(&mut *conn)
    .await?;
    let mut bumped = Bumped::default();
    for (id, last_seq, members) in rows {
        bumped.members.insert(id.clone(), split_ids(members));
        bumped.last_seqs.insert(id, last_seq);
    }
    Ok(bumped)
}

/// Inserts the planned messages. A (sender, client_msg_id) stored meanwhile by a
/// transaction outside the queue is skipped by the conflict clause and shows as a
/// short count: `Raced`.
async fn insert(conn: &mut SqliteConnection, messages: &[Message]) -> Result<(), BatchError> {
    for chunk in messages.chunks(CHUNK) {
        let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
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
        let done = qb.build().persistent(false).execute(&mut *conn).await?;
        if done.rows_affected() != chunk.len() as u64 {
            return Err(BatchError::Raced);
        }
    }
    Ok(())
}

/// A conversation a member hid comes back with the next message.
async fn unhide(conn: &mut SqliteConnection, conversations: &[&str]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE members SET hidden = FALSE WHERE hidden = TRUE \
         AND conversation_id IN (SELECT value FROM json_each($1))",
    )
    .bind(json(conversations))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Every member of each conversation, in user id order.
async fn member_ids(
    conn: &mut SqliteConnection,
    conversations: &[&str],
) -> Result<HashMap<String, Vec<String>>, sqlx::Error> {
    let mut members: HashMap<String, Vec<String>> = HashMap::new();
    if conversations.is_empty() {
        return Ok(members);
    }
    // One joined value per conversation, not a row per member (see `split_ids`).
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT conversation_id, string_agg(user_id, $1 ORDER BY user_id) FROM members \
         WHERE conversation_id IN (SELECT value FROM json_each($2)) GROUP BY conversation_id",
    )
    .bind(ID_SEPARATOR)
    .bind(json(conversations))
    .fetch_all(&mut *conn)
    .await?;
    for (conversation, joined) in rows {
        members.insert(conversation, split_ids(joined));
    }
    Ok(members)
}

/// `values` as a JSON array, for `json_each`.
fn json<T: serde::Serialize + ?Sized>(values: &T) -> String {
    serde_json::to_string(values).expect("strings and numbers serialize")
}

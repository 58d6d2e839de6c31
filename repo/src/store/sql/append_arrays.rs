//! The group commit's batch statements on PostgreSQL: each takes the batch as arrays
//! (`= ANY($1)`, `UNNEST($1, $2, ...)`), so its text is the same whatever the batch, and sqlx
//! prepares it once per connection and keeps it in the statement cache. (A text that varied
//! with the batch would cost a prepare round trip per statement per batch.)
//!
//! The same functions as [`super::append_lists`], the SQLite form; what they do is described
//! in [`super::append`].

use super::append::{BatchError, Bumped, member_pairs, membership_select, retry_keys};
use super::append_plan::{Facts, MemberRow, Plan};
use super::{ID_SEPARATOR, MessageRow, msg_cols, split_ids};
use natter_proto::repo::{AppendMessageRequest, Message};
use sqlx::PgConnection;
use std::collections::HashMap;

/// The messages stored before this batch under its (sender, client_msg_id) pairs: a join on
/// the pairs, one index probe each (planned for the batch's arrays when it runs: see
/// `plan_cache_mode` in `store::postgres`).
pub(crate) async fn stored_messages(
    conn: &mut PgConnection,
    batch: &[AppendMessageRequest],
) -> Result<Vec<Message>, sqlx::Error> {
    let keys = retry_keys(batch);
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let (senders, ids): (Vec<&str>, Vec<&str>) = keys.into_iter().unzip();
    let rows: Vec<MessageRow> = sqlx::query_as(concat!(
        "SELECT ",
        msg_cols!(),
        " FROM messages JOIN UNNEST($1::text[], $2::text[]) AS k(k_sender, k_id) \
         ON messages.sender_id = k.k_sender AND messages.client_msg_id = k.k_id"
    ))
    .bind(senders)
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(MessageRow::into_proto).collect())
}

/// Which of the batch's conversations exist, which of its senders are members of which, and
/// how the two members of its direct conversations stand (see [`Facts::from_members`]).
pub(crate) async fn membership(
    conn: &mut PgConnection,
    batch: &[AppendMessageRequest],
) -> Result<Facts, sqlx::Error> {
    let (conversations, senders): (Vec<&str>, Vec<&str>) = member_pairs(batch).into_iter().unzip();
    let rows: Vec<MemberRow> = sqlx::query_as(concat!(
        membership_select!(),
        "FROM UNNEST($1::text[], $2::text[]) AS p(conversation_id, sender_id) \
         JOIN conversations c ON c.id = p.conversation_id \
         LEFT JOIN members m ON m.conversation_id = c.id AND m.user_id = p.sender_id) AS s"
    ))
    .bind(conversations)
    .bind(senders)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Facts::from_members(rows))
}

/// Moves each conversation's `last_seq` by its count of new messages (and `updated_at`
/// forward, never backward) in one statement; the new `last_seq` of each. This takes the
/// rows' locks, held until commit.
pub(crate) async fn bump(conn: &mut PgConnection, plan: &Plan) -> Result<Bumped, sqlx::Error> {
    let mut ids = Vec::new();
    let mut counts = Vec::new();
    let mut latest = Vec::new();
    for (id, bump) in plan.bumps() {
        ids.push(id);
        counts.push(bump.count);
        latest.push(bump.latest);
    }
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "UPDATE conversations SET last_seq = last_seq + v.count, \
         updated_at = CASE WHEN updated_at > v.latest THEN updated_at ELSE v.latest END \
         FROM UNNEST($1::text[], $2::bigint[], $3::bigint[]) AS v(id, count, latest) \
         WHERE conversations.id = v.id RETURNING conversations.id, conversations.last_seq",
    )
    .bind(ids)
    .bind(counts)
    .bind(latest)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Bumped {
        last_seqs: rows.into_iter().collect(),
        // Read by a later statement (see `Bumped`).
        members: HashMap::new(),
    })
}

/// Inserts the planned messages, one array per column. A (sender, client_msg_id) stored
/// meanwhile by a transaction outside the queue is skipped by the conflict clause and shows as
/// a short count: `Raced`.
pub(crate) async fn insert(
    conn: &mut PgConnection,
    messages: &[Message],
) -> Result<(), BatchError> {
    let column = |f: fn(&Message) -> &str| messages.iter().map(f).collect::<Vec<&str>>();
    let client_msg_ids: Vec<Option<&str>> = messages
        .iter()
        .map(|m| m.client_msg_id.as_deref())
        .collect();
    let done = sqlx::query(
        "INSERT INTO messages (conversation_id, seq, id, sender_id, kind, content, metadata, \
         client_msg_id, created_at) \
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
         $6::text[], $7::text[], $8::text[], $9::bigint[]) \
         ON CONFLICT (sender_id, client_msg_id) DO NOTHING",
    )
    .bind(column(|m| &m.conversation_id))
    .bind(messages.iter().map(|m| m.seq).collect::<Vec<i64>>())
    .bind(column(|m| &m.message_id))
    .bind(column(|m| &m.sender_id))
    .bind(column(|m| &m.kind))
    .bind(column(|m| &m.content))
    .bind(column(|m| &m.metadata_json))
    .bind(client_msg_ids)
    .bind(messages.iter().map(|m| m.created_at).collect::<Vec<i64>>())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != messages.len() as u64 {
        return Err(BatchError::Raced);
    }
    Ok(())
}

/// A conversation a member hid comes back with the next message.
pub(crate) async fn unhide(
    conn: &mut PgConnection,
    conversations: &[&str],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE members SET hidden = FALSE \
         WHERE hidden = TRUE AND conversation_id = ANY($1::text[])",
    )
    .bind(conversations)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Every member of each conversation, in user id order.
pub(crate) async fn member_ids(
    conn: &mut PgConnection,
    conversations: &[&str],
) -> Result<HashMap<String, Vec<String>>, sqlx::Error> {
    let mut members: HashMap<String, Vec<String>> = HashMap::new();
    if conversations.is_empty() {
        return Ok(members);
    }
    // One joined value per conversation, not a row per member (see `split_ids`).
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT conversation_id, string_agg(user_id, $2 ORDER BY user_id) FROM members \
         WHERE conversation_id = ANY($1::text[]) GROUP BY conversation_id",
    )
    .bind(conversations)
    .bind(ID_SEPARATOR)
    .fetch_all(&mut *conn)
    .await?;
    for (conversation, joined) in rows {
        members.insert(conversation, split_ids(joined));
    }
    Ok(members)
}

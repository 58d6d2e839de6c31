//! The group commit's batch statements on SQLite: `IN (...)` lists and multi-row `VALUES`
//! written for each batch (SQLite has no arrays; its prepares are local and cheap), so they
//! stay out of sqlx's statement cache (`persistent(false)`), where they would only evict the
//! fixed statements.
//!
//! The same functions as [`super::append_arrays`], the PostgreSQL form; what they do is
//! described in [`super::append`].

use super::append::{BatchError, distinct, membership_head, retry_keys};
use super::append_plan::{Facts, MemberRow, Plan};
use super::{CHUNK, ID_SEPARATOR, MessageRow, msg_cols, split_ids};
use natter_proto::repo::{AppendMessageRequest, Message};
use sqlx::SqliteConnection;
use std::collections::HashMap;

/// The messages stored before this batch under its (sender, client_msg_id) pairs.
pub(crate) async fn stored_messages(
    conn: &mut SqliteConnection,
    batch: &[AppendMessageRequest],
) -> Result<Vec<Message>, sqlx::Error> {
    // A join on the pairs: one index probe each (IN lists on both columns would probe every
    // sender with every id).
    let keys = retry_keys(batch);
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(concat!(
        "SELECT ",
        msg_cols!(),
        " FROM messages JOIN ("
    ));
    qb.push_values(keys, |mut row, (sender, cmid)| {
        row.push_bind(sender).push_bind(cmid);
    });
    qb.push(") AS k ON messages.sender_id = k.column1 AND messages.client_msg_id = k.column2");
    let rows: Vec<MessageRow> = qb
        .build_query_as()
        .persistent(false)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.into_iter().map(MessageRow::into_proto).collect())
}

/// Which of the batch's conversations exist, which of its senders are members of which, and
/// how the two members of its direct conversations stand (see [`Facts::from_members`]).
pub(crate) async fn membership(
    conn: &mut SqliteConnection,
    batch: &[AppendMessageRequest],
) -> Result<Facts, sqlx::Error> {
    let conversations = distinct(batch.iter().map(|r| r.conversation_id.as_str()));
    let senders = distinct(batch.iter().map(|r| r.sender_id.as_str()));
    // `membership_sql!` with lists.
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(concat!(membership_head!(), "IN ("));
    push_list(&mut qb, &senders);
    qb.push(") WHERE c.id IN (");
    push_list(&mut qb, &conversations);
    qb.push(")) AS s");
    let rows: Vec<MemberRow> = qb
        .build_query_as()
        .persistent(false)
        .fetch_all(&mut *conn)
        .await?;
    Ok(Facts::from_members(rows))
}

/// Moves each conversation's `last_seq` by its count of new messages (and
/// `updated_at` forward, never backward) in one statement; the new `last_seq` of
/// each.
pub(crate) async fn bump(
    conn: &mut SqliteConnection,
    plan: &Plan,
) -> Result<HashMap<String, i64>, sqlx::Error> {
    // VALUES columns are named column1, column2, ...
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
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
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Inserts the planned messages. A (sender, client_msg_id) stored meanwhile by a
/// transaction outside the queue is skipped by the conflict clause and shows as a
/// short count: `Raced`.
pub(crate) async fn insert(
    conn: &mut SqliteConnection,
    messages: &[Message],
) -> Result<(), BatchError> {
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
pub(crate) async fn unhide(
    conn: &mut SqliteConnection,
    conversations: &[&str],
) -> Result<(), sqlx::Error> {
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "UPDATE members SET hidden = FALSE WHERE hidden = TRUE AND conversation_id IN (",
    );
    push_list(&mut qb, conversations);
    qb.push(")");
    qb.build().persistent(false).execute(&mut *conn).await?;
    Ok(())
}

/// Every member of each conversation, in user id order.
pub(crate) async fn member_ids(
    conn: &mut SqliteConnection,
    conversations: &[&str],
) -> Result<HashMap<String, Vec<String>>, sqlx::Error> {
    let mut members: HashMap<String, Vec<String>> = HashMap::new();
    if conversations.is_empty() {
        return Ok(members);
    }
    // One joined value per conversation, not a row per member (see `split_ids`).
    let mut qb =
        sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT conversation_id, string_agg(user_id, ");
    qb.push_bind(ID_SEPARATOR);
    qb.push(" ORDER BY user_id) FROM members WHERE conversation_id IN (");
    push_list(&mut qb, conversations);
    qb.push(") GROUP BY conversation_id");
    let rows: Vec<(String, Option<String>)> = qb
        .build_query_as()
        .persistent(false)
        .fetch_all(&mut *conn)
        .await?;
    for (conversation, joined) in rows {
        members.insert(conversation, split_ids(joined));
    }
    Ok(members)
}

/// `$1, $2, ...` binding each value.
fn push_list(qb: &mut sqlx::QueryBuilder<sqlx::Sqlite>, values: &[&str]) {
    let mut list = qb.separated(", ");
    for value in values {
        list.push_bind(*value);
    }
}

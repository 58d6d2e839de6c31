//! The group commit on PostgreSQL: a batch is two statements, each one round trip, with no
//! `BEGIN` or `COMMIT` of its own.
//!
//! 1. **The read** ([`read`]): which conversations exist, which senders are in them and how the
//!    two members of a direct chat stand (the membership rows), plus the messages already
//!    stored under the batch's client_msg_ids, as one `UNION ALL`; and each conversation
//!    row's `xmin`, the transaction that last changed it.
//! 2. **The write** ([`write`]): one statement whose data-modifying `WITH` bumps every
//!    conversation's `last_seq`, inserts every message at its seq, unhides what a member hid,
//!    and returns each conversation's new `last_seq` with its member ids. Alone in its
//!    (implicit) transaction, it commits or rolls back whole.
//!
//! Seven round trips a batch became two: on the 2-core benchmark box each round trip waited
//! for the backend to be scheduled, and the one writer was busy 9.8 s of every 10 at 5,000
//! messages/s (see BENCHMARKS.md).
//!
//! **Why two statements are as good as one transaction.** The write bumps a conversation only
//! if its row is the version the read saw (`xmin` unchanged). Everything that changes who is
//! in a conversation locks and updates that row first (a join, a leave, a removal: see
//! `conversations::membership`), so an unchanged row means the membership the read saw still
//! holds when the write takes the row's lock, and holds until the write commits; the member
//! ids the write reads (in its own snapshot, taken before the lock) are that membership too.
//! If the row changed, the bump skips it, the insert then finds no `last_seq` for the
//! conversation and its `seq` is NULL: the statement fails on `NOT NULL` and nothing of it
//! is stored. A client_msg_id stored meanwhile by a transaction outside the queue fails it
//! the same way, on the unique index. Either way the batch is read and written again
//! ([`ATTEMPTS`]), then left to the lone path. (The read-then-bump of the earlier seven
//! statements let a message in from a sender whose leave committed between the two.)
//!
//! Each statement's text is the same whatever the batch (arrays, `= ANY($1)`, `UNNEST`), so
//! sqlx prepares it once per connection.

use super::append::{BatchError, commit_failed, member_pairs, membership_select, retry_keys};
use super::append_plan::{Facts, MemberRow, Plan, client_msg_id, metadata};
use super::{ID_SEPARATOR, MessageRow, msg_cols, split_ids};
use crate::store::append_batch::Answer;
use natter_proto::repo::{AppendMessageRequest, Message};
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, Row};
use std::collections::HashMap;

/// A batch of one goes through the two statements too: the lone path is seven round trips.
pub(crate) const LONE_PATH_FOR_ONE: bool = false;

/// Reads and writes of one batch before it is left to the lone path: a write fails when a
/// join, a leave or another repo node's append changed one of its conversations after the
/// read, which a second read sees.
const ATTEMPTS: usize = 3;

/// The whole batch: read, plan, write. `Err` (nothing stored) sends the batch down the lone
/// path; a write whose outcome is unknown (the connection failed under it) is `Ok`, every
/// answer carrying the error.
pub(crate) async fn store_batch(
    conn: &mut PgConnection,
    batch: &[AppendMessageRequest],
) -> Result<Vec<Answer>, BatchError> {
    let mut attempt = 1;
    let (plan, mut members, inserted) = loop {
        let read = read(conn, batch).await?;
        let plan = Plan::new(batch, read.facts);
        if plan.new_count() == 0 {
            break (plan, HashMap::new(), Vec::new());
        }
        match write(conn, batch, &plan, &read.seen).await {
            // Every bumped conversation is returned, or the insert had failed. Committed
            // either way: never `Err`, which would store the batch again.
            Ok(written) => match plan.new_messages(batch, &written.last_seqs) {
                Some(inserted) => break (plan, written.members, inserted),
                None => {
                    let missing = BatchError::MissingConversation.to_string();
                    return Ok(commit_failed(batch, sqlx::Error::Protocol(missing)));
                }
            },
            // PostgreSQL refused the statement: it was rolled back whole.
            Err(sqlx::Error::Database(err)) if attempt < ATTEMPTS => {
                tracing::debug!(%err, attempt, "append batch changed under it; reading again");
                attempt += 1;
            }
            Err(err @ sqlx::Error::Database(_)) => return Err(err.into()),
            Err(err) => return Ok(commit_failed(batch, err)),
        }
    };
    let unread = plan.unread_conversations(batch, &members);
    if !unread.is_empty() {
        members.extend(member_ids(conn, &unread).await?);
    }
    Ok(plan.answers(inserted, &members))
}

/// What [`read`] found.
struct Read {
    facts: Facts,
    /// Each existing conversation's `xmin`, as text.
    seen: HashMap<String, String>,
}

/// One row of the read: a membership row with its conversation's `xmin`, or a stored message.
enum ReadRow {
    Member(MemberRow, String),
    Stored(Message),
}

impl FromRow<'_, PgRow> for ReadRow {
    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        // Only membership rows have an xmin (a conversation row always has one).
        match row.try_get::<Option<String>, _>("m_seen")? {
            Some(seen) => Ok(Self::Member(
                (
                    row.try_get("m_conversation")?,
                    row.try_get("m_user")?,
                    row.try_get("m_other")?,
                    row.try_get("m_blocked")?,
                    row.try_get("m_friends")?,
                    row.try_get("m_hidden")?,
                ),
                seen,
            )),
            None => Ok(Self::Stored(MessageRow::from_row(row)?.into_proto())),
        }
    }
}

/// The membership rows of the batch's (conversation, sender) pairs and the messages stored
/// before it under its (sender, client_msg_id) pairs, in one statement (see the module).
async fn read(
    conn: &mut PgConnection,
    batch: &[AppendMessageRequest],
) -> Result<Read, sqlx::Error> {
    let (conversations, senders): (Vec<&str>, Vec<&str>) = member_pairs(batch).into_iter().unzip();
    let (key_senders, key_ids): (Vec<&str>, Vec<&str>) = retry_keys(batch).into_iter().unzip();
    let rows: Vec<ReadRow> = sqlx::query_as(concat!(
        "SELECT ms.*, NULL::text AS conversation_id, NULL::bigint AS seq, NULL::text AS id, \
         NULL::text AS sender_id, NULL::text AS kind, NULL::text AS content, \
         NULL::text AS metadata, NULL::text AS client_msg_id, NULL::bigint AS created_at, \
         NULL::bigint AS deleted_at FROM (",
        membership_select!(", s.seen", ", c.xmin::text AS seen"),
        "FROM UNNEST($1::text[], $2::text[]) AS p(conversation_id, sender_id) \
         JOIN conversations c ON c.id = p.conversation_id \
         LEFT JOIN members m ON m.conversation_id = c.id AND m.user_id = p.sender_id \
         OFFSET 0) AS s) AS ms(m_conversation, m_user, m_other, m_blocked, m_friends, m_hidden, m_seen) \
         UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, ",
        msg_cols!(),
        " FROM messages JOIN UNNEST($3::text[], $4::text[]) AS k(k_sender, k_id) \
         ON messages.sender_id = k.k_sender AND messages.client_msg_id = k.k_id"
    ))
    .bind(conversations)
    .bind(senders)
    .bind(key_senders)
    .bind(key_ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut members = Vec::new();
    let mut stored = Vec::new();
    let mut seen = HashMap::new();
    for row in rows {
        match row {
            ReadRow::Member(member, xmin) => {
                seen.insert(member.0.clone(), xmin);
                members.push(member);
            }
            ReadRow::Stored(message) => stored.push(message),
        }
    }
    let facts = Facts {
        stored,
        ..Facts::from_members(members)
    };
    Ok(Read { facts, seen })
}

/// What [`write`] returned: each bumped conversation's `last_seq` after the bump, and its
/// member ids.
struct Written {
    last_seqs: HashMap<String, i64>,
    members: HashMap<String, Vec<String>>,
}

/// Bumps, inserts, unhides and reads the members in one statement (see the module): each
/// conversation's `last_seq` moves by its count of new messages (`updated_at` forward, never
/// backward), each message is inserted at its seq, a conversation a member hid comes back.
async fn write(
    conn: &mut PgConnection,
    batch: &[AppendMessageRequest],
    plan: &Plan,
    seen: &HashMap<String, String>,
) -> Result<Written, sqlx::Error> {
    let mut ids = Vec::new();
    let mut counts = Vec::new();
    let mut latest = Vec::new();
    let mut xmins = Vec::new();
    for (id, bump) in plan.bumps() {
        ids.push(id);
        counts.push(bump.count);
        latest.push(bump.latest);
        xmins.push(seen.get(id).map_or("", String::as_str));
    }
    let new = plan.new_requests(batch);
    let column =
        |f: fn(&AppendMessageRequest) -> &str| new.iter().map(|(r, _)| f(r)).collect::<Vec<&str>>();
    let rows: Vec<(String, i64, Option<String>)> = sqlx::query_as(
        "WITH b AS (\
           UPDATE conversations c SET last_seq = c.last_seq + v.count, \
           updated_at = CASE WHEN c.updated_at > v.latest THEN c.updated_at ELSE v.latest END \
           FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::text[]) \
             AS v(id, count, latest, seen) \
           WHERE c.id = v.id AND c.xmin = v.seen::xid \
           RETURNING c.id, c.last_seq), \
         i AS (\
           INSERT INTO messages (conversation_id, seq, id, sender_id, kind, content, metadata, \
           client_msg_id, created_at) \
           SELECT n.conversation_id, b.last_seq + n.shift, n.id, n.sender_id, n.kind, \
             n.content, n.metadata, n.client_msg_id, n.created_at \
           FROM UNNEST($5::text[], $6::bigint[], $7::text[], $8::text[], $9::text[], \
             $10::text[], $11::text[], $12::text[], $13::bigint[]) \
             AS n(conversation_id, shift, id, sender_id, kind, content, metadata, \
             client_msg_id, created_at) \
           LEFT JOIN b ON b.id = n.conversation_id), \
         u AS (\
           UPDATE members SET hidden = FALSE \
           WHERE hidden = TRUE AND conversation_id = ANY($14::text[])) \
         SELECT b.id, b.last_seq, (SELECT string_agg(m.user_id, $15 ORDER BY m.user_id) \
           FROM members m WHERE m.conversation_id = b.id) FROM b",
    )
    .bind(ids)
    .bind(counts)
    .bind(latest)
    .bind(xmins)
    .bind(column(|r| &r.conversation_id))
    .bind(new.iter().map(|(_, shift)| *shift).collect::<Vec<i64>>())
    .bind(column(|r| &r.message_id))
    .bind(column(|r| &r.sender_id))
    .bind(column(|r| &r.kind))
    .bind(column(|r| &r.content))
    .bind(column(metadata))
    .bind(
        new.iter()
            .map(|(r, _)| client_msg_id(r))
            .collect::<Vec<Option<&str>>>(),
    )
    .bind(new.iter().map(|(r, _)| r.created_at).collect::<Vec<i64>>())
    .bind(plan.unhides())
    .bind(ID_SEPARATOR)
    .fetch_all(&mut *conn)
    .await?;
    let mut written = Written {
        last_seqs: HashMap::new(),
        members: HashMap::new(),
    };
    for (id, last_seq, members) in rows {
        written.members.insert(id.clone(), split_ids(members));
        written.last_seqs.insert(id, last_seq);
    }
    Ok(written)
}

/// Every member of each conversation, in user id order.
async fn member_ids(
    conn: &mut PgConnection,
    conversations: &[&str],
) -> Result<HashMap<String, Vec<String>>, sqlx::Error> {
    // One joined value per conversation, not a row per member (see `split_ids`).
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT conversation_id, string_agg(user_id, $2 ORDER BY user_id) FROM members \
         WHERE conversation_id = ANY($1::text[]) GROUP BY conversation_id",
    )
    .bind(conversations)
    .bind(ID_SEPARATOR)
    .fetch_all(&mut *conn)
    .await?;
    Ok((rows.into_iter())
        .map(|(conversation, joined)| (conversation, split_ids(joined)))
        .collect())
}

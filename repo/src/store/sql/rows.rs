//! The row shapes the shared SQL reads, their conversion to `im.repo.v1` messages, and the
//! small pure helpers (error mapping, cursors, clocks) both backends use.
//!
//! `#[derive(sqlx::FromRow)]` is generic over the row type, so one struct decodes a PostgreSQL
//! row and a SQLite row alike; the schemas are written so that every column decodes to the
//! same Rust type on both (BIGINT/INTEGER → i64, BOOLEAN/INTEGER 0-1 → bool, TEXT → String).

use crate::store::StoreError;
use natter_proto::repo::{Conversation, Message, Session, User};
use std::time::{SystemTime, UNIX_EPOCH};

/// Columns of [`UserRow`], in a `SELECT` from `users`.
macro_rules! user_cols {
    () => {
        "id, email, password_hash, nickname, bio, avatar_url, is_guest, created_at, deleted_at"
    };
}

/// Columns of [`MessageRow`], unqualified (a `SELECT` from `messages` alone, or `RETURNING`).
macro_rules! msg_cols {
    () => {
        "conversation_id, seq, id, sender_id, kind, content, metadata, client_msg_id, \
         created_at, deleted_at"
    };
}

/// Columns of [`ConvRow`]: `c` is the conversation, `v` the viewer's `members` row (may be
/// NULL), `lm` the message at `c.last_seq` (NULL while there is none). Reading the last
/// message in the same statement keeps it consistent with `last_seq`.
macro_rules! conv_cols {
    () => {
        "c.id, c.kind, c.name, c.avatar_url, c.owner_id, c.max_members, c.is_public, \
         c.last_seq, c.created_at, c.updated_at, \
         v.user_id AS viewer_id, v.read_seq AS viewer_read_seq, \
         lm.id AS lm_id, lm.sender_id AS lm_sender_id, lm.kind AS lm_kind, \
         lm.content AS lm_content, lm.metadata AS lm_metadata, \
         lm.client_msg_id AS lm_client_msg_id, lm.created_at AS lm_created_at, \
         lm.deleted_at AS lm_deleted_at"
    };
}

pub(crate) use {conv_cols, msg_cols, user_cols};

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    email: Option<String>,
    password_hash: String,
    nickname: String,
    bio: String,
    avatar_url: String,
    is_guest: bool,
    created_at: i64,
    deleted_at: Option<i64>,
}

impl UserRow {
    /// `with_hash`: only the by-email lookup (login) hands the password hash out.
    pub(crate) fn into_proto(self, with_hash: bool) -> User {
        User {
            user_id: self.id,
            email: self.email,
            password_hash: if with_hash {
                self.password_hash
            } else {
                String::new()
            },
            nickname: self.nickname,
            bio: self.bio,
            avatar_url: self.avatar_url,
            is_guest: self.is_guest,
            created_at: self.created_at,
            deleted: self.deleted_at.is_some(),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) device_id: String,
    pub(crate) created_at: i64,
    pub(crate) revoked_at: Option<i64>,
}

impl SessionRow {
    pub(crate) fn into_proto(self) -> Session {
        Session {
            session_id: self.id,
            user_id: self.user_id,
            device_id: self.device_id,
            created_at: self.created_at,
            revoked: self.revoked_at.is_some(),
        }
    }
}

/// A refresh token joined with its session: what a failed rotation inspects to say why.
#[derive(sqlx::FromRow)]
pub(crate) struct TokenStateRow {
    pub(crate) session_id: String,
    pub(crate) user_id: String,
    pub(crate) expires_at: i64,
    pub(crate) used_at: Option<i64>,
    pub(crate) revoked_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct MessageRow {
    pub(crate) conversation_id: String,
    seq: i64,
    id: String,
    sender_id: String,
    kind: String,
    content: String,
    metadata: String,
    client_msg_id: Option<String>,
    created_at: i64,
    deleted_at: Option<i64>,
}

impl MessageRow {
    pub(crate) fn into_proto(self) -> Message {
        Message {
            message_id: self.id,
            conversation_id: self.conversation_id,
            seq: self.seq,
            sender_id: self.sender_id,
            kind: self.kind,
            content: self.content,
            metadata_json: self.metadata,
            client_msg_id: self.client_msg_id,
            created_at: self.created_at,
            deleted: self.deleted_at.is_some(),
        }
    }
}

/// A conversation with the viewer's membership and its last message (see [`conv_cols`]).
#[derive(sqlx::FromRow)]
pub(crate) struct ConvRow {
    pub(crate) id: String,
    kind: String,
    name: String,
    avatar_url: String,
    owner_id: Option<String>,
    max_members: i64,
    is_public: bool,
    last_seq: i64,
    created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) viewer_id: Option<String>,
    viewer_read_seq: Option<i64>,
    lm_id: Option<String>,
    lm_sender_id: Option<String>,
    lm_kind: Option<String>,
    lm_content: Option<String>,
    lm_metadata: Option<String>,
    lm_client_msg_id: Option<String>,
    lm_created_at: Option<i64>,
    lm_deleted_at: Option<i64>,
}

impl ConvRow {
    /// `member_ids` is filled by the caller (a second query: one row per member).
    pub(crate) fn into_proto(self, member_ids: Vec<String>) -> Conversation {
        let last_message = match (self.lm_id, self.lm_sender_id) {
            (Some(message_id), Some(sender_id)) => Some(Message {
                message_id,
                conversation_id: self.id.clone(),
                seq: self.last_seq,
                sender_id,
                kind: self.lm_kind.unwrap_or_default(),
                content: self.lm_content.unwrap_or_default(),
                metadata_json: self.lm_metadata.unwrap_or_default(),
                client_msg_id: self.lm_client_msg_id,
                created_at: self.lm_created_at.unwrap_or_default(),
                deleted: self.lm_deleted_at.is_some(),
            }),
            _ => None,
        };
        Conversation {
            conversation_id: self.id,
            kind: self.kind,
            name: self.name,
            avatar_url: self.avatar_url,
            owner_id: self.owner_id.unwrap_or_default(),
            max_members: i32::try_from(self.max_members).unwrap_or(i32::MAX),
            is_public: self.is_public,
            last_seq: self.last_seq,
            created_at: self.created_at,
            updated_at: self.updated_at,
            member_ids,
            read_seq: self.viewer_read_seq.unwrap_or_default(),
            last_message,
        }
    }
}

/// Unique constraints a caller can trip, by name (PostgreSQL reports the name) and by the
/// `table.column` list SQLite puts in its message (SQLite reports no name), with the field
/// `AlreadyExists` names.
const UNIQUE_FIELDS: &[(&str, &str, &str)] = &[
    ("users_email_key", "users.email", "email"),
    ("users_nickname_key", "users.nickname", "nickname"),
    ("users_pkey", "users.id", "user"),
    ("sessions_pkey", "sessions.id", "session"),
    (
        "refresh_tokens_pkey",
        "refresh_tokens.token_hash",
        "refresh token",
    ),
    ("conversations_pkey", "conversations.id", "conversation"),
    ("messages_id_key", "messages.id", "message"),
];

/// Maps a driver error to the store's words: a known unique violation becomes
/// `AlreadyExists(field)`, a foreign-key violation `NotFound(missing)` (the row the caller
/// referred to, e.g. "user"); anything else stays a `Database` error for the log.
pub(crate) fn db_err(err: sqlx::Error, missing: &'static str) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            let message = db.message();
            let field = UNIQUE_FIELDS
                .iter()
                .find(|(name, columns, _)| match db.constraint() {
                    Some(constraint) => constraint == *name,
                    None => message.rsplit(": ").next() == Some(*columns),
                });
            if let Some((_, _, field)) = field {
                return StoreError::AlreadyExists(field);
            }
        } else if db.is_foreign_key_violation() {
            return StoreError::NotFound(missing);
        }
    }
    StoreError::Database(err)
}

/// The `list_conversations` cursor: the (updated_at, id) of the last row of a page, as
/// "{updated_at}:{id}". The number comes first so an id containing ':' still parses.
pub(crate) fn encode_cursor(updated_at: i64, id: &str) -> String {
    format!("{updated_at}:{id}")
}

/// The position after which the next page starts; no cursor starts before everything.
pub(crate) fn decode_cursor(cursor: Option<&str>) -> Result<(i64, String), StoreError> {
    match cursor.filter(|c| !c.is_empty()) {
        None => Ok((i64::MAX, String::new())),
        Some(cursor) => cursor
            .split_once(':')
            .and_then(|(at, id)| Some((at.parse().ok()?, id.to_owned())))
            .ok_or_else(|| StoreError::FailedPrecondition("invalid cursor".into())),
    }
}

/// Milliseconds since the Unix epoch, for the few writes whose caller passes no time.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// Ids in first-seen order without repeats (and without `skip`).
pub(crate) fn unique_ids<'a>(ids: &'a [String], skip: Option<&str>) -> Vec<&'a str> {
    let mut seen = std::collections::HashSet::new();
    ids.iter()
        .map(String::as_str)
        .filter(|id| Some(*id) != skip && seen.insert(*id))
        .collect()
}

/// Joins member ids in `string_agg` (both backends have it; SQLite since 3.44). A control
/// character, so it never occurs in an id (ids are server-minted UUIDs).
pub(crate) const ID_SEPARATOR: &str = "\u{1f}";

/// The ids `string_agg(user_id, ID_SEPARATOR ...)` joined; `None` (no rows) is none.
///
/// A conversation's member list comes back as one value rather than a row per member: a send to
/// a room of 1,000 read 1,000 rows, and at a few hundred sends a second the database driver's
/// per-row work (a copy of each value, a hop to the SQLite worker thread) was about 8 % of the
/// embedded node's CPU.
pub(crate) fn split_ids(joined: Option<String>) -> Vec<String> {
    match joined {
        Some(joined) if !joined.is_empty() => {
            joined.split(ID_SEPARATOR).map(str::to_owned).collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod split_tests {
    use super::*;

    #[test]
    fn joined_ids_split_back_in_order_and_none_is_empty() {
        let joined = ["a", "b", "c"].join(ID_SEPARATOR);
        assert_eq!(split_ids(Some(joined)), vec!["a", "b", "c"]);
        assert!(split_ids(None).is_empty());
        assert!(split_ids(Some(String::new())).is_empty());
    }
}

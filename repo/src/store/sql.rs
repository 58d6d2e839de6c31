//! The one body of SQL both backends run.
//!
//! [`impl_store!`] expands the whole `impl Store` for a concrete store type and sqlx database,
//! so the Rust and the SQL are written once yet compiled monomorphically per backend: no bounds
//! generic over `sqlx::Database`. The store type provides `writer()` and `reader()` pools (the
//! same pool on PostgreSQL; SQLite has a single-connection writer, so our own writers never
//! meet `SQLITE_BUSY`, and a pool of readers) and `begin_write()`, which opens a write
//! transaction on the writer (`BEGIN IMMEDIATE` on SQLite: the write lock is taken up front, so
//! a transaction that reads first can never fail to upgrade).
//!
//! The SQL is the common dialect of PostgreSQL and SQLite (3.35+ for `RETURNING`): `$N`
//! placeholders (sqlx-sqlite binds `$N` by number), `ON CONFLICT ... DO NOTHING`, `TRUE`/`FALSE`
//! literals, row values left out in favour of plain `OR` comparisons. Variable-length `IN`
//! lists go through `sqlx::QueryBuilder`, which writes each backend's placeholders.
//!
//! Every write that reads before it writes runs in one `begin_write()` transaction, and inside a
//! transaction every statement goes through that transaction's connection: on SQLite asking
//! the writer pool for a second connection there would wait forever.

mod rows;

pub(crate) mod accounts;
pub(crate) mod append;
pub(crate) mod append_arrays;
pub(crate) mod append_lists;
pub(crate) mod append_plan;
pub(crate) mod conversations;
pub(crate) mod friends;
pub(crate) mod helpers;
pub(crate) mod messages;

pub(crate) use rows::{
    ConvRow, ID_SEPARATOR, MessageRow, SessionRow, TokenStateRow, UserRow, conv_cols, db_err,
    decode_cursor, encode_cursor, msg_cols, now_ms, split_ids, unique_ids, user_cols,
};

/// Rows per `IN (...)` / multi-row `VALUES` statement: far below both backends' bind limits.
pub(crate) const CHUNK: usize = 500;

/// Expands every store trait for `$store` on the sqlx database `$db`. `$store` must have
/// `fn writer(&self) -> &sqlx::Pool<$db>`, `fn reader(&self) -> &sqlx::Pool<$db>`,
/// `async fn begin_write(&self) -> Result<sqlx::Transaction<'static, $db>, sqlx::Error>` and
/// `fn appends(&self) -> &AppendQueue` (message appends go through it; its writers store them
/// with `append::impl_append!`, whose batch statements are per backend: `append_arrays`,
/// `append_lists`).
/// Each domain's SQL lives in its own file under `sql/`.
macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        $crate::store::sql::helpers::impl_helpers!($store, $db);
        $crate::store::sql::accounts::impl_accounts!($store, $db);
        $crate::store::sql::conversations::impl_conversations!($store, $db);
        $crate::store::sql::messages::impl_messages!($store, $db);
        $crate::store::sql::friends::impl_friends!($store, $db);
    };
}

pub(crate) use impl_store;

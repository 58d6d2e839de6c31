//! The storage contract. Both backends (PostgreSQL and SQLite, through sqlx) implement [`Store`]
//! and pass one contract suite (`repo/tests/store_contract.rs`), so the embedded default and the
//! distributed form behave the same.
//!
//! The trait speaks in the `im.repo.v1` messages: they are already the shape the repo tier
//! answers in, and a second set of structs would only be copied field by field.

mod accounts;
mod append_batch;
mod checkpoint;
mod conversations;
mod error;
mod friends;
mod messages;
pub mod postgres;
mod sql;
pub mod sqlite;

pub use accounts::AccountStore;
pub use append_batch::MAX_BATCH;
pub use conversations::ConversationStore;
pub use error::StoreError;
pub use friends::FriendStore;
pub use messages::MessageStore;

use std::sync::Arc;

/// Upper bound of any page the store returns; callers' limits are clamped to it.
pub const MAX_PAGE: i64 = 200;

/// Everything a backend stores: one trait per domain, each in its own file. `Arc<dyn Store>` is
/// what the repo tier holds; bring [`prelude`] into scope to call the domain methods on it.
pub trait Store: AccountStore + ConversationStore + MessageStore + FriendStore {}

impl<T: AccountStore + ConversationStore + MessageStore + FriendStore> Store for T {}

/// The store traits, for `use natter_repo::store::prelude::*`.
pub mod prelude {
    pub use super::{AccountStore, ConversationStore, FriendStore, MessageStore, Store};
}

/// Clamps a caller's page size to `1..=MAX_PAGE`, with `default` for 0 or negative.
pub fn page_limit(limit: i32, default: i64) -> i64 {
    if limit <= 0 {
        default
    } else {
        i64::from(limit).min(MAX_PAGE)
    }
}

/// Opens the store a URL names: `postgres://...` or `sqlite://path` (created if missing).
/// Migrations run first, so a fresh database is ready when this returns.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else {
        Err(StoreError::Config(format!(
            "unsupported database URL scheme (want postgres:// or sqlite://): {}",
            url.split(':').next().unwrap_or_default()
        )))
    }
}

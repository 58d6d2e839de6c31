//! What can go wrong in a store, in words the repo tier maps once to gRPC status codes.

/// A store failure. `Database` keeps the driver's error for the log; clients never see it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The unique field that is taken ("email", "nickname", ...).
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    #[error("not a member of this conversation")]
    NotMember,
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Config(String),
    /// The store is closing (or its writer is gone): the append was not taken.
    #[error("the store is closed")]
    Closed,
    /// A group commit's COMMIT failed: every message of the batch shares this error.
    #[error("group commit: {0}")]
    Commit(std::sync::Arc<sqlx::Error>),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

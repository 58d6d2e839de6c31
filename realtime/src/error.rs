//! The one error type of this crate.
//!
//! It stays deliberately small: callers cannot do anything more specific than "retry later" with
//! a Redis failure, so the underlying [`redis::RedisError`] is passed through for logging rather
//! than being translated into a taxonomy of our own.

/// Why a bus or presence operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RealtimeError {
    /// Redis refused the command, timed out, or the connection failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The bus was shut down while the operation was in progress.
    #[error("bus closed")]
    Closed,
}

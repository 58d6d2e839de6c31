//! Test infrastructure shared by the integration tests and the load-test harness: a fresh
//! PostgreSQL database per test, a random Redis prefix per test, and clients that speak the
//! public contract (REST and WebSocket) exactly as an outside client would.
//!
//! Services are found through `NATTER_TEST_DATABASE_URL` and `NATTER_TEST_REDIS_URL` (defaults:
//! the local servers). A missing service is a loud failure, never a skipped test.

pub mod http;
pub mod services;
pub mod ws;

pub use http::{Api, Tokens};
pub use services::{TestDatabase, redis_prefix, redis_url};
pub use ws::Socket;

/// Logs of the code under test, once per process, filtered by `NATTER_TEST_LOG` (default: warn).
pub fn init_tracing() {
    let filter = std::env::var("NATTER_TEST_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_test_writer()
        .try_init();
}

//! Helpers shared by the integration tests.

// Each test binary uses its own subset of these.
#![allow(dead_code)]

use std::fmt::Display;

/// The Redis the tests run against. Shared with other suites, hence the per-test prefixes.
pub fn redis_url() -> String {
    std::env::var("NATTER_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A key/channel prefix no other test (or test run) uses.
pub fn prefix() -> String {
    format!("natter-test-{}:", uuid::Uuid::new_v4().simple())
}

/// Fails the test with instructions, rather than skipping: an unreachable Redis must never make
/// the Redis backends look tested.
pub fn unreachable(url: &str, error: impl Display) -> ! {
    panic!(
        "cannot reach Redis at {url}: {error}. The Redis backend tests need a running Redis; \
         start one or point NATTER_TEST_REDIS_URL at one (these tests never skip)."
    )
}

/// A plain command connection, for tests that inspect or poke Redis directly.
pub async fn raw_connection() -> redis::aio::MultiplexedConnection {
    let url = redis_url();
    let client = redis::Client::open(url.as_str()).unwrap_or_else(|e| unreachable(&url, e));
    client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| unreachable(&url, e))
}

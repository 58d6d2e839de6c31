//! The load-test harness, run small against a spawned embedded stack: every socket connects,
//! messages flow 1:1 and in a group (with a few sockets reconnecting and catching up with
//! `sync`), and no recipient loses, duplicates or reorders a message. It keeps the harness
//! itself working, and is a cheap end-to-end check of delivery under concurrency.

use natter_loadtest::{Config, Scenario, Shape, SpawnKind, Target};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_mixed_run_loses_nothing() {
    let mut config = Config::new(Scenario::Mixed, Target::Spawn(SpawnKind::Embedded));
    config.server.natter_bin = Some(env!("CARGO_BIN_EXE_natter").into());
    config.shape = Shape {
        idle: 80,
        pairs: 50,
        groups: 1,
        group_size: 20,
        senders: 5,
        churn: 6,
    };
    config.rate = 300.0;
    config.duration = Duration::from_secs(3);
    config.grace = Duration::from_secs(2);
    config.settle = Duration::from_millis(300);
    config.churn_every = Duration::from_secs(1);

    let report = natter_loadtest::run(config)
        .await
        .expect("the run completes");
    let table = report.table();
    println!("{table}");

    assert_eq!(report.connected, 200, "{table}");
    assert!(report.acked > 500, "sends were acknowledged: {table}");
    assert!(report.pushes > 0, "pushes were delivered: {table}");
    assert!(report.delivery.expected > 0, "{table}");
    assert_eq!(report.delivery.lost, 0, "{table}");
    assert_eq!(report.duplicated, 0, "{table}");
    assert_eq!(report.out_of_order, 0, "{table}");
    assert!(
        report.churn_reconnects > 0,
        "some sockets reconnected: {table}"
    );
    assert!(report.passed, "{table}");
}

/// A room big enough that logic fans out to every comet node at once (over Redis, one publish
/// for all nodes, no presence lookup), with its members spread over two nodes: every member on
/// either node gets every message once and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_room_across_two_nodes_loses_nothing() {
    let mut config = Config::new(Scenario::Group, Target::Spawn(SpawnKind::Postgres));
    config.server.natter_bin = Some(env!("CARGO_BIN_EXE_natter").into());
    config.server.comets = 2;
    if let Ok(url) = std::env::var("NATTER_TEST_DATABASE_URL") {
        config.server.pg_admin_url = url;
    }
    if let Ok(url) = std::env::var("NATTER_TEST_REDIS_URL") {
        config.server.redis_url = url;
    }
    let members = natter_logic::BROADCAST_OVER + 50;
    config.shape = Shape {
        idle: 0,
        pairs: 0,
        groups: 1,
        group_size: members,
        senders: 5,
        churn: 0,
    };
    config.rate = 20.0;
    config.duration = Duration::from_secs(3);
    config.grace = Duration::from_secs(5);
    config.settle = Duration::from_millis(300);

    let report = natter_loadtest::run(config)
        .await
        .expect("the run completes");
    let table = report.table();
    println!("{table}");

    assert_eq!(report.connected, members, "{table}");
    assert!(report.acked >= 40, "sends were acknowledged: {table}");
    let expected = report.acked * (members as u64 - 1);
    assert_eq!(report.delivery.expected, expected, "{table}");
    assert_eq!(report.delivery.lost, 0, "{table}");
    assert_eq!(report.duplicated, 0, "{table}");
    assert_eq!(report.out_of_order, 0, "{table}");
    // Pushed, not merely recovered by `sync` after a resync.
    assert!(report.pushes >= expected * 9 / 10, "{table}");
    assert!(report.passed, "{table}");
}

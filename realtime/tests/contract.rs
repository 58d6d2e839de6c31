//! The contract every bus and presence backend must meet.
//!
//! Each test below is written once, generically over a [`Backend`], and `contract_suite!` runs it
//! against the in-process backends and against Redis. A behaviour that only one backend has is a
//! bug in the other one, so there is no per-backend variation here.
//!
//! The Redis half needs a reachable Redis (`NATTER_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`). When it is unreachable those tests fail, on purpose: a skipped
//! contract test is an untested backend. Every test works under its own random key prefix, so
//! the suite can share a Redis with anything else.

mod common;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use natter_realtime::{
    Bus, Delivery, MemoryBus, MemoryPresence, Presence, RedisBus, RedisPresence, Subscription,
};
use tokio::time::timeout;

/// A pair of bus and presence implementations under test.
trait Backend {
    type Bus: Bus;
    type Presence: Presence;
    fn bus(prefix: &str) -> impl Future<Output = Self::Bus>;
    fn presence(prefix: &str, ttl: Duration) -> impl Future<Output = Self::Presence>;
}

struct InProcess;

impl Backend for InProcess {
    type Bus = MemoryBus;
    type Presence = MemoryPresence;
    async fn bus(_prefix: &str) -> MemoryBus {
        MemoryBus::new()
    }
    async fn presence(_prefix: &str, ttl: Duration) -> MemoryPresence {
        MemoryPresence::new(ttl)
    }
}

struct Redis;

impl Backend for Redis {
    type Bus = RedisBus;
    type Presence = RedisPresence;
    async fn bus(prefix: &str) -> RedisBus {
        let url = common::redis_url();
        RedisBus::connect(&url, prefix)
            .await
            .unwrap_or_else(|error| common::unreachable(&url, error))
    }
    async fn presence(prefix: &str, ttl: Duration) -> RedisPresence {
        let url = common::redis_url();
        RedisPresence::connect(&url, prefix, ttl)
            .await
            .unwrap_or_else(|error| common::unreachable(&url, error))
    }
}

/// Generates one `#[tokio::test]` per contract test and backend, e.g. `redis::large_batch…`.
macro_rules! contract_suite {
    ($($test:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test::<super::InProcess>().await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test::<super::Redis>().await;
                }
            )*
        }
    };
}

contract_suite!(
    published_payloads_arrive_in_order_at_the_subscribed_node_only,
    publishing_with_no_subscriber_is_ok,
    dropping_a_subscription_stops_delivery_and_a_new_subscription_works,
    every_subscription_to_a_node_receives_its_payloads,
    publish_all_reaches_every_node_in_order_with_its_own_payloads_and_no_plain_channel,
    subscriptions_end_once_the_bus_is_dropped,
    a_user_set_online_is_found_by_lookup_until_set_offline,
    a_user_online_on_two_nodes_lists_both_and_stays_online_when_one_goes_offline,
    lookup_leaves_out_unknown_users_and_follows_the_input_order,
    entries_expire_after_the_ttl,
    set_online_refreshes_the_ttl,
    empty_inputs_are_no_ops,
    a_large_batch_works,
    mark_announced_reports_changes_and_announced_lists_the_online_ones,
);

const TTL: Duration = Duration::from_secs(30);
/// How long a delivery may take before a test calls it lost.
const PATIENCE: Duration = Duration::from_secs(5);

fn payload(text: impl Into<String>) -> Bytes {
    Bytes::from(text.into())
}

fn users(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

fn online(entries: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    entries
        .iter()
        .map(|(user, nodes)| ((*user).to_owned(), users(nodes)))
        .collect()
}

async fn next(subscription: &mut Subscription) -> Option<Delivery> {
    timeout(PATIENCE, subscription.recv())
        .await
        .expect("no delivery within the patience window")
}

/// Asserts that nothing (not even a gap) arrives for a short while.
async fn assert_quiet(subscription: &mut Subscription) {
    if let Ok(delivery) = timeout(Duration::from_millis(200), subscription.recv()).await {
        panic!("expected no delivery, got {delivery:?}");
    }
}

async fn published_payloads_arrive_in_order_at_the_subscribed_node_only<B: Backend>() {
    let bus = B::bus(&common::prefix()).await;
    let mut at_a = bus.subscribe("node-a").await.unwrap();
    let mut at_b = bus.subscribe("node-b").await.unwrap();

    for i in 0..100 {
        bus.publish("node-a", payload(format!("a{i}")))
            .await
            .unwrap();
    }
    bus.publish("node-b", payload("b0")).await.unwrap();

    for i in 0..100 {
        assert_eq!(
            next(&mut at_a).await,
            Some(Delivery::Payload(payload(format!("a{i}"))))
        );
    }
    assert_eq!(
        next(&mut at_b).await,
        Some(Delivery::Payload(payload("b0")))
    );
    assert_quiet(&mut at_a).await;
    assert_quiet(&mut at_b).await;
}

async fn publishing_with_no_subscriber_is_ok<B: Backend>() {
    let bus = B::bus(&common::prefix()).await;
    bus.publish("nobody-listens", payload("x")).await.unwrap();
    // Nothing published before a subscription began is replayed to it.
    let mut late = bus.subscribe("nobody-listens").await.unwrap();
    assert_quiet(&mut late).await;
}

async fn dropping_a_subscription_stops_delivery_and_a_new_subscription_works<B: Backend>() {
    let bus = B::bus(&common::prefix()).await;
    let mut first = bus.subscribe("node").await.unwrap();
    bus.publish("node", payload("1")).await.unwrap();
    assert_eq!(
        next(&mut first).await,
        Some(Delivery::Payload(payload("1")))
    );
    drop(first);

    bus.publish("node", payload("2")).await.unwrap();
    let mut second = bus.subscribe("node").await.unwrap();
    bus.publish("node", payload("3")).await.unwrap();
    assert_eq!(
        next(&mut second).await,
        Some(Delivery::Payload(payload("3")))
    );
    assert_quiet(&mut second).await;
}

async fn publish_all_reaches_every_node_in_order_with_its_own_payloads_and_no_plain_channel<
    B: Backend,
>() {
    let bus = B::bus(&common::prefix()).await;
    let mut at_a = bus.subscribe("node-a").await.unwrap();
    let mut at_b = bus.subscribe("node-b").await.unwrap();
    // A listener that is not a comet node hears only its own channel.
    let mut streams = bus.subscribe_channel("streams").await.unwrap();
    // Interleaved: a node's own payloads and the every-node ones keep their publish order.
    for i in 0..50 {
        bus.publish("node-a", payload(format!("a{i}")))
            .await
            .unwrap();
        bus.publish_all(payload(format!("all{i}"))).await.unwrap();
    }
    for i in 0..50 {
        for expected in [format!("a{i}"), format!("all{i}")] {
            assert_eq!(
                next(&mut at_a).await,
                Some(Delivery::Payload(payload(expected)))
            );
        }
        assert_eq!(
            next(&mut at_b).await,
            Some(Delivery::Payload(payload(format!("all{i}"))))
        );
    }
    assert_quiet(&mut at_a).await;
    assert_quiet(&mut at_b).await;
    assert_quiet(&mut streams).await;
    bus.publish("streams", payload("s")).await.unwrap();
    assert_eq!(
        next(&mut streams).await,
        Some(Delivery::Payload(payload("s")))
    );
    // Another deployment sharing the Redis (another prefix) hears nothing of it.
    let other = B::bus(&common::prefix()).await;
    let mut elsewhere = other.subscribe("node-a").await.unwrap();
    bus.publish_all(payload("x")).await.unwrap();
    assert_eq!(next(&mut at_a).await, Some(Delivery::Payload(payload("x"))));
    assert_quiet(&mut elsewhere).await;
}

async fn every_subscription_to_a_node_receives_its_payloads<B: Backend>() {
    let bus = B::bus(&common::prefix()).await;
    let mut first = bus.subscribe("node").await.unwrap();
    let mut second = bus.subscribe("node").await.unwrap();
    bus.publish("node", payload("x")).await.unwrap();
    assert_eq!(
        next(&mut first).await,
        Some(Delivery::Payload(payload("x")))
    );
    assert_eq!(
        next(&mut second).await,
        Some(Delivery::Payload(payload("x")))
    );
}

async fn subscriptions_end_once_the_bus_is_dropped<B: Backend>() {
    let bus = B::bus(&common::prefix()).await;
    let mut subscription = bus.subscribe("node").await.unwrap();
    bus.publish("node", payload("last")).await.unwrap();
    // What was delivered before the shutdown is still handed out, then the stream ends.
    assert_eq!(
        next(&mut subscription).await,
        Some(Delivery::Payload(payload("last")))
    );
    drop(bus);
    assert_eq!(next(&mut subscription).await, None);
}

async fn a_user_set_online_is_found_by_lookup_until_set_offline<B: Backend>() {
    let presence = B::presence(&common::prefix(), TTL).await;
    presence
        .set_online("node-a", &users(&["alice"]))
        .await
        .unwrap();
    assert_eq!(
        presence.lookup(&users(&["alice"])).await.unwrap(),
        online(&[("alice", &["node-a"])])
    );
    presence
        .set_offline("node-a", &users(&["alice"]))
        .await
        .unwrap();
    assert_eq!(
        presence.lookup(&users(&["alice"])).await.unwrap(),
        online(&[])
    );
}

async fn mark_announced_reports_changes_and_announced_lists_the_online_ones<B: Backend>() {
    let presence = B::presence(&common::prefix(), TTL).await;
    assert!(presence.mark_announced("alice", true).await.unwrap());
    assert!(!presence.mark_announced("alice", true).await.unwrap());
    assert!(presence.mark_announced("bob", true).await.unwrap());
    // Offline is the default: announcing it for someone never announced online changes nothing.
    assert!(!presence.mark_announced("carol", false).await.unwrap());
    let mut all = Vec::new();
    let mut cursor = 0;
    loop {
        let (page, next) = presence.announced(cursor).await.unwrap();
        all.extend(page);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    all.sort();
    all.dedup();
    assert_eq!(all, users(&["alice", "bob"]));
    assert!(presence.mark_announced("alice", false).await.unwrap());
    assert!(!presence.mark_announced("alice", false).await.unwrap());
    assert_eq!(presence.announced(0).await.unwrap().0, users(&["bob"]));
}

async fn a_user_online_on_two_nodes_lists_both_and_stays_online_when_one_goes_offline<
    B: Backend,
>() {
    let presence = B::presence(&common::prefix(), TTL).await;
    presence
        .set_online("node-b", &users(&["alice"]))
        .await
        .unwrap();
    presence
        .set_online("node-a", &users(&["alice"]))
        .await
        .unwrap();
    assert_eq!(
        presence.lookup(&users(&["alice"])).await.unwrap(),
        online(&[("alice", &["node-a", "node-b"])])
    );

    presence
        .set_offline("node-a", &users(&["alice"]))
        .await
        .unwrap();
    assert_eq!(
        presence.lookup(&users(&["alice"])).await.unwrap(),
        online(&[("alice", &["node-b"])])
    );
    // Going offline on a node that never had the user changes nothing.
    presence
        .set_offline("node-c", &users(&["alice"]))
        .await
        .unwrap();
    assert_eq!(
        presence.lookup(&users(&["alice"])).await.unwrap(),
        online(&[("alice", &["node-b"])])
    );
}

async fn lookup_leaves_out_unknown_users_and_follows_the_input_order<B: Backend>() {
    let presence = B::presence(&common::prefix(), TTL).await;
    presence
        .set_online("node-a", &users(&["carol", "alice"]))
        .await
        .unwrap();
    presence
        .set_online("node-b", &users(&["bob"]))
        .await
        .unwrap();
    assert_eq!(
        presence
            .lookup(&users(&["bob", "nobody", "carol", "alice"]))
            .await
            .unwrap(),
        online(&[
            ("bob", &["node-b"]),
            ("carol", &["node-a"]),
            ("alice", &["node-a"]),
        ])
    );
}

async fn entries_expire_after_the_ttl<B: Backend>() {
    let presence = B::presence(&common::prefix(), Duration::from_millis(300)).await;
    presence
        .set_online("node-a", &users(&["alice"]))
        .await
        .unwrap();
    assert_eq!(
        presence.lookup(&users(&["alice"])).await.unwrap(),
        online(&[("alice", &["node-a"])])
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        presence.lookup(&users(&["alice"])).await.unwrap(),
        online(&[])
    );
}

async fn set_online_refreshes_the_ttl<B: Backend>() {
    let presence = B::presence(&common::prefix(), Duration::from_millis(600)).await;
    presence
        .set_online("node-a", &users(&["alice"]))
        .await
        .unwrap();
    presence
        .set_online("node-b", &users(&["alice"]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    presence
        .set_online("node-a", &users(&["alice"]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    // node-b's entry lapsed; node-a's refreshed one is still live.
    assert_eq!(
        presence.lookup(&users(&["alice"])).await.unwrap(),
        online(&[("alice", &["node-a"])])
    );
}

async fn empty_inputs_are_no_ops<B: Backend>() {
    let presence = B::presence(&common::prefix(), TTL).await;
    presence.set_online("node-a", &[]).await.unwrap();
    presence.set_offline("node-a", &[]).await.unwrap();
    assert_eq!(presence.lookup(&[]).await.unwrap(), online(&[]));
}

async fn a_large_batch_works<B: Backend>() {
    let presence = B::presence(&common::prefix(), TTL).await;
    let everyone: Vec<String> = (0..2_500).map(|i| format!("user-{i}")).collect();
    presence.set_online("node-a", &everyone).await.unwrap();

    let found = presence.lookup(&everyone).await.unwrap();
    assert_eq!(found.len(), everyone.len());
    for ((user, nodes), expected) in found.iter().zip(&everyone) {
        assert_eq!(user, expected);
        assert_eq!(nodes, &users(&["node-a"]));
    }

    // Half go offline; the survivors are exactly the other half, still in input order.
    let (leaving, staying) = everyone.split_at(1_250);
    presence.set_offline("node-a", leaving).await.unwrap();
    let found = presence.lookup(&everyone).await.unwrap();
    let found_users: Vec<&String> = found.iter().map(|(user, _)| user).collect();
    assert_eq!(found_users, staying.iter().collect::<Vec<_>>());

    presence.set_offline("node-a", staying).await.unwrap();
    assert_eq!(presence.lookup(&everyone).await.unwrap(), online(&[]));
}

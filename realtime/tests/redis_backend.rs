//! Redis-only behaviour the contract suite cannot express: surviving connection loss, and the
//! key/channel layout other tools (and operators with `redis-cli`) rely on.
//!
//! Killing connections on a Redis shared with other test suites must never hit theirs. So the
//! subscriber here connects through a tiny TCP proxy that names every connection it opens with a
//! per-test `CLIENT SETNAME`; `CLIENT KILL ID` is only ever aimed at an id found under that name.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use natter_realtime::{Bus, Delivery, Presence, RedisBus, RedisPresence, Subscription};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};

/// Reconnecting takes a few backoff steps; generous so a loaded CI machine does not flake.
const PATIENCE: Duration = Duration::from_secs(15);

/// A TCP proxy in front of the test Redis that we can cut at will.
struct Proxy {
    /// The Redis URL, rewritten to point at the proxy.
    url: String,
    /// The `CLIENT SETNAME` given to every upstream connection.
    name: String,
    refusing: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: JoinHandle<()>,
}

impl Proxy {
    async fn start() -> Self {
        let redis_url = common::redis_url();
        let client = redis::Client::open(redis_url.as_str())
            .unwrap_or_else(|e| common::unreachable(&redis_url, e));
        let upstream = match client.get_connection_info().addr() {
            redis::ConnectionAddr::Tcp(host, port) => format!("{host}:{port}"),
            other => panic!("the reconnect tests need a plain TCP Redis URL, got {other:?}"),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = with_authority(&redis_url, &listener.local_addr().unwrap().to_string());
        let name = format!("natter-test-proxy-{}", uuid::Uuid::new_v4().simple());
        let refusing = Arc::new(AtomicBool::new(false));
        let links = Arc::new(Mutex::new(Vec::new()));

        let acceptor = tokio::spawn({
            let (name, refusing, links) = (name.clone(), refusing.clone(), links.clone());
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if refusing.load(Ordering::SeqCst) {
                        drop(inbound); // looks like a Redis that hangs up at once
                        continue;
                    }
                    let (upstream, name) = (upstream.clone(), name.clone());
                    links.lock().unwrap().push(tokio::spawn(async move {
                        let Ok(mut outbound) = named_connection(&upstream, &name).await else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }));
                }
            }
        });
        Self {
            url,
            name,
            refusing,
            links,
            acceptor,
        }
    }

    /// Cuts every open link, as a network failure would, and refuses new ones while `refusing`.
    fn cut(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.refusing.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.cut(true);
    }
}

/// Opens a connection to Redis and names it before handing it over, so the test can tell it
/// apart from every other client of the shared Redis.
async fn named_connection(upstream: &str, name: &str) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect(upstream).await?;
    let command = format!(
        "*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n${}\r\n{name}\r\n",
        name.len()
    );
    stream.write_all(command.as_bytes()).await?;
    // The reply is one line: +OK, or an error (e.g. NOAUTH) that leaves the link unnamed and
    // makes `subscriber_connection_id` fail loudly.
    let mut reply = Vec::new();
    let mut reader = BufReader::new(&mut stream);
    reader.read_until(b'\n', &mut reply).await?;
    assert!(
        reader.buffer().is_empty(),
        "unexpected data after CLIENT SETNAME reply"
    );
    Ok(stream)
}

/// `url` with its host:port replaced, keeping scheme, credentials, database and options.
fn with_authority(url: &str, authority: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a redis:// URL");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (host_part, tail) = rest.split_at(end);
    let credentials = host_part
        .rsplit_once('@')
        .map(|(c, _)| format!("{c}@"))
        .unwrap_or_default();
    format!("{scheme}://{credentials}{authority}{tail}")
}

/// The id of the proxy's connection that is in pub/sub mode: our subscriber, and nobody else's.
async fn subscriber_connection_id(name: &str) -> String {
    let mut redis = common::raw_connection().await;
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut redis)
        .await
        .unwrap();
    let ids: Vec<String> = clients
        .lines()
        .filter(|line| line.split(' ').any(|field| field == format!("name={name}")))
        .filter_map(|line| line.split(' ').find_map(|field| field.strip_prefix("id=")))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        ids.len(),
        1,
        "expected exactly one pub/sub connection named {name}: {clients}"
    );
    ids.into_iter().next().unwrap()
}

async fn next(subscription: &mut Subscription) -> Option<Delivery> {
    timeout(PATIENCE, subscription.recv())
        .await
        .expect("no delivery within the patience window")
}

fn payload(text: &'static str) -> Delivery {
    Delivery::Payload(Bytes::from_static(text.as_bytes()))
}

async fn bus(url: &str, prefix: &str) -> RedisBus {
    RedisBus::connect(url, prefix)
        .await
        .unwrap_or_else(|e| common::unreachable(url, e))
}

#[tokio::test]
async fn the_subscriber_survives_its_connection_being_killed_and_reports_a_gap() {
    let proxy = Proxy::start().await;
    let prefix = common::prefix();
    let publisher = bus(&common::redis_url(), &prefix).await;
    let subscriber = bus(&proxy.url, &prefix).await;
    let mut subscription = subscriber.subscribe("node").await.unwrap();
    publisher
        .publish("node", Bytes::from_static(b"before"))
        .await
        .unwrap();
    assert_eq!(next(&mut subscription).await, Some(payload("before")));

    let id = subscriber_connection_id(&proxy.name).await;
    let mut redis = common::raw_connection().await;
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(&id)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(killed, 1);

    // The gap comes only after resubscribing, so anything published after it is delivered.
    assert_eq!(next(&mut subscription).await, Some(Delivery::Gap));
    publisher
        .publish("node", Bytes::from_static(b"after"))
        .await
        .unwrap();
    assert_eq!(next(&mut subscription).await, Some(payload("after")));
    assert_ne!(subscriber_connection_id(&proxy.name).await, id);
}

#[tokio::test]
async fn the_subscriber_keeps_retrying_through_an_outage() {
    let proxy = Proxy::start().await;
    let prefix = common::prefix();
    let publisher = bus(&common::redis_url(), &prefix).await;
    let subscriber = bus(&proxy.url, &prefix).await;
    let mut subscription = subscriber.subscribe("node").await.unwrap();

    proxy.cut(true);
    // Long enough for several failed attempts, so the backoff loop (not a lucky first retry)
    // is what brings the subscription back.
    sleep(Duration::from_millis(1_500)).await;
    publisher
        .publish("node", Bytes::from_static(b"lost"))
        .await
        .unwrap();
    proxy.restore();

    assert_eq!(next(&mut subscription).await, Some(Delivery::Gap));
    publisher
        .publish("node", Bytes::from_static(b"after"))
        .await
        .unwrap();
    assert_eq!(next(&mut subscription).await, Some(payload("after")));
}

#[tokio::test]
async fn dropping_a_subscription_unsubscribes_in_redis() {
    let prefix = common::prefix();
    let bus = bus(&common::redis_url(), &prefix).await;
    let channel = format!("{prefix}bus:node");
    let mut redis = common::raw_connection().await;
    let subscribers = |redis: &mut redis::aio::MultiplexedConnection| {
        let mut redis = redis.clone();
        let channel = channel.clone();
        async move {
            let (_, count): (String, i64) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(&channel)
                .query_async(&mut redis)
                .await
                .unwrap();
            count
        }
    };

    let subscription = bus.subscribe("node").await.unwrap();
    assert_eq!(subscribers(&mut redis).await, 1);
    drop(subscription);
    let deadline = Instant::now() + Duration::from_secs(5);
    while subscribers(&mut redis).await != 0 {
        assert!(
            Instant::now() < deadline,
            "{channel} still has a subscriber"
        );
        sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn presence_uses_the_documented_key_layout() {
    let prefix = common::prefix();
    let ttl = Duration::from_secs(30);
    let presence = RedisPresence::connect(&common::redis_url(), &prefix, ttl)
        .await
        .unwrap_or_else(|e| common::unreachable(&common::redis_url(), e));
    presence
        .set_online("node-a", &["alice".to_owned()])
        .await
        .unwrap();

    let key = format!("{prefix}presence:alice");
    let mut redis = common::raw_connection().await;
    let fields: Vec<(String, i64)> = redis::cmd("HGETALL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0].0, "node-a");
    assert!(
        (now_ms + 25_000..=now_ms + 30_000).contains(&fields[0].1),
        "expiry {fields:?}"
    );
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!((25_000..=30_000).contains(&pttl), "PTTL {pttl}");

    // The last node going offline leaves no key behind.
    presence
        .set_offline("node-a", &["alice".to_owned()])
        .await
        .unwrap();
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(exists, 0);
}

#[tokio::test]
async fn expired_users_leave_no_key_behind() {
    let prefix = common::prefix();
    let presence =
        RedisPresence::connect(&common::redis_url(), &prefix, Duration::from_millis(300))
            .await
            .unwrap_or_else(|e| common::unreachable(&common::redis_url(), e));
    presence
        .set_online("node-a", &["alice".to_owned()])
        .await
        .unwrap();
    sleep(Duration::from_millis(600)).await;
    let mut redis = common::raw_connection().await;
    let exists: i64 = redis::cmd("EXISTS")
        .arg(format!("{prefix}presence:alice"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(exists, 0);
}

#[test]
fn with_authority_keeps_everything_but_host_and_port() {
    assert_eq!(
        with_authority("redis://127.0.0.1:6379", "h:1"),
        "redis://h:1"
    );
    assert_eq!(
        with_authority("redis://:pw@r:6379/2?protocol=resp3", "h:1"),
        "redis://:pw@h:1/2?protocol=resp3"
    );
}

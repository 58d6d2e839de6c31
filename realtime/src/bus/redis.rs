//! The Redis bus, for deployments where logic and comet run in separate processes.
//!
//! Publishing goes through a shared [`ConnectionManager`] (multiplexed, reconnects by itself).
//! Subscribing needs a dedicated connection in pub/sub mode, owned by a background task per
//! [`Subscription`]. Redis pub/sub forgets subscriptions when a connection drops, and payloads
//! published meanwhile are gone for good, so the task reconnects with backoff, resubscribes, and
//! then reports a [`Delivery::Gap`](crate::Delivery::Gap) so that comet can make its sockets
//! resync.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use redis::IntoConnectionInfo;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink, PubSubStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout};
use tokio_util::sync::CancellationToken;

use super::{Bus, Subscription};
use crate::RealtimeError;

mod outbox;

use outbox::Outbox;

/// Deliveries buffered per subscription before payloads are dropped in favour of a gap. Bounded
/// so a stuck consumer costs a fixed amount of memory, never an unbounded queue.
const SUBSCRIPTION_CAPACITY: usize = 65_536;
/// First delay before reconnecting; doubled per failed attempt up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(100);
/// Cap on the reconnect delay: short enough that a recovered Redis is noticed within seconds.
const RETRY_MAX: Duration = Duration::from_secs(2);
/// `get_async_pubsub` has no connect timeout of its own; without one, a black-holed Redis would
/// stall a (re)subscribe for as long as the kernel keeps retrying the TCP handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A subscriber only ever reads, so a silently dead connection (e.g. a NAT or a failover that
/// sends no reset) would look like a quiet channel forever. Pinging detects it.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);
/// redis-rs defaults to 500 ms, which a 1,000-command presence pipeline on a busy server can
/// exceed; a timeout that fires on healthy load would just turn into spurious errors.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
const MANAGER_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens a client and a command connection with the crate's timeouts. Shared with
/// [`RedisPresence`](crate::RedisPresence) so both backends behave alike under a slow Redis.
pub(crate) async fn connect_manager(
    url: &str,
) -> Result<(redis::Client, ConnectionManager), RealtimeError> {
    // Nagle's algorithm off, as on every tier connection: redis-rs leaves it on, and a
    // command written while the previous one's bytes wait for an ACK would wait with them.
    let info = url.into_connection_info()?;
    let tcp = info.tcp_settings().clone().set_nodelay(true);
    let client = redis::Client::open(info.set_tcp_settings(tcp))?;
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(MANAGER_CONNECT_TIMEOUT));
    let manager = client.get_connection_manager_with_config(config).await?;
    Ok((client, manager))
}

/// Redis-backed [`Bus`]. Clones share the publishing connection.
///
/// When the last clone is dropped, every subscription it created ends (their `recv` yields
/// `None`), matching the in-process bus.
#[derive(Clone)]
pub struct RedisBus {
    shared: Arc<Shared>,
}

struct Shared {
    client: redis::Client,
    publisher: ConnectionManager,
    prefix: String,
    /// Parent of every subscription's stop token.
    shutdown: CancellationToken,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl RedisBus {
    /// `prefix` namespaces channels (tests use a random prefix): channel = "{prefix}bus:{node_id}",
    /// and "{prefix}bus-all" for every node.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, RealtimeError> {
        let (client, publisher) = connect_manager(url).await?;
        Ok(Self {
            shared: Arc::new(Shared {
                client,
                publisher,
                prefix: prefix.to_owned(),
                shutdown: CancellationToken::new(),
            }),
        })
    }

    fn channel(&self, node_id: &str) -> String {
        format!("{}bus:{node_id}", self.shared.prefix)
    }

    /// Every node listens here too (on the same connection as its own channel, so that Redis
    /// delivers both in the order it took the publishes).
    fn all_channel(&self) -> String {
        format!("{}bus-all", self.shared.prefix)
    }

    async fn publish_to(&self, channel: String, payload: Bytes) -> Result<(), RealtimeError> {
        let mut publisher = self.shared.publisher.clone();
        // PUBLISH answers with the number of receivers; zero is fine by contract.
        let _receivers: i64 = redis::cmd("PUBLISH")
            .arg(channel)
            .arg(&payload[..])
            .query_async(&mut publisher)
            .await?;
        Ok(())
    }
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("prefix", &self.shared.prefix)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Bus for RedisBus {
    async fn publish(&self, node_id: &str, payload: Bytes) -> Result<(), RealtimeError> {
        self.publish_to(self.channel(node_id), payload).await
    }

    async fn publish_all(&self, payload: Bytes) -> Result<(), RealtimeError> {
        self.publish_to(self.all_channel(), payload).await
    }

    async fn subscribe(&self, node_id: &str) -> Result<Subscription, RealtimeError> {
        self.listen(vec![self.channel(node_id), self.all_channel()])
            .await
    }

    async fn subscribe_channel(&self, name: &str) -> Result<Subscription, RealtimeError> {
        self.listen(vec![self.channel(name)]).await
    }
}

impl RedisBus {
    async fn listen(&self, channel: Channels) -> Result<Subscription, RealtimeError> {
        // The first connection is made here rather than in the task so that a Redis outage is
        // reported to the caller, and so that returning means "subscribed".
        let connection = open(&self.shared.client, &channel).await?;
        let (sender, deliveries) = mpsc::channel(SUBSCRIPTION_CAPACITY);
        let stop = self.shared.shutdown.child_token();
        tokio::spawn(run(
            self.shared.client.clone(),
            channel,
            connection,
            Outbox::new(sender),
            stop.clone(),
        ));
        Ok(Subscription::from_channel(deliveries, stop.drop_guard()))
    }
}

/// What one subscription listens to: its channel, then (a comet node's) the every-node one.
type Channels = Vec<String>;

/// One subscribed pub/sub connection. Dropping it closes the socket, which is also how Redis
/// learns that we unsubscribed.
struct Connection {
    sink: PubSubSink,
    stream: PubSubStream,
}

async fn open(client: &redis::Client, channel: &Channels) -> redis::RedisResult<Connection> {
    let attempt = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(&channel[..]).await?;
        let (sink, stream) = pubsub.split();
        Ok(Connection { sink, stream })
    };
    match timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "redis subscribe timed out").into()),
    }
}

/// The subscription's background task: forward payloads, and on connection loss reconnect
/// forever (until stopped) and report a gap.
async fn run(
    client: redis::Client,
    channel: Channels,
    mut connection: Connection,
    mut outbox: Outbox,
    stop: CancellationToken,
) {
    loop {
        let reason = match forward(&mut connection, &mut outbox, &stop).await {
            Ended::Stopped => return,
            Ended::Lost(reason) => reason,
        };
        tracing::warn!(
            channel = %channel[0],
            %reason,
            "bus subscription lost its redis connection; reconnecting"
        );
        let lost_at = Instant::now();
        let (fresh, attempts) = match reconnect(&client, &channel, &stop).await {
            Some(reconnected) => reconnected,
            None => return,
        };
        connection = fresh;
        tracing::info!(
            channel = %channel[0],
            attempts,
            down_ms = lost_at.elapsed().as_millis() as u64,
            "bus subscription resubscribed; delivering a gap"
        );
        if outbox.gap().is_err() {
            return;
        }
    }
}

enum Ended {
    /// The subscription was dropped or the bus shut down: nothing left to do.
    Stopped,
    /// The connection failed; the string says how, for the log.
    Lost(String),
}

async fn forward(
    connection: &mut Connection,
    outbox: &mut Outbox,
    stop: &CancellationToken,
) -> Ended {
    let mut keepalive =
        tokio::time::interval_at(Instant::now() + KEEPALIVE_INTERVAL, KEEPALIVE_INTERVAL);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ended::Stopped,
            message = connection.stream.next() => {
                let Some(message) = message else {
                    return Ended::Lost("connection closed".to_owned());
                };
                let payload = Bytes::copy_from_slice(message.get_payload_bytes());
                if outbox.payload(payload).is_err() {
                    return Ended::Stopped;
                }
            }
            flushed = outbox.flush_gap(), if outbox.owes_gap() => {
                if flushed.is_err() {
                    return Ended::Stopped;
                }
            }
            _ = keepalive.tick() => {
                let ping = timeout(KEEPALIVE_TIMEOUT, connection.sink.ping::<redis::Value>());
                match stop.run_until_cancelled(ping).await {
                    None => return Ended::Stopped,
                    Some(Ok(Ok(_))) => {}
                    Some(Ok(Err(error))) => {
                        return Ended::Lost(format!("keepalive ping failed: {error}"));
                    }
                    Some(Err(_)) => return Ended::Lost("keepalive ping timed out".to_owned()),
                }
            }
        }
    }
}

/// Retries [`open`] with exponential backoff until it succeeds (returning the connection and the
/// number of attempts) or `stop` fires (returning `None`).
async fn reconnect(
    client: &redis::Client,
    channel: &Channels,
    stop: &CancellationToken,
) -> Option<(Connection, u32)> {
    let mut delay = RETRY_MIN;
    let mut attempts = 0;
    loop {
        stop.run_until_cancelled(sleep(delay)).await?;
        attempts += 1;
        match stop.run_until_cancelled(open(client, channel)).await? {
            Ok(connection) => return Some((connection, attempts)),
            Err(error) => {
                tracing::debug!(channel = %channel[0], attempts, %error, "bus resubscribe attempt failed");
                delay = (delay * 2).min(RETRY_MAX);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keepalive relies on PING being allowed, and answered, on a subscribed RESP2
    /// connection; this pins that down against the real server and redis-rs version.
    #[tokio::test]
    async fn keepalive_pings_work_on_a_subscribed_connection() {
        let url = std::env::var("NATTER_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let (client, mut publisher) = connect_manager(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach Redis at {url} (NATTER_TEST_REDIS_URL): {e}"));
        let channel = format!("natter-test-{}:bus:ping", std::process::id());
        let channels = vec![channel.clone(), format!("{channel}-all")];
        let mut connection = open(&client, &channels).await.unwrap();
        timeout(KEEPALIVE_TIMEOUT, connection.sink.ping::<redis::Value>())
            .await
            .expect("ping timed out")
            .expect("ping failed");
        let _: i64 = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg("after-ping")
            .query_async(&mut publisher)
            .await
            .unwrap();
        let message = timeout(KEEPALIVE_TIMEOUT, connection.stream.next())
            .await
            .expect("no message after ping")
            .expect("connection closed");
        assert_eq!(message.get_payload_bytes(), b"after-ping");
    }
}

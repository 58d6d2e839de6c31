//! Clients written the way PROTOCOL.md tells a client to behave, so a test can hold the server
//! to "no message lost, none shown twice, none out of order" through failures:
//!
//! - a [`Device`] keeps the messages of one conversation by `seq`; after it connects, after a
//!   `resync` and at the end it calls `sync` from the last `seq` it holds without a gap; when its
//!   node goes away it reconnects to the next one;
//! - a sender sends with a `client_msg_id` and, when its node goes away before the reply, sends
//!   the same message again through another node: the server stores it once.
//!
//! Each counts what the server did wrong on the way (a push twice or out of `seq` order on one
//! socket, two messages under one `seq`), so a test asserts those are zero.

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use natter_testkit::Api;
use reqwest::Method;
use serde_json::{Value, json};
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::{net::TcpStream, sync::mpsc};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async, tungstenite::Message};
use tokio_util::sync::CancellationToken;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What one device ended up holding, and what it saw on the way.
#[derive(Debug, Default)]
pub struct Held {
    pub name: String,
    /// seq → message_id: the conversation as this device shows it.
    pub messages: BTreeMap<i64, String>,
    /// Seqs that arrived by push (on any of its sockets).
    pub pushed: BTreeSet<i64>,
    /// The last seq it held when it first caught up (pushes are expected after that).
    pub first_caught_up: i64,
    pub dup_pushes: u64,
    pub out_of_order: u64,
    /// A seq that came back with a different message_id than before.
    pub conflicts: u64,
    pub resyncs: u64,
    pub reconnects: u64,
    /// (sent_at, send → push latency) of the pushes that carried `sent_at` in their metadata,
    /// in ms.
    pub latencies_ms: Vec<(u128, u64)>,
}

impl Held {
    /// The highest seq held with nothing missing below it.
    fn contiguous(&self) -> i64 {
        let mut last = 0;
        for &seq in self.messages.keys() {
            if seq != last + 1 {
                break;
            }
            last = seq;
        }
        last
    }

    fn keep(&mut self, m: &Value) {
        let (Some(seq), Some(id)) = (m["seq"].as_i64(), m["message_id"].as_str()) else {
            return;
        };
        match self.messages.get(&seq) {
            Some(known) if known != id => self.conflicts += 1,
            Some(_) => {}
            None => {
                self.messages.insert(seq, id.to_owned());
            }
        }
    }

    /// Messages after the first catch-up that never arrived by push.
    pub fn missed_pushes(&self) -> usize {
        (self.messages.range(self.first_caught_up + 1..))
            .filter(|(seq, _)| !self.pushed.contains(seq))
            .count()
    }
}

/// One device of a member, held on node `home` first.
pub struct Device {
    pub name: String,
    pub nodes: Vec<String>,
    pub home: usize,
    pub token: String,
    pub conversation: String,
    /// Counts the devices told to `resync` at least once.
    pub resynced: Arc<AtomicUsize>,
}

impl Device {
    /// Runs until `stop`, then catches up one last time and returns what it holds. `ready`
    /// gets a message once the device is connected and caught up for the first time.
    pub async fn run(self, ready: mpsc::Sender<()>, stop: CancellationToken) -> Held {
        let mut held = Held {
            name: self.name.clone(),
            ..Held::default()
        };
        let mut node = self.home;
        let mut ready = Some(ready);
        loop {
            let ended = match self
                .session(&self.nodes[node], &mut held, &mut ready, &stop)
                .await
            {
                Ok(ended) => ended,
                Err(err) => {
                    tracing::debug!(device = %self.name, %err, "socket lost; reconnecting");
                    false
                }
            };
            if ended {
                return held;
            }
            held.reconnects += 1;
            node = (node + 1) % self.nodes.len();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One socket's life; Ok(true) once the final catch-up is done after `stop`.
    async fn session(
        &self,
        base: &str,
        held: &mut Held,
        ready: &mut Option<mpsc::Sender<()>>,
        stop: &CancellationToken,
    ) -> anyhow::Result<bool> {
        let mut ws = open(base, &self.token, &self.name).await?;
        let mut last_push = 0;
        let mut pushed_here = BTreeSet::new();
        let mut catchup = Catchup::default();
        let mut stopping = false;
        catchup.ask(&mut ws, held, &self.conversation).await?;
        loop {
            let frame = tokio::select! {
                frame = ws.next() => frame,
                () = stop.cancelled(), if !stopping => {
                    stopping = true;
                    catchup.ask(&mut ws, held, &self.conversation).await?;
                    continue;
                }
            };
            let text = match frame.context("socket ended")?? {
                Message::Text(t) => t,
                Message::Close(f) => bail!("closed: {f:?}"),
                _ => continue,
            };
            let v: Value = serde_json::from_str(text.as_str())?;
            match v["push"].as_str() {
                Some("message") if v["data"]["conversation_id"] == *self.conversation => {
                    let m = &v["data"];
                    let seq = m["seq"].as_i64().context("push without seq")?;
                    if !pushed_here.insert(seq) {
                        held.dup_pushes += 1;
                    } else if seq < last_push {
                        held.out_of_order += 1;
                    }
                    last_push = last_push.max(seq);
                    held.pushed.insert(seq);
                    if let Some(sent) = m["metadata"]["sent_at"].as_str() {
                        let sent: u128 = sent.parse().unwrap_or_default();
                        held.latencies_ms
                            .push((sent, now_ms().saturating_sub(sent) as u64));
                    }
                    held.keep(m);
                }
                Some("resync") => {
                    if held.resyncs == 0 {
                        self.resynced.fetch_add(1, Ordering::Relaxed);
                    }
                    held.resyncs += 1;
                    catchup.ask(&mut ws, held, &self.conversation).await?;
                }
                Some(_) => {}
                None if v["id"].as_i64() == catchup.pending => {
                    let result = v
                        .get("result")
                        .with_context(|| format!("sync failed: {v}"))?;
                    for m in result["messages"].as_array().into_iter().flatten() {
                        held.keep(m);
                    }
                    catchup.pending = None;
                    if result["has_more"] == true || std::mem::take(&mut catchup.again) {
                        catchup.ask(&mut ws, held, &self.conversation).await?;
                    } else if let Some(ready) = ready.take() {
                        held.first_caught_up = held.contiguous();
                        let _ = ready.send(()).await;
                    } else if stopping {
                        let _ = ws.close(None).await;
                        return Ok(true);
                    }
                }
                None => {}
            }
        }
    }
}

async fn open(base: &str, token: &str, device: &str) -> anyhow::Result<Ws> {
    let (mut ws, _) = connect_async(format!("{base}/v1/ws")).await?;
    let auth = json!({"id": 0, "method": "auth", "params": {"token": token, "device_id": device}});
    ws.send(Message::text(auth.to_string())).await?;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .context("no auth reply")?
            .context("socket ended before the auth reply")??;
        if let Message::Text(t) = frame {
            let v: Value = serde_json::from_str(t.as_str())?;
            if v["id"] == 0 {
                v.get("result")
                    .with_context(|| format!("auth refused: {v}"))?;
                return Ok(ws);
            }
        }
    }
}

/// A device's `sync` from the last `seq` it holds without a gap: one at a time; asked for
/// while one is on its way, another follows it.
#[derive(Default)]
struct Catchup {
    next_id: i64,
    pending: Option<i64>,
    again: bool,
}

impl Catchup {
    async fn ask(&mut self, ws: &mut Ws, held: &Held, conversation: &str) -> anyhow::Result<()> {
        if self.pending.is_some() {
            self.again = true;
            return Ok(());
        }
        self.next_id += 1;
        self.pending = Some(self.next_id);
        let frame = json!({"id": self.next_id, "method": "sync", "params": {
            "conversation_id": conversation, "after_seq": held.contiguous(), "limit": 100}});
        ws.send(Message::text(frame.to_string())).await?;
        Ok(())
    }
}

/// What a sender got acknowledged.
#[derive(Debug, Default)]
pub struct Sent {
    /// (seq, message_id) of every acknowledged message.
    pub acked: Vec<(i64, String)>,
    /// Error replies (the server refused or failed a send).
    pub errors: Vec<String>,
    /// UNAVAILABLE replies, each followed by the same send again (as a client should).
    pub unavailable: u64,
    pub reconnects: u64,
}

/// What a sender sends: how many messages, how often, padded to what size, until when.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub count: usize,
    pub every: Duration,
    pub pad: usize,
    pub until: Option<Instant>,
}

/// Sends to `conversation` at `pace`, starting on node `home`.
pub async fn send_all(
    name: String,
    nodes: Vec<String>,
    home: usize,
    token: String,
    conversation: String,
    pace: Pace,
    progress: Arc<AtomicUsize>,
) -> Sent {
    let mut sent = Sent::default();
    let mut node = home;
    let mut ws = None;
    let mut next_id = 0;
    for k in 0..pace.count {
        if pace.until.is_some_and(|t| Instant::now() > t) {
            break;
        }
        let client_msg_id = format!("{name}-{k}");
        let started = Instant::now();
        loop {
            if started.elapsed() > Duration::from_secs(30) {
                sent.errors
                    .push(format!("{client_msg_id}: not acknowledged in 30 s"));
                break;
            }
            if ws.is_none() {
                match open(&nodes[node], &token, &name).await {
                    Ok(s) => ws = Some(s),
                    Err(_) => {
                        node = (node + 1) % nodes.len();
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                }
            }
            let socket = ws.as_mut().unwrap();
            next_id += 1;
            match send_one(socket, next_id, &conversation, &client_msg_id, pace.pad).await {
                Ok(Ok(m)) => {
                    sent.acked.push((m["seq"].as_i64().unwrap_or(0), id_of(&m)));
                    progress.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Ok(Err(error)) if error["code"] == "UNAVAILABLE" => {
                    sent.unavailable += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(Err(error)) => {
                    sent.errors.push(format!("{client_msg_id}: {error}"));
                    break;
                }
                Err(_) => {
                    // The node went away before answering: the same message, through another.
                    ws = None;
                    sent.reconnects += 1;
                    node = (node + 1) % nodes.len();
                }
            }
        }
        tokio::time::sleep(pace.every).await;
    }
    if let Some(mut ws) = ws {
        let _ = ws.close(None).await;
    }
    sent
}

/// Ok(Ok(message)) when stored, Ok(Err(error)) when refused, Err when the socket failed.
async fn send_one(
    ws: &mut Ws,
    id: i64,
    conversation: &str,
    client_msg_id: &str,
    pad: usize,
) -> anyhow::Result<Result<Value, Value>> {
    let frame = json!({"id": id, "method": "send", "params": {
        "conversation_id": conversation,
        "content": format!("message {client_msg_id} {}", "x".repeat(pad)),
        "client_msg_id": client_msg_id,
        "metadata": {"sent_at": now_ms().to_string()},
    }});
    ws.send(Message::text(frame.to_string())).await?;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .context("no reply in 10 s")?
            .context("socket ended")??;
        let Message::Text(t) = frame else {
            if let Message::Close(f) = frame {
                bail!("closed: {f:?}");
            }
            continue;
        };
        let v: Value = serde_json::from_str(t.as_str())?;
        if v["id"] == id {
            return Ok(match v.get("result") {
                Some(m) => Ok(m.clone()),
                None => Err(v["error"].clone()),
            });
        }
    }
}

/// One stored message as the history shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub seq: i64,
    pub message_id: String,
    pub system: bool,
}

/// The whole conversation as stored, oldest first, through REST.
pub async fn history(api: &Api, token: &str, conversation: &str) -> anyhow::Result<Vec<Stored>> {
    let mut all = Vec::new();
    let mut before = None::<i64>;
    loop {
        let mut path = format!("/v1/chats/{conversation}/messages?limit=100");
        if let Some(b) = before {
            path.push_str(&format!("&before_seq={b}"));
        }
        let (status, v) = api.call(Method::GET, &path, Some(token), None).await?;
        anyhow::ensure!(status.is_success(), "history answered {status}: {v}");
        for m in v["messages"].as_array().into_iter().flatten() {
            all.push(Stored {
                seq: m["seq"].as_i64().unwrap_or(0),
                message_id: id_of(m),
                system: m["type"] == "system",
            });
        }
        before = all.last().map(|m| m.seq);
        if v["has_more"] != true {
            break;
        }
    }
    all.reverse();
    Ok(all)
}

fn id_of(m: &Value) -> String {
    m["message_id"].as_str().unwrap_or_default().to_owned()
}

pub fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

//! One socket's task: connect, then at once read frames, write the sends the driver schedules
//! (pipelined: each has its own id, replies are matched by id whenever they come), and, for a
//! churning socket, reconnect now and then. It behaves as the contract asks of a client: on a
//! `resync` push, and after every reconnect, it calls `sync` from the last `seq` it holds, so
//! anything it still misses at the end is a real loss.
//!
//! All per-socket state (pending requests, per-conversation trackers) lives in the task; only
//! counters and histograms are shared. At the end the task hands back its trackers and the
//! seqs of its acknowledged sends, from which the losses are counted.

mod frames;

use crate::{
    client::{self, Endpoint, Ws},
    metrics::{Metrics, now_us},
    tracker::Tracker,
};
use futures::StreamExt;
use std::{collections::HashMap, net::IpAddr, sync::Arc, time::Duration};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// A conversation this socket's user is in.
#[derive(Clone, Debug)]
pub struct SessionConv {
    /// Index in the plan's conversation list.
    pub global: usize,
    pub id: Arc<str>,
    /// Its last `seq` at provisioning.
    pub baseline: i64,
}

/// Who this socket is and what it is in.
pub struct Spec {
    pub index: usize,
    pub user_id: String,
    pub token: String,
    pub endpoint: Arc<Endpoint>,
    pub source: Option<IpAddr>,
    pub convs: Vec<SessionConv>,
    /// Reconnect this often (a churning socket).
    pub churn: Option<Duration>,
}

/// What every socket shares.
#[derive(Clone)]
pub struct Shared {
    pub metrics: Arc<Metrics>,
    pub message_size: usize,
    pub app_ping: Option<Duration>,
    /// Handshakes in flight at once.
    pub gate: Arc<Semaphore>,
    /// Stop churning (the grace period has begun).
    pub quiet: CancellationToken,
    /// Close and hand back the outcome.
    pub stop: CancellationToken,
}

/// Sent by the driver: send one message to the socket's conversation `conv` (local index),
/// scheduled at `sched_us`.
#[derive(Debug, Clone, Copy)]
pub struct Cmd {
    pub conv: usize,
    pub sched_us: u64,
}

/// What a socket hands back.
pub struct Outcome {
    pub index: usize,
    /// It authenticated at least once (a socket that never did is a connect failure, not a
    /// recipient that lost messages).
    pub connected: bool,
    pub convs: Vec<SessionConv>,
    pub trackers: Vec<Tracker>,
    /// (local conversation, seq) of every acknowledged send.
    pub acked: Vec<(usize, i64)>,
    /// Sends still unanswered when the run stopped.
    pub unacked: u64,
}

enum Pending {
    Send { conv: usize, sched_us: u64 },
    Sync { conv: usize },
    Ping,
}

enum Next {
    Go,
    Lost(String),
    Churn,
    Stop,
}

struct Session {
    spec: Spec,
    shared: Shared,
    next_id: u64,
    /// Which connection of this socket this is (0, then +1 per reconnect); part of every
    /// `client_msg_id`, so a push of our own message can be told apart: from this connection
    /// it is an echo (a bug), from an earlier one it is owed to us like anyone's.
    generation: u32,
    pending: HashMap<u64, Pending>,
    by_id: HashMap<Arc<str>, usize>,
    trackers: Vec<Tracker>,
    acked: Vec<(usize, i64)>,
}

/// Runs socket `spec` until `shared.stop`; reports its first connect on `ready`.
pub async fn run(
    spec: Spec,
    shared: Shared,
    rx: mpsc::UnboundedReceiver<Cmd>,
    ready: mpsc::UnboundedSender<bool>,
) -> Outcome {
    let opened = {
        let _permit = shared.gate.acquire().await;
        let t0 = now_us();
        let out = client::open(&spec.endpoint, spec.source, &spec.token, "loadtest").await;
        if out.is_ok() {
            shared
                .metrics
                .connect_latency
                .record(spec.index, now_us() - t0);
        }
        out
    };
    let mut session = Session {
        trackers: spec
            .convs
            .iter()
            .map(|c| Tracker::new(c.baseline))
            .collect(),
        by_id: (spec.convs.iter().enumerate())
            .map(|(i, c)| (c.id.clone(), i))
            .collect(),
        spec,
        shared,
        next_id: 2,
        generation: 0,
        pending: HashMap::new(),
        acked: Vec::new(),
    };
    let m = session.shared.metrics.clone();
    match opened {
        Ok((ws, next_id)) => {
            m.connected.inc();
            let _ = ready.send(true);
            session.next_id = next_id;
            session.drive(ws, rx).await;
            session.outcome(true)
        }
        Err(err) => {
            m.connect_failures.inc();
            m.error("connect", format!("{err:#}"));
            let _ = ready.send(false);
            session.outcome(false)
        }
    }
}

impl Session {
    fn outcome(self, connected: bool) -> Outcome {
        let unacked = (self.pending.values())
            .filter(|p| matches!(p, Pending::Send { .. }))
            .count() as u64;
        Outcome {
            index: self.spec.index,
            connected,
            convs: self.spec.convs,
            trackers: self.trackers,
            acked: self.acked,
            unacked,
        }
    }

    async fn drive(&mut self, mut ws: Ws, mut rx: mpsc::UnboundedReceiver<Cmd>) {
        // A child of the run's token, waited on by one future made once: a fresh wait on the
        // shared token at every frame took its lock, which every socket task shares.
        let (stop, quiet) = (self.shared.stop.child_token(), self.shared.quiet.clone());
        let stopping = stop.cancelled();
        tokio::pin!(stopping);
        let ping_every = self.shared.app_ping.unwrap_or(Duration::from_secs(3600));
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        let churn_every = self.spec.churn.unwrap_or(Duration::from_secs(3600));
        // Churners start at different moments, so reconnects spread over the period.
        let phase = churn_every.mul_f64((self.spec.index % 97) as f64 / 97.0);
        let churn = tokio::time::sleep(churn_every / 2 + phase);
        tokio::pin!(churn);
        let mut commands_open = true;
        loop {
            let next = tokio::select! {
                biased;
                () = &mut stopping => Next::Stop,
                frame = ws.next() => match frame {
                    Some(Ok(Message::Text(t))) => self.on_text(&mut ws, t.as_str()).await,
                    Some(Ok(Message::Close(f))) => Next::Lost(format!("closed by the server: {f:?}")),
                    Some(Ok(_)) => Next::Go,
                    Some(Err(e)) => Next::Lost(format!("read: {e}")),
                    None => Next::Lost("connection ended".into()),
                },
                cmd = rx.recv(), if commands_open => match cmd {
                    Some(cmd) => self.send(&mut ws, cmd).await,
                    None => { commands_open = false; Next::Go }
                },
                () = &mut churn, if self.spec.churn.is_some() && !quiet.is_cancelled() => Next::Churn,
                _ = ping.tick(), if self.shared.app_ping.is_some() => self.ping(&mut ws).await,
            };
            let planned = matches!(next, Next::Churn);
            match next {
                Next::Go => continue,
                Next::Stop => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    return;
                }
                Next::Churn => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    churn
                        .as_mut()
                        .reset(tokio::time::Instant::now() + churn_every);
                }
                Next::Lost(why) => {
                    self.shared.metrics.disconnects.inc();
                    self.shared.metrics.error("disconnected", why);
                }
            }
            self.shared.metrics.connected.dec();
            let Some(new) = self.reconnect(planned).await else {
                return;
            };
            ws = new;
            // Sends scheduled while down are not sent late (that would count our outage as
            // the server's latency).
            while rx.try_recv().is_ok() {
                self.shared.metrics.skipped.inc();
            }
            for conv in 0..self.trackers.len() {
                if let Err(e) = self
                    .sync(&mut ws, conv, self.trackers[conv].watermark())
                    .await
                {
                    self.shared.metrics.error("sync after reconnect", e);
                }
            }
        }
    }

    /// Opens a new connection (with backoff) until it works or the run stops.
    async fn reconnect(&mut self, planned: bool) -> Option<Ws> {
        let m = self.shared.metrics.clone();
        let abandoned = (self.pending.values())
            .filter(|p| matches!(p, Pending::Send { .. }))
            .count();
        m.abandoned.add(abandoned as u64);
        self.pending.clear();
        let mut backoff = Duration::from_millis(if planned { 20 } else { 100 });
        loop {
            tokio::select! {
                () = self.shared.stop.cancelled() => return None,
                () = tokio::time::sleep(backoff) => {}
            }
            let s = &self.spec;
            match client::open(&s.endpoint, s.source, &s.token, "loadtest").await {
                Ok((ws, next_id)) => {
                    self.next_id = self.next_id.max(next_id);
                    self.generation += 1;
                    self.trackers.iter_mut().for_each(Tracker::reconnected);
                    m.connected.inc();
                    if planned {
                        m.churns.inc();
                    }
                    return Some(ws);
                }
                Err(err) => {
                    m.reconnect_failures.inc();
                    m.error("reconnect", format!("{err:#}"));
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

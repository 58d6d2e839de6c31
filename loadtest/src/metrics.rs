//! Counters and latency histograms shared by every socket task. Counters are atomics (read
//! live by the progress bar); histograms are HDR (microseconds, 3 significant digits) split in
//! a few mutex-guarded shards so thousands of sockets can record without queueing on one lock.
//!
//! Times come from one monotonic clock: [`now_us`] counts microseconds since the process first
//! asked. Sender and recipient are in this process, so a timestamp written into a message by
//! the sender can be compared directly with the recipient's clock.

use hdrhistogram::Histogram;
use std::{
    collections::BTreeMap,
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Microseconds since this process's clock epoch (monotonic).
pub fn now_us() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}

const SHARDS: usize = 16;
/// Highest latency recorded exactly: 10 minutes in µs (larger values are clamped to it).
const MAX_US: u64 = 600_000_000;

/// A latency histogram in µs, recordable from many tasks.
pub struct Latency {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl Latency {
    fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(histogram())).collect(),
        }
    }

    /// Records `us`; `who` (any number, e.g. the socket index) picks the shard.
    pub fn record(&self, who: usize, us: u64) {
        if let Ok(mut h) = self.shards[who % SHARDS].lock() {
            h.saturating_record(us.max(1));
        }
    }

    /// Every shard merged.
    pub fn snapshot(&self) -> Histogram<u64> {
        let mut all = histogram();
        for s in &self.shards {
            if let Ok(h) = s.lock() {
                let _ = all.add(&*h);
            }
        }
        all
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid HDR bounds")
}

/// A counter; `get` reads it.
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Everything counted during a run.
#[derive(Default)]
pub struct Metrics {
    /// Guest accounts created.
    pub provisioned: Counter,
    /// Sockets open and authenticated right now.
    pub connected: Counter,
    pub connect_failures: Counter,
    /// `send` requests written.
    pub sent: Counter,
    /// `send` replies with a result.
    pub acked: Counter,
    /// `send` replies with an error other than RESOURCE_EXHAUSTED.
    pub send_errors: Counter,
    /// `send` replies refused by the per-socket rate limit.
    pub rate_limited: Counter,
    /// Scheduled sends that could not be written (the socket was down or had failed).
    pub skipped: Counter,
    /// Sends in flight on a socket the churn closed (their outcome is unknown).
    pub abandoned: Counter,
    /// `message` pushes received.
    pub pushes: Counter,
    /// Other pushes (presence, typing, read), by no kind in particular.
    pub other_pushes: Counter,
    /// `resync` pushes received.
    pub resyncs: Counter,
    /// Messages that reached a socket only through `sync` (a push was missed).
    pub recovered: Counter,
    pub duplicates: Counter,
    pub out_of_order: Counter,
    /// `message` pushes of a socket's own send delivered back to that socket.
    pub echoes: Counter,
    /// Reconnects after a planned (churn) close.
    pub churns: Counter,
    /// Sockets closed by the server or the network, not by us.
    pub disconnects: Counter,
    pub reconnect_failures: Counter,
    /// send → push latency on the recipient (from the scheduled send time).
    pub latency: Latency,
    /// send → reply latency on the sender (from the scheduled send time).
    pub ack_latency: Latency,
    /// TCP connect → auth reply.
    pub connect_latency: Latency,
    /// A few examples of each kind of error, and how often each happened.
    errors: Mutex<BTreeMap<String, (u64, String)>>,
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Counts an error of `kind` (e.g. "send: INTERNAL") and keeps its first detail.
    pub fn error(&self, kind: impl Into<String>, detail: impl std::fmt::Display) {
        if let Ok(mut map) = self.errors.lock() {
            let entry = map
                .entry(kind.into())
                .or_insert_with(|| (0, detail.to_string()));
            entry.0 += 1;
        }
    }

    /// Error kinds: count and first example.
    pub fn errors(&self) -> BTreeMap<String, (u64, String)> {
        self.errors.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

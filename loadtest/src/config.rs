//! What one run does, independent of the command line: the smoke test builds a [`Config`] in
//! code, `natter-loadtest` builds it from flags (see `cli.rs`). Every scenario is the same engine
//! with different counts, so a [`Shape`] (how many idle sockets, pairs, groups, churners) plus a
//! total message rate describes any of them.

use anyhow::{bail, ensure};
use std::{path::PathBuf, time::Duration};

/// The named scenarios; each only chooses defaults for the [`Shape`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Hold authenticated sockets; measure connect rate and memory per socket.
    Idle,
    /// Pairs of users chatting 1:1.
    Direct,
    /// Rooms with a few senders each.
    Group,
    /// Mostly idle sockets, some pairs, some groups, some reconnect churn.
    Mixed,
}

/// Which stack the harness starts itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpawnKind {
    /// One `natter` process on SQLite in a temporary folder.
    Embedded,
    /// A fresh PostgreSQL database, a random Redis prefix, repo + logic + `comets` comet nodes.
    Postgres,
}

/// Where the sockets go.
#[derive(Clone, Debug)]
pub enum Target {
    /// A running deployment: the base URLs of its comet nodes (sockets spread round-robin).
    Urls(Vec<String>),
    /// A stack the harness starts and tears down.
    Spawn(SpawnKind),
}

/// How many sockets play which part. Socket i is user i: one socket per user.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Shape {
    /// Sockets that only hold their connection (no conversation).
    pub idle: usize,
    /// 1:1 conversations; both sides send.
    pub pairs: usize,
    /// Group conversations.
    pub groups: usize,
    /// Members per group, the owner included.
    pub group_size: usize,
    /// Members of each group that send.
    pub senders: usize,
    /// Sockets (taken from pair partners first, then group members, then idle ones) that
    /// disconnect and reconnect every `churn_every`, catching up with `sync` as a client must.
    pub churn: usize,
}

impl Shape {
    pub fn sockets(&self) -> usize {
        self.idle + 2 * self.pairs + self.groups * self.group_size
    }
}

/// Settings for a stack the harness spawns.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    /// The `natter` binary; None: `target/release/natter`, else `target/debug/natter`.
    pub natter_bin: Option<PathBuf>,
    /// Comet nodes for `--spawn postgres`.
    pub comets: usize,
    /// `--ws-rate` given to the spawned server (requests/s per socket).
    pub ws_rate: u32,
    /// `--heartbeat-secs` for the spawned server (None: its default).
    pub heartbeat_secs: Option<u64>,
    /// `--outbound-queue` for the spawned server (None: its default).
    pub outbound_queue: Option<usize>,
    /// PostgreSQL admin URL (a database is created beside it and dropped after).
    pub pg_admin_url: String,
    pub redis_url: String,
    /// Keep the spawned tiers' logs here (one `<tier>.log` each; default: a temp folder
    /// removed at the end). Their log level is `NATTER_LOG`, default `warn`.
    pub log_dir: Option<PathBuf>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            natter_bin: None,
            comets: 2,
            ws_rate: 10_000,
            heartbeat_secs: None,
            outbound_queue: None,
            pg_admin_url: "postgres://postgres@127.0.0.1:5432/postgres".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
            log_dir: None,
        }
    }
}

/// This process's part of a run split over several harness processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// This shard's part of `n` things (the first shards take the remainder).
    pub fn part(&self, n: usize) -> usize {
        n / self.count + usize::from(self.index < n % self.count)
    }
}

/// One run of the harness.
#[derive(Clone, Debug)]
pub struct Config {
    pub scenario: Scenario,
    pub target: Target,
    pub server: ServerSettings,
    /// Extra server processes to watch (RSS, CPU) when targeting a running deployment.
    pub server_pids: Vec<u32>,
    pub shape: Shape,
    /// Messages per second over all senders (open loop: scheduled, not paced by replies).
    pub rate: f64,
    /// How long the scenario runs once every socket is connected.
    pub duration: Duration,
    /// Stop scheduling sends after this many (None: only the duration bounds the run).
    pub max_messages: Option<u64>,
    /// After the last send: how long to wait for replies and pushes before counting losses.
    pub grace: Duration,
    /// After connecting: pause before the traffic (lets presence pushes settle) and before
    /// reading the memory figures.
    pub settle: Duration,
    /// Bytes of message content (the timestamp header included).
    pub message_size: usize,
    /// Local source addresses 127.0.0.2, .3, ... to spread sockets over (loopback targets only).
    pub source_addrs: u32,
    /// Handshakes (TCP + WebSocket + auth) in flight at once.
    pub connect_concurrency: usize,
    /// REST calls in flight at once while provisioning.
    pub provision_concurrency: usize,
    /// Period of each churning socket's disconnect/reconnect.
    pub churn_every: Duration,
    /// Application-level `ping` every so often per socket (None: rely on WebSocket pongs).
    pub app_ping: Option<Duration>,
    pub shard: Shard,
    /// Draw progress bars on stderr.
    pub progress: bool,
    /// Pass even with connect failures, send errors or unexpected disconnects (losses,
    /// duplicates and reordering always fail the run).
    pub tolerate_errors: bool,
}

impl Config {
    /// The defaults of `scenario` against `target`: the shape comes from [`default_shape`].
    pub fn new(scenario: Scenario, target: Target) -> Self {
        Self {
            scenario,
            target,
            server: ServerSettings::default(),
            server_pids: Vec::new(),
            shape: default_shape(scenario, None),
            rate: default_rate(scenario),
            duration: Duration::from_secs(10),
            max_messages: None,
            grace: Duration::from_secs(2),
            settle: Duration::from_secs(1),
            message_size: 64,
            source_addrs: 8,
            connect_concurrency: 100,
            provision_concurrency: 32,
            churn_every: Duration::from_secs(2),
            app_ping: None,
            shard: Shard::WHOLE,
            progress: false,
            tolerate_errors: false,
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let s = &self.shape;
        ensure!(s.sockets() > 0, "nothing to do: the shape has no sockets");
        ensure!(
            s.groups == 0 || s.group_size >= 2,
            "a group needs at least 2 members"
        );
        ensure!(
            s.senders <= s.group_size,
            "--senders ({}) is more than --group-size ({})",
            s.senders,
            s.group_size
        );
        ensure!(s.churn <= s.sockets(), "--churn is more than the sockets");
        ensure!(self.rate >= 0.0 && self.rate.is_finite(), "bad --rate");
        ensure!(
            self.message_size >= 24,
            "--message-size must be at least 24"
        );
        ensure!(
            self.message_size <= 64 * 1024,
            "--message-size is above the server's 64 KiB"
        );
        ensure!(self.source_addrs >= 1, "--source-addrs must be at least 1");
        ensure!(self.shard.index < self.shard.count, "bad --shard");
        if let Target::Urls(urls) = &self.target {
            ensure!(!urls.is_empty(), "no --url given");
        } else if self.shard.count > 1 {
            bail!("--shard splits a run against a running deployment: use --url, not --spawn");
        }
        Ok(())
    }
}

/// The scenario's default shape; `sockets` (if given) is the total, the rest idle.
pub fn default_shape(scenario: Scenario, sockets: Option<usize>) -> Shape {
    match scenario {
        Scenario::Idle => Shape {
            idle: sockets.unwrap_or(1_000),
            ..Shape::default()
        },
        Scenario::Direct => Shape {
            pairs: sockets.map_or(100, |n| n / 2),
            ..Shape::default()
        },
        Scenario::Group => {
            let size = sockets.unwrap_or(100);
            Shape {
                groups: 1,
                group_size: size,
                senders: size.min(10),
                ..Shape::default()
            }
        }
        Scenario::Mixed => {
            let n = sockets.unwrap_or(1_000);
            let group_size = (n / 10).max(3);
            Shape {
                idle: n.saturating_sub(2 * (n / 20) + group_size),
                pairs: n / 20,
                groups: 1,
                group_size,
                senders: group_size.min(5),
                churn: n / 50,
            }
        }
    }
}

pub fn default_rate(scenario: Scenario) -> f64 {
    match scenario {
        Scenario::Idle => 0.0,
        Scenario::Direct => 1_000.0,
        Scenario::Group => 200.0,
        Scenario::Mixed => 500.0,
    }
}

/// Fills `shape.idle` so the total is `sockets` (when given and larger).
pub fn pad_to(shape: &mut Shape, sockets: Option<usize>) -> anyhow::Result<()> {
    if let Some(n) = sockets {
        let busy = shape.sockets() - shape.idle;
        ensure!(
            n >= busy,
            "--sockets {n} is fewer than the {busy} the pairs and groups need"
        );
        shape.idle = n - busy;
    }
    Ok(())
}

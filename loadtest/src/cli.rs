//! The command line: flags only, turned into a [`Config`]. Every option is documented here so
//! `natter-loadtest --help` is the reference; defaults that depend on the scenario are applied
//! in [`Args::into_config`].

use crate::config::{self, Config, Scenario, Shard, SpawnKind, Target};
use anyhow::{Context, bail};
use clap::Parser;
use std::{path::PathBuf, time::Duration};

/// Natter's load-test harness: provisions guest users, opens real WebSocket sessions through
/// the public contract and runs a scenario, measuring send → push latency and checking that
/// every acknowledged message reaches every other member exactly once and in order.
///
/// Exits 0 when the run passed, 1 when messages were lost, duplicated or reordered (or, unless
/// --tolerate-errors, when connects, sends or sockets failed), 2 when it could not run at all.
///
/// One process holds at most its RLIMIT_NOFILE hard limit of sockets (raised to it at start;
/// 20,000 on the reference machine). For more, run several processes against the same --url
/// with --shard 0/4, --shard 1/4, ...: each provisions and drives its own share of the users
/// and conversations, and reports on its own.
#[derive(Parser, Debug)]
#[command(version, about, long_about, verbatim_doc_comment)]
pub struct Args {
    /// What to run: idle (hold sockets), direct (1:1 pairs), group (rooms), mixed (a blend
    /// with reconnect churn).
    #[arg(value_enum)]
    pub scenario: Scenario,

    /// Base URL of a comet node of a running deployment (repeat, or comma-separate, for several
    /// nodes: sockets are spread round-robin). Conflicts with --spawn.
    #[arg(long, value_delimiter = ',', conflicts_with = "spawn")]
    pub url: Vec<String>,
    /// Start the stack instead: `embedded` (one natter process on SQLite) or `postgres`
    /// (a fresh database, a random Redis prefix, repo + logic + --comets comet processes). It is
    /// torn down (and the database dropped) at the end.
    #[arg(long, value_enum)]
    pub spawn: Option<SpawnKind>,
    /// The natter binary for --spawn (default target/release/natter, else target/debug/natter).
    #[arg(long)]
    pub natter_bin: Option<PathBuf>,
    /// Comet nodes to start with --spawn postgres.
    #[arg(long, default_value_t = 2)]
    pub comets: usize,
    /// Requests per second per socket allowed by the spawned server (its --ws-rate).
    #[arg(long, default_value_t = 10_000)]
    pub server_ws_rate: u32,
    /// Heartbeat period of the spawned server, seconds (its --heartbeat-secs; default: its own).
    #[arg(long)]
    pub server_heartbeat_secs: Option<u64>,
    /// Outbound queue per socket of the spawned server (its --outbound-queue; default: its own).
    #[arg(long)]
    pub server_outbound_queue: Option<usize>,
    /// PostgreSQL admin URL for --spawn postgres (a natter_lt_<random> database is created).
    #[arg(
        long,
        env = "NATTER_TEST_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub pg_admin_url: String,
    /// Redis for --spawn postgres (keys under a random prefix, deleted at the end).
    #[arg(
        long,
        env = "NATTER_TEST_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    pub redis_url: String,
    /// Keep the spawned tiers' logs in this folder (<tier>.log; level from NATTER_LOG, default
    /// warn) instead of a temp folder removed at the end.
    #[arg(long)]
    pub server_logs: Option<PathBuf>,
    /// A server process to watch (VmRSS, CPU time) when targeting --url; repeatable.
    #[arg(long)]
    pub server_pid: Vec<u32>,

    /// Total sockets (one guest user each); those not in a pair or group stay idle.
    /// Default: idle 1,000; direct 2 × --pairs; group --groups × --group-size; mixed 1,000.
    #[arg(long)]
    pub sockets: Option<usize>,
    /// 1:1 conversations, both sides sending (default: direct 100, mixed sockets/20).
    #[arg(long)]
    pub pairs: Option<usize>,
    /// Group conversations (default: group and mixed 1).
    #[arg(long)]
    pub groups: Option<usize>,
    /// Members per group, owner included (default: group 100, mixed sockets/10).
    #[arg(long)]
    pub group_size: Option<usize>,
    /// Members of each group that send (default: min(10, size); mixed min(5, size)).
    #[arg(long)]
    pub senders: Option<usize>,
    /// Sockets that disconnect and reconnect (then `sync`) every --churn-every (default: mixed
    /// sockets/50, others 0). Pair partners churn first, then group members, then idle ones.
    #[arg(long)]
    pub churn: Option<usize>,
    /// Seconds between a churning socket's reconnects.
    #[arg(long, default_value_t = 2.0)]
    pub churn_every: f64,

    /// Messages per second over all senders, scheduled on a timer (open loop: replies are not
    /// awaited, requests are pipelined), round-robin over every sender slot (both sides of each
    /// pair, --senders per group), so each slot sends rate/slots per second. Mind the server's
    /// per-socket limit (--ws-rate, 50 by default; --spawn raises it to --server-ws-rate).
    /// Default: direct 1,000; group 200; mixed 500; idle 0.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seconds the scenario runs once every socket is connected.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Stop after this many sends even if --duration has not passed.
    #[arg(long)]
    pub messages: Option<u64>,
    /// Seconds to wait after the last send for replies and pushes before counting losses.
    #[arg(long, default_value_t = 2.0)]
    pub grace: f64,
    /// Seconds to pause after connecting, before the traffic and the memory reading.
    #[arg(long, default_value_t = 1.0)]
    pub settle: f64,
    /// Bytes of message content (a send timestamp header, padded).
    #[arg(long, default_value_t = 64)]
    pub message_size: usize,
    /// Application-level `ping` period per socket, seconds (default: none; sockets answer the
    /// server's WebSocket pings, which is their heartbeat).
    #[arg(long)]
    pub app_ping: Option<f64>,

    /// Local source addresses to spread sockets over: 127.0.0.2, 127.0.0.3, ... (each address
    /// pair has its own ~28k ephemeral ports). Only used for loopback targets.
    #[arg(long, default_value_t = 8)]
    pub source_addrs: u32,
    /// Handshakes (TCP + WebSocket upgrade + auth) in flight at once. Keep it under the
    /// server's listen backlog: past it the kernel drops SYNs and connects take 1 s longer.
    #[arg(long, default_value_t = 100)]
    pub connect_concurrency: usize,
    /// REST calls in flight at once while provisioning users and conversations.
    #[arg(long, default_value_t = 32)]
    pub provision_concurrency: usize,
    /// Run part i of n (0-based): this process takes 1/n of every count and of the rate, and
    /// its own block of source addresses. Only with --url.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<Shard>,

    /// Print the report as JSON on stdout (the table then goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// No progress bars.
    #[arg(long)]
    pub no_progress: bool,
    /// Do not fail the run for connect failures, send errors or unexpected disconnects.
    #[arg(long)]
    pub tolerate_errors: bool,
}

impl Args {
    pub fn into_config(self) -> anyhow::Result<Config> {
        let target = match (self.spawn, self.url.is_empty()) {
            (Some(kind), _) => Target::Spawn(kind),
            (None, false) => Target::Urls(self.url.clone()),
            (None, true) => bail!("say where to connect: --url http://HOST:PORT, or --spawn"),
        };
        let mut c = Config::new(self.scenario, target);
        let mut shape = config::default_shape(self.scenario, self.sockets);
        if let Some(p) = self.pairs {
            shape.pairs = p;
        }
        if let Some(g) = self.groups {
            shape.groups = g;
        }
        if let Some(g) = self.group_size {
            shape.group_size = g;
            shape.senders = shape.senders.min(g);
        }
        if let Some(s) = self.senders {
            shape.senders = s;
        }
        if let Some(n) = self.churn {
            shape.churn = n;
        }
        if self.scenario != Scenario::Idle && self.sockets.is_none() {
            shape.idle = 0;
        }
        config::pad_to(&mut shape, self.sockets)?;
        c.shape = shape;
        c.rate = self.rate.unwrap_or(c.rate);
        c.server.natter_bin = self.natter_bin;
        c.server.comets = self.comets.max(1);
        c.server.ws_rate = self.server_ws_rate;
        c.server.heartbeat_secs = self.server_heartbeat_secs;
        c.server.outbound_queue = self.server_outbound_queue;
        c.server.pg_admin_url = self.pg_admin_url;
        c.server.redis_url = self.redis_url;
        c.server.log_dir = self.server_logs;
        c.server_pids = self.server_pid;
        c.duration = secs(self.duration, "--duration")?;
        c.grace = secs(self.grace, "--grace")?;
        c.max_messages = self.messages;
        c.settle = secs(self.settle, "--settle")?;
        c.churn_every = secs(self.churn_every, "--churn-every")?;
        c.app_ping = self.app_ping.map(|p| secs(p, "--app-ping")).transpose()?;
        c.message_size = self.message_size;
        c.source_addrs = self.source_addrs;
        c.connect_concurrency = self.connect_concurrency.max(1);
        c.provision_concurrency = self.provision_concurrency.max(1);
        c.shard = self.shard.unwrap_or(Shard::WHOLE);
        c.progress = !self.no_progress;
        c.tolerate_errors = self.tolerate_errors;
        c.validate()?;
        Ok(c)
    }
}

fn secs(v: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(v)
        .with_context(|| format!("{flag} must be a number of seconds ≥ 0"))
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    let (i, n) = s.split_once('/').ok_or("expected i/n, e.g. 0/4")?;
    let index: usize = i.trim().parse().map_err(|_| "i must be a number")?;
    let count: usize = n.trim().parse().map_err(|_| "n must be a number")?;
    if count == 0 || index >= count {
        return Err("need 0 <= i < n".into());
    }
    Ok(Shard { index, count })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> anyhow::Result<Config> {
        Args::try_parse_from(line.split_whitespace())?.into_config()
    }

    #[test]
    fn scenario_defaults_and_overrides() {
        let c = args("lt direct --spawn embedded --pairs 7").unwrap();
        assert_eq!((c.shape.pairs, c.shape.sockets()), (7, 14));
        let c = args("lt group --url http://127.0.0.1:1 --group-size 4").unwrap();
        assert_eq!((c.shape.group_size, c.shape.senders), (4, 4));
        let c = args("lt mixed --spawn embedded --sockets 200 --pairs 50 --group-size 20").unwrap();
        assert_eq!((c.shape.sockets(), c.shape.idle), (200, 80));
        let c = args("lt idle --url http://a:1,http://b:2 --sockets 5").unwrap();
        assert!(matches!(c.target, Target::Urls(ref u) if u.len() == 2));
        assert!(args("lt idle").is_err());
        assert!(args("lt direct --spawn embedded --pairs 5 --sockets 4").is_err());
    }

    #[test]
    fn shards_parse() {
        assert_eq!(parse_shard("1/4"), Ok(Shard { index: 1, count: 4 }));
        assert!(parse_shard("4/4").is_err());
        let s = Shard { index: 0, count: 3 };
        assert_eq!((s.part(10), Shard { index: 2, count: 3 }.part(10)), (4, 3));
    }
}

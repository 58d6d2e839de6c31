//! The result of a run: a serializable [`Report`] (printed as JSON with `--json`, for CI and
//! for BENCHMARKS.md tables) and a human table. The verdict is in the report itself
//! (`passed`, `failures`), so the binary's exit code and the smoke test judge the same way.

use crate::{
    config::{Config, Scenario, Shape, Shard},
    metrics::Metrics,
    scenario::Plan,
    spawn::Deployment,
    sysinfo::{self, BoxCpu, TcpStat},
    tracker::Delivery,
};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;

mod table;

/// Memory and CPU of the watched processes (and this one), and the kernel's TCP memory, at one
/// moment.
pub struct Sample {
    procs: Vec<(String, u32, Option<u64>, Option<f64>)>,
    tcp: Option<TcpStat>,
    cpu: Option<BoxCpu>,
}

impl Sample {
    pub fn take(pids: &[(String, u32)]) -> Self {
        let me = ("loadtest".to_owned(), std::process::id());
        let procs = (pids.iter().chain(std::iter::once(&me)))
            .map(|(name, pid)| {
                let (rss, cpu) = (sysinfo::rss_kib(*pid), sysinfo::cpu_secs(*pid));
                (name.clone(), *pid, rss, cpu)
            })
            .collect();
        Self {
            procs,
            tcp: sysinfo::tcp_stat(),
            cpu: sysinfo::box_cpu(),
        }
    }
}

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.5)),
            p90_ms: ms(h.value_at_quantile(0.9)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// The whole machine's CPU over the run (from the traffic's start to the end of the grace
/// period), in cores: what the watched processes used, and what the rest of the box did.
#[derive(Debug, Clone, Serialize)]
pub struct BoxReport {
    pub cores: u32,
    /// Busy share (user and kernel) of all cores' time, %.
    pub busy_pct: f64,
    pub user_cores: f64,
    pub system_cores: f64,
    pub steal_cores: f64,
    /// The servers and this harness together.
    pub watched_cores: f64,
    /// Everything else that ran: PostgreSQL and Redis (not watched), the kernel's softirq work
    /// not charged to a process, other programs.
    pub rest_cores: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProcReport {
    pub name: String,
    pub pid: u32,
    pub rss_before_kib: Option<u64>,
    pub rss_connected_kib: Option<u64>,
    pub rss_end_kib: Option<u64>,
    /// (connected − before) / sockets connected.
    pub rss_per_socket_bytes: Option<f64>,
    /// CPU seconds from the start of the traffic to the end of the grace period.
    pub cpu_run_s: Option<f64>,
    /// `cpu_run_s` as a share of one core over that time.
    pub cpu_run_pct_of_core: Option<f64>,
    /// CPU seconds from before connecting to the end.
    pub cpu_total_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: Scenario,
    pub deployment: &'static str,
    pub urls: Vec<String>,
    pub shard: Shard,
    pub shape: Shape,
    pub sockets: usize,
    pub rate_target: f64,
    /// `rate_target` over the sender slots: what one socket sends per second (the server's
    /// per-socket limit, --ws-rate, is 50 by default).
    pub rate_per_sender: f64,
    pub duration_s: f64,
    pub interrupted: bool,
    pub connected: usize,
    pub connect_failures: u64,
    pub connect_s: f64,
    pub connects_per_s: f64,
    pub connect_latency: Percentiles,
    pub sent: u64,
    pub acked: u64,
    pub acked_per_s: f64,
    pub pushes: u64,
    pub pushes_per_s: f64,
    pub other_pushes: u64,
    pub send_errors: u64,
    pub rate_limited: u64,
    pub skipped: u64,
    pub abandoned: u64,
    pub unacked: u64,
    /// send (scheduled) → push on the recipient.
    pub latency: Percentiles,
    /// send (scheduled) → reply on the sender.
    pub ack_latency: Percentiles,
    pub delivery: Delivery,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub echoes: u64,
    pub resyncs: u64,
    pub recovered_by_sync: u64,
    pub churn_reconnects: u64,
    pub disconnects: u64,
    pub reconnect_failures: u64,
    pub servers: Vec<ProcReport>,
    pub harness: Option<ProcReport>,
    pub tcp_mem_before_kib: Option<u64>,
    pub tcp_mem_connected_kib: Option<u64>,
    /// Kernel TCP buffer memory per connection (both ends when the server is local).
    pub tcp_mem_per_socket_bytes: Option<f64>,
    /// Kernel socket objects (slab: tcp_sock, inode, file, epoll) per connection, both ends
    /// when the server is local.
    pub kernel_slab_per_socket_bytes: Option<f64>,
    pub box_cpu: Option<BoxReport>,
    /// The machine's speed, measured before the run (see `yardstick`).
    pub yardstick: Option<crate::yardstick::Yardstick>,
    /// Kind → (count, first example).
    pub errors: BTreeMap<String, (u64, String)>,
    pub passed: bool,
    pub failures: Vec<String>,
}

/// What [`build`] needs.
pub struct Inputs<'a> {
    pub config: &'a Config,
    pub plan: &'a Plan,
    pub deployment: &'a Deployment,
    pub metrics: &'a Metrics,
    pub delivery: Delivery,
    pub connected: usize,
    pub connect_secs: f64,
    pub run_secs: f64,
    /// From the traffic's start to the end of the grace period.
    pub measured_secs: f64,
    pub unacked: u64,
    /// Before connecting, once connected (and settled), at the end of the grace period.
    pub samples: [Sample; 3],
    pub interrupted: bool,
}

pub fn build(i: Inputs<'_>) -> Report {
    let m = i.metrics;
    let per_s = |n: u64| n as f64 / i.run_secs.max(1e-9);
    let [before, connected, end] = &i.samples;
    let mut procs: Vec<ProcReport> = (before.procs.iter().enumerate())
        .map(|(k, (name, pid, rss0, cpu0))| {
            let (_, _, rss1, _) = connected.procs[k];
            let (_, _, rss2, cpu2) = end.procs[k];
            let (_, _, _, cpu1) = connected.procs[k];
            let cpu_run = cpu2.zip(cpu1).map(|(b, a)| b - a);
            ProcReport {
                name: name.clone(),
                pid: *pid,
                rss_before_kib: *rss0,
                rss_connected_kib: rss1,
                rss_end_kib: rss2,
                rss_per_socket_bytes: rss1.zip(*rss0).and_then(|(b, a)| {
                    (i.connected > 0).then(|| (b as f64 - a as f64) * 1024.0 / i.connected as f64)
                }),
                cpu_run_s: cpu_run,
                cpu_run_pct_of_core: cpu_run.map(|c| 100.0 * c / i.measured_secs.max(1e-9)),
                cpu_total_s: cpu2.zip(*cpu0).map(|(b, a)| b - a),
            }
        })
        .collect();
    let box_cpu = box_report(connected.cpu, end.cpu, &procs, i.measured_secs);
    let harness = procs.pop();
    let tcp_per_socket = connected.tcp.zip(before.tcp).and_then(|(b, a)| {
        (i.connected > 0)
            .then(|| (b.mem_kib as f64 - a.mem_kib as f64) * 1024.0 / i.connected as f64)
    });
    let slab_per_socket = connected.tcp.zip(before.tcp).and_then(|(b, a)| {
        let (b, a) = (b.slab_kib?, a.slab_kib?);
        (i.connected > 0).then(|| (b as f64 - a as f64) * 1024.0 / i.connected as f64)
    });
    let mut r = Report {
        scenario: i.config.scenario,
        deployment: i.deployment.kind,
        urls: i.deployment.urls.clone(),
        shard: i.config.shard,
        shape: i.plan.shape.clone(),
        sockets: i.plan.sockets,
        rate_target: i.plan.rate,
        rate_per_sender: i.plan.rate / i.plan.senders.len().max(1) as f64,
        duration_s: i.run_secs,
        interrupted: i.interrupted,
        connected: i.connected,
        connect_failures: m.connect_failures.get(),
        connect_s: i.connect_secs,
        connects_per_s: i.connected as f64 / i.connect_secs.max(1e-9),
        connect_latency: Percentiles::of(&m.connect_latency.snapshot()),
        sent: m.sent.get(),
        acked: m.acked.get(),
        acked_per_s: per_s(m.acked.get()),
        pushes: m.pushes.get(),
        pushes_per_s: per_s(m.pushes.get()),
        other_pushes: m.other_pushes.get(),
        send_errors: m.send_errors.get(),
        rate_limited: m.rate_limited.get(),
        skipped: m.skipped.get(),
        abandoned: m.abandoned.get(),
        unacked: i.unacked,
        latency: Percentiles::of(&m.latency.snapshot()),
        ack_latency: Percentiles::of(&m.ack_latency.snapshot()),
        delivery: i.delivery,
        duplicated: m.duplicates.get(),
        out_of_order: m.out_of_order.get(),
        echoes: m.echoes.get(),
        resyncs: m.resyncs.get(),
        recovered_by_sync: m.recovered.get(),
        churn_reconnects: m.churns.get(),
        disconnects: m.disconnects.get(),
        reconnect_failures: m.reconnect_failures.get(),
        servers: procs,
        harness,
        tcp_mem_before_kib: before.tcp.map(|t| t.mem_kib),
        tcp_mem_connected_kib: connected.tcp.map(|t| t.mem_kib),
        tcp_mem_per_socket_bytes: tcp_per_socket,
        kernel_slab_per_socket_bytes: slab_per_socket,
        box_cpu,
        yardstick: None,
        errors: m.errors(),
        passed: false,
        failures: Vec::new(),
    };
    r.failures = verdict(&r, i.config.tolerate_errors);
    r.passed = r.failures.is_empty();
    r
}

/// The box's CPU between two samples, next to what the watched processes used of it.
fn box_report(
    start: Option<BoxCpu>,
    end: Option<BoxCpu>,
    procs: &[ProcReport],
    secs: f64,
) -> Option<BoxReport> {
    let (a, b) = (start?, end?);
    let (user, system, steal) = (b.user - a.user, b.system - a.system, b.steal - a.steal);
    let busy = user + system;
    let wall_times_cores = busy + steal + (b.idle - a.idle);
    let watched: f64 = procs.iter().filter_map(|p| p.cpu_run_s).sum();
    let secs = secs.max(1e-9);
    Some(BoxReport {
        cores: b.cores,
        busy_pct: 100.0 * busy / wall_times_cores.max(1e-9),
        user_cores: user / secs,
        system_cores: system / secs,
        steal_cores: steal / secs,
        watched_cores: watched / secs,
        rest_cores: ((busy - watched) / secs).max(0.0),
    })
}

/// Why the run failed (empty: it passed).
fn verdict(r: &Report, tolerate_errors: bool) -> Vec<String> {
    let mut f = Vec::new();
    if r.interrupted {
        f.push("interrupted before the end".into());
    }
    let mut check = |n: u64, what: &str| {
        if n > 0 {
            f.push(format!("{n} {what}"));
        }
    };
    check(r.delivery.lost, "messages lost");
    check(r.duplicated, "duplicated pushes");
    check(r.out_of_order, "pushes out of order");
    check(r.echoes, "pushes echoed to the sending socket");
    check(r.delivery.seq_conflicts, "seqs given to two messages");
    if !tolerate_errors {
        check(r.connect_failures, "sockets failed to connect");
        check(r.send_errors, "sends failed");
        check(r.rate_limited, "sends refused by the rate limit");
        check(r.unacked, "sends never answered");
        check(r.disconnects, "unexpected disconnects");
    }
    if r.rate_target > 0.0 && r.delivery.expected > 0 && r.pushes == 0 {
        f.push("no message was pushed at all".into());
    }
    f
}

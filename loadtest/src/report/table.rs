//! The human-readable table of a [`Report`].

use super::{Percentiles, ProcReport, Report};
use std::fmt::Write;

impl Report {
    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let mut row = |k: &str, v: String| {
            let _ = writeln!(t, "  {k:<30} {v}");
        };
        let s = &self.shape;
        row(
            "scenario",
            format!(
                "{:?} on {} {}",
                self.scenario,
                self.deployment,
                self.urls.join(",")
            ),
        );
        row(
            "shape",
            format!(
                "{} sockets: {} idle, {} pairs, {} groups × {} ({} senders each), {} churning",
                self.sockets, s.idle, s.pairs, s.groups, s.group_size, s.senders, s.churn
            ),
        );
        row(
            "connected",
            format!(
                "{} ({} failed) in {:.2} s = {:.0}/s",
                self.connected, self.connect_failures, self.connect_s, self.connects_per_s
            ),
        );
        row("connect latency", pct(&self.connect_latency));
        row(
            "rate target",
            format!(
                "{:.0} msg/s ({:.1} per sender) for {:.1} s",
                self.rate_target, self.rate_per_sender, self.duration_s
            ),
        );
        row(
            "sends acked",
            format!(
                "{} of {} = {:.0}/s",
                self.acked, self.sent, self.acked_per_s
            ),
        );
        row(
            "pushes delivered",
            format!(
                "{} = {:.0}/s (+{} other pushes)",
                self.pushes, self.pushes_per_s, self.other_pushes
            ),
        );
        row("send → push latency", pct(&self.latency));
        row("send → reply latency", pct(&self.ack_latency));
        let d = &self.delivery;
        row("expected deliveries", d.expected.to_string());
        row(
            "lost / dup / out of order",
            format!("{} / {} / {}", d.lost, self.duplicated, self.out_of_order),
        );
        row(
            "echoes / seq conflicts",
            format!("{} / {}", self.echoes, d.seq_conflicts),
        );
        row(
            "resyncs / recovered by sync",
            format!("{} / {}", self.resyncs, self.recovered_by_sync),
        );
        row(
            "send errors / rate limited",
            format!("{} / {}", self.send_errors, self.rate_limited),
        );
        row(
            "unacked / skipped / abandoned",
            format!("{} / {} / {}", self.unacked, self.skipped, self.abandoned),
        );
        row(
            "churn reconnects",
            format!(
                "{} (unexpected disconnects {}, failed reconnects {})",
                self.churn_reconnects, self.disconnects, self.reconnect_failures
            ),
        );
        for p in self.servers.iter().chain(&self.harness) {
            row(&format!("{} (pid {})", p.name, p.pid), proc_line(p));
        }
        if let Some(b) = &self.box_cpu {
            row(
                &format!("box CPU ({} cores)", b.cores),
                format!(
                    "{:.0}% busy in run: user {:.2}, kernel {:.2}, steal {:.2} cores; \
                     processes above {:.2}, the rest (unwatched processes, kernel) {:.2} cores",
                    b.busy_pct,
                    b.user_cores,
                    b.system_cores,
                    b.steal_cores,
                    b.watched_cores,
                    b.rest_cores
                ),
            );
        }
        if let Some(y) = &self.yardstick {
            row(
                "machine yardstick",
                format!(
                    "{:.1} ms for the reference work on one core; round trips between two \
                     threads {:.1} µs, over loopback TCP {:.1} µs (before the run; lower is \
                     faster)",
                    y.cpu_ms, y.wake_round_trip_us, y.tcp_round_trip_us
                ),
            );
        }
        if let (Some(a), Some(b)) = (self.tcp_mem_before_kib, self.tcp_mem_connected_kib) {
            let per = self
                .tcp_mem_per_socket_bytes
                .map_or("-".into(), |v| format!("{v:.0}"));
            row(
                "kernel TCP buffers",
                format!("{a} KiB → {b} KiB ({per} B per connection, both ends)"),
            );
        }
        if let Some(v) = self.kernel_slab_per_socket_bytes {
            row(
                "kernel socket objects",
                format!("{v:.0} B per connection, both ends (slab)"),
            );
        }
        for (kind, (n, example)) in &self.errors {
            row(
                &format!("error: {kind}"),
                format!("{n}× e.g. {}", clip(example, 160)),
            );
        }
        for ex in &d.lost_examples {
            row("lost", ex.clone());
        }
        let verdict = if self.passed {
            "PASS".to_owned()
        } else {
            format!("FAIL: {}", self.failures.join("; "))
        };
        row("verdict", verdict);
        t
    }
}

fn pct(p: &Percentiles) -> String {
    if p.count == 0 {
        return "-".into();
    }
    format!(
        "p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2} ms (n={})",
        p.p50_ms, p.p90_ms, p.p99_ms, p.p999_ms, p.max_ms, p.count
    )
}

fn proc_line(p: &ProcReport) -> String {
    let kib = |v: Option<u64>| v.map_or("-".into(), |v| format!("{:.1}", v as f64 / 1024.0));
    let per = p
        .rss_per_socket_bytes
        .map_or("-".into(), |v| format!("{v:.0}"));
    let cpu = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
    let pct = p
        .cpu_run_pct_of_core
        .map_or("-".into(), |v| format!("{v:.0}"));
    format!(
        "RSS {} → {} → {} MiB ({per} B/socket); CPU {} s in run ({pct}% of a core), {} s total",
        kib(p.rss_before_kib),
        kib(p.rss_connected_kib),
        kib(p.rss_end_kib),
        cpu(p.cpu_run_s),
        cpu(p.cpu_total_s),
    )
}

fn clip(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

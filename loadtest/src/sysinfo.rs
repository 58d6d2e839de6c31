//! What the kernel says about processes and sockets, read from /proc (Linux): a process's
//! resident memory (VmRSS) and CPU time (utime + stime), the TCP stack's own buffer memory
//! (/proc/net/sockstat: "TCP: ... mem N", in pages) which is not in any process's RSS, and
//! this process's open-file limit, which caps the sockets one harness process can hold; and the
//! whole machine's CPU time by kind (/proc/stat), so a run shows what else took the box's CPU
//! (PostgreSQL, Redis, the kernel's own network work, a neighbour VM's steal).

use anyhow::{Context, bail};
use std::sync::OnceLock;

/// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the limit now in force.
pub fn raise_nofile_limit() -> anyhow::Result<u64> {
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).context("getrlimit")?;
    rlimit::increase_nofile_limit(hard).context("raising RLIMIT_NOFILE")
}

/// Fails when `sockets` (plus some room for everything else) do not fit under `limit`.
pub fn check_room(sockets: usize, limit: u64) -> anyhow::Result<()> {
    let needed = sockets as u64 + 256;
    if needed > limit {
        bail!(
            "{sockets} sockets need about {needed} open files but this process may have {limit} \
             (RLIMIT_NOFILE hard limit): split the run over several harness processes with \
             --shard 0/N ... --shard N-1/N against --url"
        );
    }
    Ok(())
}

/// Resident set size of `pid` in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU seconds (user + system) `pid` has used.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clock_ticks() as f64)
}

/// USER_HZ (`getconf CLK_TCK`; 100 on Linux almost everywhere).
fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// The machine's CPU time so far, in seconds summed over every core (the `cpu` line of
/// /proc/stat), and how many cores there are.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BoxCpu {
    pub cores: u32,
    pub user: f64,
    /// Kernel time: system, irq and softirq (loopback TCP is mostly softirq).
    pub system: f64,
    /// Idle, waiting for I/O included.
    pub idle: f64,
    /// Time the hypervisor ran something else while this VM wanted the CPU.
    pub steal: f64,
}

pub fn box_cpu() -> Option<BoxCpu> {
    parse_stat(&std::fs::read_to_string("/proc/stat").ok()?)
}

fn parse_stat(text: &str) -> Option<BoxCpu> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    // user nice system idle iowait irq softirq steal guest guest_nice, in clock ticks
    let f: Vec<u64> = (line.split_whitespace().skip(1))
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    let secs = |fields: &[usize]| {
        let ticks: u64 = fields.iter().map(|&i| f.get(i).copied().unwrap_or(0)).sum();
        ticks as f64 / clock_ticks() as f64
    };
    let cores = text
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count();
    Some(BoxCpu {
        cores: cores as u32,
        user: secs(&[0, 1]),
        system: secs(&[2, 5, 6]),
        idle: secs(&[3, 4]),
        steal: secs(&[7]),
    })
}

/// The TCP line of /proc/net/sockstat (this network namespace: client and server ends alike).
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct TcpStat {
    pub inuse: u64,
    /// Socket buffer memory, KiB (pages × 4 KiB).
    pub mem_kib: u64,
    /// Kernel objects of every socket (struct tcp_sock, inode, file, epoll entry) from
    /// /proc/slabinfo, KiB; None where it is not readable (it needs root).
    pub slab_kib: Option<u64>,
}

pub fn tcp_stat() -> Option<TcpStat> {
    let text = std::fs::read_to_string("/proc/net/sockstat").ok()?;
    let mut stat = parse_sockstat(&text)?;
    stat.slab_kib = std::fs::read_to_string("/proc/slabinfo")
        .ok()
        .map(|t| socket_slab_bytes(&t) / 1024);
    Some(stat)
}

/// Bytes of the slab caches every TCP socket has one object in (active objects × size).
fn socket_slab_bytes(slabinfo: &str) -> u64 {
    const CACHES: [&str; 5] = ["TCP", "TCPv6", "sock_inode_cache", "filp", "eventpoll_epi"];
    (slabinfo.lines())
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if !CACHES.contains(f.first()?) {
                return None;
            }
            Some(f.get(1)?.parse::<u64>().ok()? * f.get(3)?.parse::<u64>().ok()?)
        })
        .sum()
}

fn parse_sockstat(text: &str) -> Option<TcpStat> {
    let line = text.lines().find(|l| l.starts_with("TCP:"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let value = |key: &str| -> Option<u64> {
        let i = words.iter().position(|w| *w == key)?;
        words.get(i + 1)?.parse().ok()
    };
    Some(TcpStat {
        inuse: value("inuse")?,
        mem_kib: value("mem")? * 4,
        slab_kib: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockstat_and_self_figures_parse() {
        let text =
            "sockets: used 290\nTCP: inuse 7 orphan 0 tw 2 alloc 9 mem 3\nUDP: inuse 1 mem 0\n";
        let s = parse_sockstat(text).unwrap();
        assert_eq!((s.inuse, s.mem_kib), (7, 12));
        let slab = "TCP  125  169  2368  13  8 : tunables 0 0 0\nfilp 10 20 192 21 1\ndentry 5 5 192 1 1\n";
        assert_eq!(socket_slab_bytes(slab), 125 * 2368 + 10 * 192);
        let me = std::process::id();
        assert!(rss_kib(me).unwrap() > 0);
        assert!(cpu_secs(me).is_some());
        assert!(check_room(10, 20_000).is_ok() && check_room(20_000, 20_000).is_err());
    }

    #[test]
    fn proc_stat_cpu_line_parses_into_seconds_by_kind() {
        let text = "cpu  100 0 40 800 10 0 20 5 0 0\n\
                    cpu0 50 0 20 400 5 0 10 2 0 0\n\
                    cpu1 50 0 20 400 5 0 10 3 0 0\n\
                    intr 1\n";
        let hz = clock_ticks() as f64;
        let cpu = parse_stat(text).unwrap();
        assert_eq!(cpu.cores, 2);
        assert_eq!(
            (cpu.user, cpu.system, cpu.idle, cpu.steal),
            (100.0 / hz, 60.0 / hz, 810.0 / hz, 5.0 / hz)
        );
        assert!(box_cpu().is_some_and(|c| c.cores >= 1));
    }
}

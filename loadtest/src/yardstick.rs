//! A yardstick for the machine, taken before each run, so that figures from different days
//! can be compared. The benchmark box is a VM whose speed has varied about twofold from one
//! session to the next (BENCHMARKS.md), and two things set what a run can reach: how fast
//! one core computes, and how long it takes to wake a parked thread (every hand-off between
//! tasks, threads and processes pays one; on a microVM that idles its vCPUs in the host, it
//! is tens of microseconds). Both are measured here, on a quiet box before anything starts.

use serde::Serialize;
use std::hint::black_box;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What one measurement found; lower is faster for both.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Yardstick {
    /// Milliseconds for a fixed piece of integer work on one core (best of several tries).
    pub cpu_ms: f64,
    /// Microseconds for a round trip between two threads that park in between: two wake-ups
    /// (median of many).
    pub wake_round_trip_us: f64,
}

/// Takes both measurements; blocks for about a quarter of a second.
pub fn measure() -> Yardstick {
    Yardstick {
        cpu_ms: cpu_ms(),
        wake_round_trip_us: wake_round_trip_us(),
    }
}

/// Best of three runs of twenty million xorshift steps (no memory traffic, no syscalls).
fn cpu_ms() -> f64 {
    (0..3)
        .map(|_| {
            let start = Instant::now();
            let mut x: u64 = black_box(0x9E37_79B9_7F4A_7C15);
            let mut sum: u64 = 0;
            for _ in 0..20_000_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                sum = sum.wrapping_add(x);
            }
            black_box(sum);
            start.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
}

/// Median of 2,000 ping-pongs between this thread and another over rendezvous channels:
/// each side blocks (parks) until the other hands it the token.
fn wake_round_trip_us() -> f64 {
    const TRIPS: usize = 2_000;
    let (ping_tx, ping_rx) = mpsc::sync_channel::<()>(0);
    let (pong_tx, pong_rx) = mpsc::sync_channel::<()>(0);
    let echo = std::thread::spawn(move || {
        while ping_rx.recv().is_ok() {
            if pong_tx.send(()).is_err() {
                break;
            }
        }
    });
    let mut trips: Vec<Duration> = Vec::with_capacity(TRIPS);
    for _ in 0..TRIPS {
        let start = Instant::now();
        if ping_tx.send(()).is_err() || pong_rx.recv().is_err() {
            break;
        }
        trips.push(start.elapsed());
    }
    drop(ping_tx);
    let _ = echo.join();
    trips.sort_unstable();
    trips
        .get(trips.len() / 2)
        .map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_measurements_are_positive_and_finite() {
        let y = measure();
        assert!(y.cpu_ms.is_finite() && y.cpu_ms > 0.0, "{y:?}");
        assert!(
            y.wake_round_trip_us.is_finite() && y.wake_round_trip_us > 0.0,
            "{y:?}"
        );
    }
}

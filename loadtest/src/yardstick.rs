//! A yardstick for the machine, taken before each run, so that figures from different days
//! can be compared. The benchmark box is a VM whose speed has varied about twofold from one
//! session to the next (BENCHMARKS.md), and three things set what a run can reach: how fast
//! one core computes, how long it takes to wake a parked thread (every hand-off between
//! tasks, threads and processes pays one; on a microVM that idles its vCPUs in the host, it
//! is tens of microseconds), and what the kernel's loopback TCP costs (much of a push's CPU,
//! on both ends). All three are measured here, on a quiet box before anything starts.

use serde::Serialize;
use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What one measurement found; lower is faster for each.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Yardstick {
    /// Milliseconds for a fixed piece of integer work on one core (best of several tries).
    pub cpu_ms: f64,
    /// Microseconds for a round trip between two threads that park in between: two wake-ups
    /// (median of many).
    pub wake_round_trip_us: f64,
    /// Microseconds for a one-byte round trip over a loopback TCP connection between two
    /// threads (median of many): the kernel's TCP path twice, and two wake-ups.
    pub tcp_round_trip_us: f64,
}

/// Takes the three measurements; blocks for about a quarter of a second.
pub fn measure() -> Yardstick {
    Yardstick {
        cpu_ms: cpu_ms(),
        wake_round_trip_us: wake_round_trip_us().unwrap_or(f64::NAN),
        tcp_round_trip_us: tcp_round_trip_us().unwrap_or(f64::NAN),
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

/// Round trips timed by [`median_us`].
const TRIPS: usize = 2_000;

/// Median of [`TRIPS`] ping-pongs between this thread and another over rendezvous channels:
/// each side blocks (parks) until the other hands it the token.
fn wake_round_trip_us() -> Option<f64> {
    let (ping_tx, ping_rx) = mpsc::sync_channel::<()>(0);
    let (pong_tx, pong_rx) = mpsc::sync_channel::<()>(0);
    let echo = std::thread::spawn(move || {
        while ping_rx.recv().is_ok() {
            if pong_tx.send(()).is_err() {
                break;
            }
        }
    });
    let median = median_us(|| ping_tx.send(()).is_ok() && pong_rx.recv().is_ok());
    drop(ping_tx);
    let _ = echo.join();
    median
}

/// Median of [`TRIPS`] one-byte ping-pongs over a loopback TCP connection (Nagle off)
/// between this thread and an echoing one. `None` if loopback TCP is unavailable.
fn tcp_round_trip_us() -> Option<f64> {
    let listener = TcpListener::bind("127.0.0.1:0").ok()?;
    let addr = listener.local_addr().ok()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut peer, _) = listener.accept()?;
        peer.set_nodelay(true)?;
        let mut byte = [0u8; 1];
        while peer.read(&mut byte)? == 1 {
            peer.write_all(&byte)?;
        }
        Ok(())
    });
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_nodelay(true).ok()?;
    let mut byte = [7u8; 1];
    let median =
        median_us(|| stream.write_all(&byte).is_ok() && stream.read_exact(&mut byte).is_ok());
    drop(stream);
    let _ = echo.join();
    median
}

/// Times up to [`TRIPS`] calls of `trip` (stopping at the first that fails) and returns the
/// median in microseconds; `None` if none succeeded.
fn median_us(mut trip: impl FnMut() -> bool) -> Option<f64> {
    let mut trips: Vec<Duration> = Vec::with_capacity(TRIPS);
    for _ in 0..TRIPS {
        let start = Instant::now();
        if !trip() {
            break;
        }
        trips.push(start.elapsed());
    }
    trips.sort_unstable();
    trips.get(trips.len() / 2).map(|d| d.as_secs_f64() * 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_measurement_is_positive_and_finite() {
        let y = measure();
        assert!(y.cpu_ms.is_finite() && y.cpu_ms > 0.0, "{y:?}");
        assert!(
            y.wake_round_trip_us.is_finite() && y.wake_round_trip_us > 0.0,
            "{y:?}"
        );
        assert!(
            y.tcp_round_trip_us.is_finite() && y.tcp_round_trip_us > 0.0,
            "{y:?}"
        );
    }
}

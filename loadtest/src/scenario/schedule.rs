//! The open-loop send schedule: message k is due at `k / rate` seconds after the start and goes
//! to sender slot `k mod slots`, whatever happened to the ones before. Nothing waits for a
//! reply, so a slow server shows up as latency and backlog, not as a politely lower rate.
//! Latency is measured from the scheduled time (not from when the socket got round to writing),
//! so a stalled harness or server cannot hide its stall (no coordinated omission).

use crate::{
    metrics::{Metrics, now_us},
    session::Cmd,
};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// A sender slot: the socket's command queue and its conversation (local index).
pub struct Slot {
    pub tx: UnboundedSender<Cmd>,
    pub conv: usize,
}

/// Issues sends at `rate` per second over `slots` for `duration`, or until `max` sends, or
/// until `stop`.
pub async fn run(
    slots: &[Slot],
    rate: f64,
    duration: Duration,
    max: Option<u64>,
    metrics: &Metrics,
    stop: &CancellationToken,
) {
    let start = tokio::time::Instant::now();
    let start_us = now_us();
    if slots.is_empty() || rate <= 0.0 {
        tokio::select! {
            () = tokio::time::sleep(duration) => {}
            () = stop.cancelled() => {}
        }
        return;
    }
    let total = (duration.as_secs_f64() * rate).round() as u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut k: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        let elapsed = start.elapsed().min(duration);
        // Send k is due at k / rate: it goes out on the first tick at or after that moment
        // (counting only the ones whose time has passed would send each a whole period late,
        // and that period would show up as the server's latency).
        let due = ((elapsed.as_secs_f64() * rate) as u64 + 1)
            .min(total)
            .min(max.unwrap_or(u64::MAX));
        while k < due {
            let slot = &slots[(k % slots.len() as u64) as usize];
            let sched_us = start_us + (k as f64 * 1e6 / rate) as u64;
            let cmd = Cmd {
                conv: slot.conv,
                sched_us,
            };
            if slot.tx.send(cmd).is_err() {
                metrics.skipped.inc();
            }
            k += 1;
        }
        if elapsed >= duration || k >= total || max.is_some_and(|m| k >= m) {
            return;
        }
    }
}

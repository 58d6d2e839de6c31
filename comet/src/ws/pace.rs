//! When a busy socket's writer should hold its next write for a moment.
//!
//! A push costs the node one `send(2)` when it is written alone: in a busy room that call, not
//! the fan-out, is most of the node's CPU (3.3 µs per push, 37 % of samples at 50,000 pushes/s
//! to a room of 1,000). Frames that wait are written together (`session::write`), so a socket
//! that is being sent frames faster than one per [`HOT_GAP`] lets them gather for up to
//! [`WINDOW`] after its previous write: a few frames per call instead of one. A socket that
//! gets a frame now and then (nearly all of them: a 1:1 chat, an idle member) is never held,
//! so this adds latency only where it buys throughput, and at most [`WINDOW`].
//!
//! The rate is an exponentially weighted mean of the gap per frame between writes, kept in two
//! words: this lives in every socket's task, and a node holds tens of thousands of them.

use std::time::Duration;

/// Frames closer together than this (on average) make a socket busy: above 50 frames/s, more
/// than anyone reads. (At 250 frames/s, the threshold before, a room of 1,000 at 150
/// messages/s was written frame by frame: 6.7 µs of node CPU per push against 5.6 µs now.)
const HOT_GAP: u32 = 20_000;
/// How long a busy socket's frames may gather after its previous write: one frame of a 60 Hz
/// display, so a person reading a room this busy sees no difference, while the node and the
/// client make a few times fewer calls (measured at 300,000 pushes/s to a room of 1,000: p99
/// 104–114 ms with 8 ms, 63–100 ms with 16 ms).
pub const WINDOW: Duration = Duration::from_millis(16);
const WINDOW_US: u32 = WINDOW.as_micros() as u32;

/// Times are microseconds since the socket opened (wrapping: only differences are used).
pub struct Pace {
    /// When the previous write ended.
    last: u32,
    /// Mean gap per frame, in µs.
    gap: u32,
}

impl Pace {
    pub const fn new() -> Self {
        Self {
            last: 0,
            gap: u32::MAX,
        }
    }

    /// How long to hold the write about to happen at `now`, if at all.
    pub fn hold(&self, now: u32) -> Option<Duration> {
        if self.gap >= HOT_GAP {
            return None;
        }
        let since = now.wrapping_sub(self.last);
        (since < WINDOW_US).then(|| Duration::from_micros(u64::from(WINDOW_US - since)))
    }

    /// Records a write of `frames` frames that ended at `now`.
    pub fn wrote(&mut self, now: u32, frames: usize) {
        let per_frame = now.wrapping_sub(self.last) / (frames.max(1) as u32);
        // A new mean weighs the latest sample a quarter: a burst of a few frames does not make
        // a socket busy, and a room going quiet stops holding within a few writes.
        self.gap = if self.gap == u32::MAX {
            per_frame
        } else {
            ((u64::from(self.gap) * 3 + u64::from(per_frame)) / 4) as u32
        };
        self.last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_written_now_and_then_is_never_held() {
        let mut p = Pace::new();
        for i in 1..50u32 {
            assert_eq!(p.hold(i * 40_000), None, "write {i}");
            p.wrote(i * 40_000, 1);
        }
    }

    #[test]
    fn a_busy_socket_waits_out_the_window_after_its_last_write() {
        let mut p = Pace::new();
        // A frame every 2 ms, written alone at first.
        for i in 1..20u32 {
            p.wrote(i * 2_000, 1);
        }
        let last = 19 * 2_000;
        assert_eq!(
            p.hold(last + 1_000),
            Some(WINDOW - Duration::from_millis(1))
        );
        assert_eq!(p.hold(last + WINDOW_US), None, "the window is over");
        // Held writes carry several frames each, and the socket stays busy.
        let mut t = last;
        for _ in 0..20 {
            t += WINDOW_US;
            p.wrote(t, 4);
        }
        assert!(p.hold(t + 100).is_some());
    }

    #[test]
    fn a_room_going_quiet_stops_holding_within_a_few_writes() {
        let mut p = Pace::new();
        for i in 1..20u32 {
            p.wrote(i * 1_000, 1);
        }
        let mut t = 20_000;
        let mut writes = 0;
        while p.hold(t + 1).is_some() {
            t += 50_000;
            p.wrote(t, 1);
            writes += 1;
            assert!(writes < 5, "still holding after {writes} quiet writes");
        }
    }
}

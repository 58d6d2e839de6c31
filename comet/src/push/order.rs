//! Keeps `message` pushes of one conversation in `seq` order on this node.
//!
//! Two sends to one conversation can be stored as seq 5 and 6 yet reach the bus as 6, 5 (they
//! were fanned out by different logic calls). Each node therefore remembers, per conversation it
//! has seen lately, the next seq it expects. An early message is held back briefly; if the gap is
//! not filled in time (the missing push was lost), the held ones are released after a `resync`
//! for that conversation, so the client fills the gap with `sync` and order is kept.

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

/// What to do with the pushes of a conversation, in order.
#[derive(Debug, PartialEq)]
pub enum Step<T> {
    Deliver(T),
    /// The recipients of the next deliveries missed something: tell them to resync first.
    Resync(T),
    /// This push arrived after later ones went out (it is late, or a node started the
    /// conversation's stream from a later seq): its recipients get a `resync` for the
    /// conversation instead, since delivering it now would break the order.
    Late(T),
}

struct Stream<T> {
    next: i64,
    held: BTreeMap<i64, T>,
    held_since: Option<Instant>,
    touched: Instant,
}

pub struct Orderer<T> {
    streams: HashMap<String, Stream<T>>,
    /// How long an early push waits for the ones before it.
    hold: Duration,
    /// A conversation not seen for this long is forgotten (the next push starts afresh).
    idle: Duration,
}

impl<T> Orderer<T> {
    pub fn new(hold: Duration, idle: Duration) -> Self {
        Self {
            streams: HashMap::new(),
            hold,
            idle,
        }
    }

    /// Admits push `seq` of `conversation`; returns what can go out now, in order.
    pub fn admit(&mut self, conversation: &str, seq: i64, item: T, now: Instant) -> Vec<Step<T>> {
        let Some(stream) = self.streams.get_mut(conversation) else {
            let stream = Stream {
                next: seq + 1,
                held: BTreeMap::new(),
                held_since: None,
                touched: now,
            };
            self.streams.insert(conversation.to_owned(), stream);
            return vec![Step::Deliver(item)];
        };
        stream.touched = now;
        if seq < stream.next {
            // Pushes are published once each, so this is a straggler: the ones after it are
            // out already. Never drop it silently.
            return vec![Step::Late(item)];
        }
        if seq > stream.next {
            stream.held.insert(seq, item);
            stream.held_since.get_or_insert(now);
            return Vec::new();
        }
        let mut out = vec![Step::Deliver(item)];
        stream.next += 1;
        while let Some(item) = stream.held.remove(&stream.next) {
            out.push(Step::Deliver(item));
            stream.next += 1;
        }
        if stream.held.is_empty() {
            stream.held_since = None;
        }
        out
    }

    /// Releases streams whose gap outlived the hold time and forgets idle ones. The first
    /// released item of each stream comes as `Resync`.
    pub fn tick(&mut self, now: Instant) -> Vec<Step<T>> {
        let mut out = Vec::new();
        for stream in self.streams.values_mut() {
            let Some(since) = stream.held_since else {
                continue;
            };
            if now.duration_since(since) < self.hold {
                continue;
            }
            let held = std::mem::take(&mut stream.held);
            stream.held_since = None;
            for (i, (seq, item)) in held.into_iter().enumerate() {
                stream.next = seq + 1;
                out.push(if i == 0 {
                    Step::Resync(item)
                } else {
                    Step::Deliver(item)
                });
            }
        }
        let idle = self.idle;
        self.streams
            .retain(|_, s| s.held_since.is_some() || now.duration_since(s.touched) < idle);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orderer() -> Orderer<i64> {
        Orderer::new(Duration::from_millis(100), Duration::from_secs(5))
    }

    #[test]
    fn in_order_pushes_go_straight_out() {
        let (mut o, t) = (orderer(), Instant::now());
        assert_eq!(o.admit("c", 4, 4, t), vec![Step::Deliver(4)]);
        assert_eq!(o.admit("c", 5, 5, t), vec![Step::Deliver(5)]);
    }

    #[test]
    fn an_early_push_waits_for_the_one_before_it() {
        let (mut o, t) = (orderer(), Instant::now());
        o.admit("c", 1, 1, t);
        assert!(o.admit("c", 3, 3, t).is_empty());
        assert_eq!(
            o.admit("c", 2, 2, t),
            vec![Step::Deliver(2), Step::Deliver(3)]
        );
    }

    #[test]
    fn a_push_older_than_the_stream_start_becomes_a_resync_and_conversations_are_independent() {
        let (mut o, t) = (orderer(), Instant::now());
        // The node first sees 6 (5 was published later): 5 must not vanish.
        assert_eq!(o.admit("c", 6, 6, t), vec![Step::Deliver(6)]);
        assert_eq!(o.admit("c", 5, 5, t), vec![Step::Late(5)]);
        assert_eq!(o.admit("d", 9, 9, t), vec![Step::Deliver(9)]);
    }

    #[test]
    fn a_gap_that_is_never_filled_releases_with_a_resync() {
        let (mut o, t) = (orderer(), Instant::now());
        o.admit("c", 1, 1, t);
        o.admit("c", 3, 3, t);
        o.admit("c", 4, 4, t);
        assert!(o.tick(t + Duration::from_millis(50)).is_empty());
        let out = o.tick(t + Duration::from_millis(150));
        assert_eq!(out, vec![Step::Resync(3), Step::Deliver(4)]);
        // The straggler is not delivered out of order: its recipients resync instead.
        let late = o.admit("c", 2, 2, t + Duration::from_millis(200));
        assert_eq!(late, vec![Step::Late(2)]);
        assert_eq!(o.admit("c", 5, 5, t), vec![Step::Deliver(5)]);
    }

    #[test]
    fn idle_conversations_are_forgotten() {
        let (mut o, t) = (orderer(), Instant::now());
        o.admit("c", 1, 1, t);
        o.tick(t + Duration::from_secs(6));
        assert_eq!(
            o.admit("c", 7, 7, t + Duration::from_secs(6)),
            vec![Step::Deliver(7)]
        );
    }
}

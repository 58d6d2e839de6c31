//! What one socket holds of one conversation, by `seq`: which messages came by push, which by
//! `sync`, which it sent itself. From that come the per-recipient checks (duplicate pushes,
//! pushes out of `seq` order) and, at the end, the losses: every acknowledged message of the
//! conversation sent by another socket that this one never got.
//!
//! Seqs are dense (1, 2, 3, ... per conversation), so bitsets indexed from the conversation's
//! `seq` at provisioning time (its baseline: a group starts with system messages) are exact and
//! small: two bits per message per member.

use crate::session::Outcome;

/// A growable bitset.
#[derive(Default, Debug, Clone)]
struct Bits(Vec<u64>);

impl Bits {
    fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    fn set(&mut self, i: usize) {
        let w = i / 64;
        if w >= self.0.len() {
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1 << (i % 64);
    }
}

/// What a push did to the tracker.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    Fresh,
    /// Already pushed to this socket before.
    Duplicate,
    /// A seq lower than one already pushed on this connection.
    OutOfOrder,
    /// The socket's own send pushed back to it.
    Echo,
    /// Older than the conversation was at provisioning (not one of ours).
    Stale,
}

#[derive(Debug, Clone)]
pub struct Tracker {
    baseline: i64,
    pushed: Bits,
    /// Pushed, synced or sent by this socket.
    have: Bits,
    own: Bits,
    /// Highest seq pushed on the current connection.
    max_pushed: i64,
    /// Every seq in (baseline, watermark] is in `have`.
    watermark: i64,
}

impl Tracker {
    pub fn new(baseline: i64) -> Self {
        Self {
            baseline,
            pushed: Bits::default(),
            have: Bits::default(),
            own: Bits::default(),
            max_pushed: baseline,
            watermark: baseline,
        }
    }

    fn index(&self, seq: i64) -> Option<usize> {
        usize::try_from(seq - self.baseline - 1).ok()
    }

    pub fn push(&mut self, seq: i64) -> Pushed {
        let Some(i) = self.index(seq) else {
            return Pushed::Stale;
        };
        if self.own.get(i) {
            return Pushed::Echo;
        }
        if self.pushed.get(i) {
            return Pushed::Duplicate;
        }
        self.pushed.set(i);
        self.mark(i);
        if seq < self.max_pushed {
            return Pushed::OutOfOrder;
        }
        self.max_pushed = seq;
        Pushed::Fresh
    }

    /// A message this socket sent was stored as `seq`.
    pub fn own(&mut self, seq: i64) {
        if let Some(i) = self.index(seq) {
            self.own.set(i);
            self.mark(i);
        }
    }

    /// A message arrived by `sync`; true when it had not arrived before (a missed push).
    pub fn synced(&mut self, seq: i64) -> bool {
        let Some(i) = self.index(seq) else {
            return false;
        };
        let new = !self.have.get(i);
        self.mark(i);
        new
    }

    /// A new connection: pushes start over (the order check is per connection).
    pub fn reconnected(&mut self) {
        self.max_pushed = self.baseline;
    }

    /// The seq to `sync` after: everything up to it is here.
    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    pub fn has(&self, seq: i64) -> bool {
        self.index(seq).is_some_and(|i| self.have.get(i))
    }

    /// Seqs pushed to this socket (for the "pushed but never acknowledged" count).
    pub fn pushed_seqs(&self) -> impl Iterator<Item = i64> + '_ {
        self.pushed.0.iter().enumerate().flat_map(move |(w, bits)| {
            (0..64)
                .filter(move |b| bits & (1 << b) != 0)
                .map(move |b| self.baseline + 1 + (w * 64 + b) as i64)
        })
    }

    fn mark(&mut self, i: usize) {
        self.have.set(i);
        while self
            .index(self.watermark + 1)
            .is_some_and(|j| self.have.get(j))
        {
            self.watermark += 1;
        }
    }
}

/// What the recipients got, against what they should have.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Delivery {
    /// (recipient socket, message) pairs owed: every acknowledged message of a conversation,
    /// to every member socket that ever connected except the one that sent it.
    pub expected: u64,
    /// Owed pairs that never arrived, by push or by `sync`.
    pub lost: u64,
    /// Pushed messages that no send of this run was acknowledged for (e.g. a reply lost to a
    /// churn close); informational.
    pub unexpected: u64,
    /// Two acknowledged sends given the same seq in one conversation.
    pub seq_conflicts: u64,
    /// A few of the losses: "conversation <id> seq <n> to socket <i>".
    pub lost_examples: Vec<String>,
}

/// Counts losses from every socket's outcome (`convs` conversations in the plan).
pub fn count_losses(outcomes: &[Outcome], convs: usize) -> Delivery {
    let mut d = Delivery::default();
    let mut acked: Vec<Vec<(i64, usize)>> = vec![Vec::new(); convs];
    for o in outcomes {
        for &(local, seq) in &o.acked {
            acked[o.convs[local].global].push((seq, o.index));
        }
    }
    for list in &mut acked {
        list.sort_unstable();
        d.seq_conflicts += list.windows(2).filter(|w| w[0].0 == w[1].0).count() as u64;
    }
    for o in outcomes.iter().filter(|o| o.connected) {
        for (local, t) in o.trackers.iter().enumerate() {
            let conv = &o.convs[local];
            let owed = &acked[conv.global];
            for &(seq, _) in owed.iter().filter(|(_, sender)| *sender != o.index) {
                d.expected += 1;
                if !t.has(seq) {
                    d.lost += 1;
                    if d.lost_examples.len() < 10 {
                        let id = &conv.id;
                        let ex = format!("conversation {id} seq {seq} to socket {}", o.index);
                        d.lost_examples.push(ex);
                    }
                }
            }
            d.unexpected += (t.pushed_seqs())
                .filter(|s| owed.binary_search_by_key(s, |&(seq, _)| seq).is_err())
                .count() as u64;
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_are_checked_for_duplicates_order_and_echoes() {
        let mut t = Tracker::new(3);
        assert_eq!(t.push(2), Pushed::Stale);
        assert_eq!(t.push(4), Pushed::Fresh);
        t.own(5);
        assert_eq!(t.push(5), Pushed::Echo);
        assert_eq!(t.push(7), Pushed::Fresh);
        assert_eq!(t.push(6), Pushed::OutOfOrder);
        assert_eq!(t.push(7), Pushed::Duplicate);
        assert_eq!(t.watermark(), 7);
        assert_eq!(t.pushed_seqs().collect::<Vec<_>>(), vec![4, 6, 7]);
    }

    #[test]
    fn sync_fills_gaps_and_moves_the_watermark() {
        let mut t = Tracker::new(0);
        t.push(1);
        t.push(3);
        assert_eq!(t.watermark(), 1);
        assert!(t.synced(2));
        assert!(!t.synced(3));
        assert_eq!(t.watermark(), 3);
        assert!(t.has(2) && !t.has(4));
        t.reconnected();
        assert_eq!(t.push(100), Pushed::Fresh);
        assert_eq!(t.push(70), Pushed::OutOfOrder);
    }
}

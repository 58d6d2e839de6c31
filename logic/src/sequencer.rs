//! Publishing in `seq` order. Two sends to one conversation handled at once by this logic
//! instance would be stored as seq N and N+1 and could then be fanned out as N+1, N: a comet node
//! that had not seen the conversation lately would take N+1 as its starting point and treat N as
//! late. Holding one lock per conversation from "store" to "published" makes this instance
//! publish each conversation in the order it stored it. Sends to different conversations never
//! wait for each other.

use dashmap::DashMap;
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Default)]
pub struct Sequencer {
    locks: DashMap<String, Arc<Mutex<()>>>,
}

/// Held while a message of the conversation is stored and published.
pub struct Turn<'a> {
    guard: Option<OwnedMutexGuard<()>>,
    key: String,
    owner: &'a Sequencer,
}

impl Sequencer {
    /// Waits for this conversation's turn.
    pub async fn turn(&self, conversation_id: &str) -> Turn<'_> {
        let lock = self
            .locks
            .entry(conversation_id.to_owned())
            .or_default()
            .clone();
        Turn {
            guard: Some(lock.lock_owned().await),
            key: conversation_id.to_owned(),
            owner: self,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.locks.len()
    }
}

impl Drop for Turn<'_> {
    /// Releases the turn and forgets the conversation's lock when nobody else holds or waits for
    /// it (the map's own reference is then the only one), so the map stays small.
    fn drop(&mut self) {
        self.guard.take();
        self.owner
            .locks
            .remove_if(&self.key, |_, lock| Arc::strong_count(lock) == 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn turns_of_one_conversation_are_taken_one_at_a_time_in_arrival_order() {
        let seq = Arc::new(Sequencer::default());
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let first = seq.turn("c").await;
        let mut waiters = Vec::new();
        for i in 0..3 {
            let (seq, log) = (seq.clone(), log.clone());
            waiters.push(tokio::spawn(async move {
                let _turn = seq.turn("c").await;
                log.lock().unwrap().push(i);
            }));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            log.lock().unwrap().is_empty(),
            "nobody runs while the turn is held"
        );
        drop(first);
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(*log.lock().unwrap(), vec![0, 1, 2]);
        assert_eq!(seq.len(), 0, "idle conversations are forgotten");
    }

    #[tokio::test]
    async fn other_conversations_do_not_wait() {
        let seq = Sequencer::default();
        let _a = seq.turn("a").await;
        let b = tokio::time::timeout(Duration::from_millis(100), seq.turn("b")).await;
        assert!(b.is_ok());
    }
}

//! Publishing in `seq` order without storing one message at a time.
//!
//! Two sends to one conversation handled at once by this logic instance are stored as seq N and
//! N+1, and could then be fanned out as N+1, N: a comet node that had not seen the conversation
//! lately would take N+1 as its starting point and treat N as late. So this instance publishes
//! each conversation in the order it stored it.
//!
//! Only the publishing is ordered, not the storing: every send takes a [`Ticket`] before it
//! appends, appends concurrently with the others (so the store can commit them together), and
//! then waits for its turn to publish: until the message before it has been published here, or
//! until no other send of this instance could still hold an earlier `seq` (the earlier one was
//! stored by another logic instance, or failed). Comet nodes put what several instances publish
//! back in order, and turn what they can't into a `resync`. Sends to different conversations
//! never wait for each other.

use dashmap::DashMap;
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::Notify;

/// The longest a publish waits for the ones before it (longer than a fan-out may take), so a
/// stuck predecessor delays its conversation, never stops it.
const MAX_WAIT: Duration = Duration::from_secs(3);

/// Cheap to clone: clones share the conversations, so a [`Ticket`] can outlive the request that
/// took it (the publish runs after the sender has its reply).
#[derive(Clone, Default)]
pub struct Sequencer {
    conversations: Arc<DashMap<String, Arc<Conversation>>>,
}

#[derive(Default)]
struct Conversation {
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Default)]
struct State {
    /// The highest seq published by this instance (0: none yet, or forgotten while idle).
    published: i64,
    next_ticket: u64,
    /// Sends under way: their seq once stored.
    open: BTreeMap<u64, Option<i64>>,
}

/// One send's place in its conversation, from before it is stored until it is published.
pub struct Ticket {
    owner: Sequencer,
    key: String,
    conversation: Arc<Conversation>,
    id: u64,
    published: bool,
    /// The last ticket taken when this one's message was known stored (see `may_publish`).
    horizon: Option<u64>,
}

impl Sequencer {
    /// Takes a ticket for a message about to be stored in `conversation_id`.
    pub fn ticket(&self, conversation_id: &str) -> Ticket {
        let conversation = (self.conversations.entry(conversation_id.to_owned()))
            .or_default()
            .clone();
        let id = {
            let mut state = conversation.state.lock().unwrap_or_else(|e| e.into_inner());
            state.next_ticket += 1;
            let id = state.next_ticket;
            state.open.insert(id, None);
            id
        };
        Ticket {
            owner: self.clone(),
            key: conversation_id.to_owned(),
            conversation,
            id,
            published: false,
            horizon: None,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.conversations.len()
    }
}

impl Ticket {
    /// The message was stored as `seq`: waits until it may be published. Publish, then drop the
    /// ticket.
    pub async fn turn(&mut self, seq: i64) {
        let mut horizon = self.horizon;
        self.set(|state, id| {
            state.open.insert(id, Some(seq));
            horizon.get_or_insert(state.next_ticket);
        });
        self.horizon = horizon;
        let horizon = horizon.unwrap_or(u64::MAX);
        self.published = true;
        let waited = tokio::time::timeout(MAX_WAIT, async {
            loop {
                let changed = self.conversation.changed.notified();
                tokio::pin!(changed);
                // Registered before looking, so a change in between is not missed.
                changed.as_mut().enable();
                if self.may_publish(seq, horizon) {
                    return;
                }
                changed.await;
            }
        });
        if waited.await.is_err() {
            tracing::warn!(conversation_id = %self.key, seq, "publishing out of turn");
        }
    }

    /// `horizon`: the last ticket taken when this message was known stored. A ticket taken
    /// after that stores after it, so it can only get a later seq: only those up to the
    /// horizon can hold an earlier one. Without this cut a busy conversation, where some send
    /// is always between its ticket and its store, would keep everyone waiting.
    fn may_publish(&self, seq: i64, horizon: u64) -> bool {
        let state = self.lock();
        if state.published >= seq - 1 {
            return true;
        }
        // Could a send of this instance still publish an earlier seq? One not stored yet might.
        !(state.open.range(..=horizon))
            .any(|(&id, other)| id != self.id && other.is_none_or(|o| o < seq))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        (self.conversation.state.lock()).unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, f: impl FnOnce(&mut State, u64)) {
        f(&mut self.lock(), self.id);
        self.conversation.changed.notify_waiters();
    }
}

impl Drop for Ticket {
    /// Marks the message published (or abandoned, when it was never stored), wakes the sends
    /// waiting behind it, and forgets the conversation when nothing of it is under way.
    fn drop(&mut self) {
        let published = self.published;
        self.set(|state, id| {
            if let Some(Some(seq)) = state.open.remove(&id)
                && published
            {
                state.published = state.published.max(seq);
            }
        });
        self.owner.conversations.remove_if(&self.key, |_, c| {
            Arc::strong_count(c) == 2 && c.state.lock().is_ok_and(|s| s.open.is_empty())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn wait<F: Future>(f: F) -> Option<F::Output> {
        tokio::time::timeout(Duration::from_millis(100), f)
            .await
            .ok()
    }

    #[tokio::test]
    async fn a_later_seq_waits_for_an_earlier_one_stored_here() {
        let seq = Sequencer::default();
        let mut first = seq.ticket("c");
        let mut second = seq.ticket("c");
        // Stored in the other order: 2 before 1 is known.
        assert!(
            wait(second.turn(2)).await.is_none(),
            "2 waits while 1 is open"
        );
        assert!(wait(first.turn(1)).await.is_some(), "1 goes at once");
        drop(first);
        assert!(
            wait(second.turn(2)).await.is_some(),
            "2 goes once 1 is published"
        );
        drop(second);
        assert_eq!(seq.len(), 0, "idle conversations are forgotten");
    }

    #[tokio::test]
    async fn a_seq_stored_elsewhere_or_failed_does_not_hold_anyone_up() {
        let seq = Sequencer::default();
        let failed = seq.ticket("c");
        let mut mine = seq.ticket("c");
        assert!(
            wait(mine.turn(7)).await.is_none(),
            "an unstored send may be 6"
        );
        drop(failed);
        // 6 belongs to another instance, or to nobody: publish.
        assert!(wait(mine.turn(7)).await.is_some());
    }

    #[tokio::test]
    async fn sends_that_start_after_a_store_do_not_hold_it_up() {
        let seq = Sequencer::default();
        let mut stored = seq.ticket("c");
        let earlier = seq.ticket("c");
        // Stored as 9 while `earlier` was under way: it might become 8.
        assert!(wait(stored.turn(9)).await.is_none(), "may wait for 8");
        // Sends that take their ticket now store after 9: they cannot be 8.
        let _later = (seq.ticket("c"), seq.ticket("c"));
        drop(earlier);
        assert!(
            wait(stored.turn(9)).await.is_some(),
            "only sends begun before 9 was stored hold it up"
        );
    }

    #[tokio::test]
    async fn other_conversations_do_not_wait() {
        let seq = Sequencer::default();
        let _a = seq.ticket("a");
        let mut b = seq.ticket("b");
        assert!(wait(b.turn(5)).await.is_some());
    }

    #[tokio::test]
    async fn many_concurrent_sends_publish_in_seq_order() {
        let seq = Arc::new(Sequencer::default());
        let log = Arc::new(Mutex::new(Vec::new()));
        let next = Arc::new(Mutex::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (seq, log, next) = (seq.clone(), log.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut ticket = seq.ticket("c");
                tokio::task::yield_now().await;
                let n = {
                    let mut next = next.lock().unwrap();
                    *next += 1;
                    *next
                };
                tokio::task::yield_now().await;
                ticket.turn(n).await;
                log.lock().unwrap().push(n);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let log = log.lock().unwrap().clone();
        assert_eq!(log, (1..=50).collect::<Vec<i64>>());
    }
}

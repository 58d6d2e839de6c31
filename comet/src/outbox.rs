//! A socket's bounded outbound queue: pushes and replies, in the order they are queued.
//!
//! Not a tokio `mpsc` channel: that allocates its first block of 32 slots, with the channel
//! around it (about 1.6 KiB), when the socket opens, and a node holds tens of thousands of
//! sockets that are idle nearly all the time. This queue costs a few words inline in the socket's
//! [`Conn`](crate::registry::Conn) and allocates only while frames wait (a small buffer, given
//! back when a burst has drained).

use axum::extract::ws::Utf8Bytes;
use std::{collections::VecDeque, sync::Mutex};
use tokio::sync::Notify;

/// A drained queue keeps a buffer this big for the next frames; a bigger one is given back.
const KEEP: usize = 8;

pub struct Outbox {
    /// A std mutex: never held across an await, and each hold is a few instructions.
    state: Mutex<State>,
    capacity: usize,
    /// Wakes the writer (the only consumer) when a frame arrives or the queue closes.
    readable: Notify,
    /// Wakes a producer waiting for room (the socket's reader, queueing a reply).
    writable: Notify,
}

#[derive(Default)]
struct State {
    frames: VecDeque<Utf8Bytes>,
    closed: bool,
}

/// The queue was closed: the socket's writer has stopped.
#[derive(Debug)]
pub struct Closed;

impl Outbox {
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::default(),
            capacity: capacity.max(1),
            readable: Notify::new(),
            writable: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `frame` unless the queue is full or closed; false when it was not queued.
    pub fn try_push(&self, frame: Utf8Bytes) -> bool {
        {
            let mut state = self.lock();
            if state.closed || state.frames.len() >= self.capacity {
                return false;
            }
            state.frames.push_back(frame);
        }
        self.readable.notify_one();
        true
    }

    /// Queues `frame`, waiting for room while the queue is full.
    pub async fn push(&self, frame: Utf8Bytes) -> Result<(), Closed> {
        loop {
            let room = self.writable.notified();
            tokio::pin!(room);
            // Registered before looking, so room made in between is not missed.
            room.as_mut().enable();
            {
                let mut state = self.lock();
                if state.closed {
                    return Err(Closed);
                }
                if state.frames.len() < self.capacity {
                    state.frames.push_back(frame);
                    drop(state);
                    self.readable.notify_one();
                    return Ok(());
                }
            }
            room.await;
        }
    }

    /// The next frame if one waits.
    pub fn try_pop(&self) -> Option<Utf8Bytes> {
        let frame = {
            let mut state = self.lock();
            let frame = state.frames.pop_front()?;
            if state.frames.is_empty() && state.frames.capacity() > KEEP {
                state.frames = VecDeque::new();
            }
            frame
        };
        self.writable.notify_one();
        Some(frame)
    }

    /// The next frame, waiting for one; None once the queue is closed and empty.
    pub async fn pop(&self) -> Option<Utf8Bytes> {
        loop {
            let arrived = self.readable.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(frame) = self.try_pop() {
                return Some(frame);
            }
            if self.lock().closed {
                return None;
            }
            arrived.await;
        }
    }

    /// No more frames are taken; a producer waiting for room gets [`Closed`].
    pub fn close(&self) {
        self.lock().closed = true;
        self.readable.notify_waiters();
        self.writable.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{sync::Arc, time::Duration};

    #[test]
    fn frames_come_out_in_order_and_a_full_queue_refuses() {
        let q = Outbox::new(2);
        assert!(q.try_push("a".into()));
        assert!(q.try_push("b".into()));
        assert!(!q.try_push("c".into()), "full");
        assert_eq!(q.try_pop().unwrap().as_str(), "a");
        assert!(q.try_push("c".into()));
        assert_eq!(q.try_pop().unwrap().as_str(), "b");
        assert_eq!(q.try_pop().unwrap().as_str(), "c");
        assert!(q.try_pop().is_none());
    }

    #[tokio::test]
    async fn a_waiting_producer_gets_room_once_the_writer_takes_a_frame() {
        let q = Arc::new(Outbox::new(1));
        assert!(q.try_push("a".into()));
        let producer = tokio::spawn({
            let q = q.clone();
            async move { q.push("b".into()).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!producer.is_finished(), "waits while the queue is full");
        assert_eq!(q.pop().await.unwrap().as_str(), "a");
        producer.await.unwrap().unwrap();
        assert_eq!(q.pop().await.unwrap().as_str(), "b");
    }

    #[tokio::test]
    async fn closing_wakes_the_writer_and_refuses_producers() {
        let q = Arc::new(Outbox::new(1));
        let writer = tokio::spawn({
            let q = q.clone();
            async move { q.pop().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        q.close();
        assert!(writer.await.unwrap().is_none());
        assert!(q.push("x".into()).await.is_err());
        assert!(!q.try_push("y".into()));
    }

    #[test]
    fn a_drained_burst_gives_its_buffer_back() {
        let q = Outbox::new(256);
        for i in 0..100 {
            assert!(q.try_push(i.to_string().into()));
        }
        while q.try_pop().is_some() {}
        assert_eq!(q.lock().frames.capacity(), 0);
    }
}

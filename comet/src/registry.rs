//! Which sockets this node holds, by user. A user may hold many at once (phone, laptop, tabs);
//! each is an independent [`Conn`] with its own bounded outbound queue.

use crate::outbox::Outbox;
use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering},
};
use tokio_util::sync::CancellationToken;

/// One live, authenticated socket.
pub struct Conn {
    /// Unique across nodes: `{node_id}/{n}`.
    pub id: Arc<str>,
    pub user_id: Arc<str>,
    pub session_id: Arc<str>,
    /// What the socket's writer is to send, in order: pushes and replies.
    pub outbox: Outbox,
    /// Set when a push had to be dropped because the queue was full; the writer then sends a
    /// `resync` so the client catches up by `sync`.
    pub dropped: AtomicBool,
    /// Cancelled to close the socket with `close_code`, on shutdown too (the node cancels every
    /// socket's token then), so that the socket's writer waits on this one token.
    pub close: CancellationToken,
    close_code: AtomicU16,
    /// When the client was last heard from, in ms since the node started.
    pub last_seen: AtomicU64,
}

impl Conn {
    /// `queue`: frames that may wait for the writer (the outbound queue's bound).
    pub fn new(id: String, user_id: &str, session_id: &str, queue: usize) -> Self {
        Self {
            id: id.into(),
            user_id: user_id.into(),
            session_id: session_id.into(),
            outbox: Outbox::new(queue),
            dropped: AtomicBool::new(false),
            close: CancellationToken::new(),
            close_code: AtomicU16::new(1000),
            last_seen: AtomicU64::new(0),
        }
    }

    /// Queues a push without waiting: a full queue drops it and flags a resync instead, so one
    /// slow reader never holds up anyone else's pushes.
    pub fn push(&self, frame: &Utf8Bytes) {
        if !self.outbox.try_push(frame.clone()) {
            self.dropped.store(true, Ordering::Relaxed);
        }
    }

    /// Asks the socket to close with `code` (the first code asked for wins).
    pub fn close_with(&self, code: u16) {
        if !self.close.is_cancelled() {
            self.close_code.store(code, Ordering::Relaxed);
            self.close.cancel();
        }
    }

    pub fn close_code(&self) -> u16 {
        self.close_code.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub struct Registry {
    /// Hashed with foldhash, not the default SipHash: a push to a room looks up every member
    /// (a million lookups a second on a busy node), and user ids are not attacker-chosen
    /// keys (they are minted by the server).
    by_user: DashMap<Arc<str>, Vec<Arc<Conn>>, foldhash::fast::RandomState>,
    next_id: AtomicU64,
}

impl Registry {
    pub fn next_conn_number(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Adds a socket; true when it is the user's first on this node.
    pub fn add(&self, conn: Arc<Conn>) -> bool {
        let mut entry = self.by_user.entry(conn.user_id.clone()).or_default();
        entry.push(conn);
        entry.len() == 1
    }

    /// Removes a socket; true when it was the user's last on this node.
    pub fn remove(&self, conn: &Conn) -> bool {
        let mut last = false;
        self.by_user.remove_if_mut(&conn.user_id, |_, conns| {
            conns.retain(|c| c.id != conn.id);
            last = conns.is_empty();
            last
        });
        last
    }

    /// Calls `f` for each socket of `user_id` on this node.
    pub fn for_user(&self, user_id: &str, mut f: impl FnMut(&Conn)) {
        if let Some(conns) = self.by_user.get(user_id) {
            conns.iter().for_each(|c| f(c));
        }
    }

    /// Every user with a socket here (for the presence heartbeat).
    pub fn users(&self) -> Vec<String> {
        self.by_user.iter().map(|e| e.key().to_string()).collect()
    }

    /// Every socket here (to close them all on shutdown, or resync them all after a bus gap).
    pub fn for_all(&self, mut f: impl FnMut(&Conn)) {
        for entry in self.by_user.iter() {
            entry.value().iter().for_each(|c| f(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(reg: &Registry, user: &str, queue: usize) -> Arc<Conn> {
        let id = format!("n/{}", reg.next_conn_number());
        Arc::new(Conn::new(id, user, "s", queue))
    }

    #[test]
    fn first_and_last_socket_of_a_user_are_reported() {
        let reg = Registry::default();
        let a = conn(&reg, "u", 4);
        let b = conn(&reg, "u", 4);
        assert!(reg.add(a.clone()));
        assert!(!reg.add(b.clone()));
        let mut seen = 0;
        reg.for_user("u", |_| seen += 1);
        assert_eq!(seen, 2);
        assert!(!reg.remove(&a));
        assert!(reg.remove(&b));
        assert!(reg.users().is_empty());
    }

    #[test]
    fn a_full_queue_drops_the_push_and_flags_a_resync() {
        let reg = Registry::default();
        let c = conn(&reg, "u", 1);
        c.push(&Utf8Bytes::from("one"));
        assert!(!c.dropped.load(Ordering::Relaxed));
        c.push(&Utf8Bytes::from("two"));
        assert!(c.dropped.load(Ordering::Relaxed));
        assert_eq!(c.outbox.try_pop().unwrap().as_str(), "one");
    }
}

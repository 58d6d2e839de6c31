//! Work that runs after a call has answered: publishing a stored message to its recipients.
//!
//! A send is done once the message is stored; the fan-out is best effort (a client that misses
//! a push catches up by `sync`). So the sender gets its reply without waiting for Redis or for the
//! comet nodes, and a slow or absent bus never stalls sends. Two bounds keep this honest:
//! at most [`MAX_IN_FLIGHT`] publishes run at once (beyond that a send waits for a slot, so a
//! bus that cannot keep up slows senders rather than growing memory), and shutdown waits for the
//! ones under way, so a message acknowledged just before a restart is still pushed.

use std::{future::Future, sync::Arc, time::Duration};
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

/// Publishes under way at once, per logic instance.
const MAX_IN_FLIGHT: usize = 8192;

#[derive(Clone)]
pub struct Background {
    tasks: TaskTracker,
    slots: Arc<Semaphore>,
}

impl Default for Background {
    fn default() -> Self {
        Self {
            tasks: TaskTracker::new(),
            slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }
}

impl Background {
    /// Runs `work` on its own task once a slot is free.
    pub async fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        // The semaphore is never closed, so acquiring only fails if it were.
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return;
        };
        self.tasks.spawn(async move {
            work.await;
            drop(slot);
        });
    }

    /// Waits (at most `limit`) for the work under way. Later [`spawn`](Self::spawn)s still run.
    pub async fn drain(&self, limit: Duration) {
        self.tasks.close();
        if tokio::time::timeout(limit, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("publishes still under way at shutdown were abandoned");
        }
        self.tasks.reopen();
    }
}

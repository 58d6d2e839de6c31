//! WAL checkpoints for the SQLite store, off the writer's path.
//!
//! SQLite checkpoints by itself when a commit leaves the WAL over 1,000 pages: the committing
//! connection then copies the WAL into the database file and fsyncs it before its commit
//! returns. Every write goes through one connection, so each such checkpoint stalled every
//! write queued behind it; under a few thousand messages a second (tens of MB/s of WAL) that
//! was a stall every ~100 ms (with checkpoints off altogether, the 3,000 msg/s p99 fell from
//! 102 to 71 ms).
//!
//! Instead the writer's own checkpoint is pushed far out (a backstop, [`WRITER_BACKSTOP_PAGES`])
//! and a connection of its own runs a PASSIVE checkpoint every [`EVERY`]: PASSIVE copies what no
//! reader still needs, without waiting for or blocking the writer, and once it has copied it
//! all the writer's next transaction starts the WAL over from its beginning.

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often the checkpointer runs.
const EVERY: Duration = Duration::from_millis(250);

/// The writer's automatic checkpoint threshold, in pages (4 KiB each): it fires only if the
/// checkpointer falls far behind (or is stuck), so the WAL stays bounded whatever happens.
pub(crate) const WRITER_BACKSTOP_PAGES: u32 = 16_384;

/// The background checkpoint task; it ends when this is closed or dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    shutdown: CancellationToken,
    task: TaskTracker,
}

impl Checkpointer {
    /// Opens the checkpointer's connection with `options` (those of the writer) and starts it.
    pub(crate) async fn start(options: &SqliteConnectOptions) -> Result<Self, sqlx::Error> {
        let conn = options.connect().await?;
        let shutdown = CancellationToken::new();
        let task = TaskTracker::new();
        task.spawn(run(conn, shutdown.clone()));
        task.close();
        Ok(Self { shutdown, task })
    }

    /// Stops the task and closes its connection.
    pub(crate) async fn close(&self) {
        self.shutdown.cancel();
        self.task.wait().await;
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn run(mut conn: SqliteConnection, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        // (busy, pages in the WAL, pages checkpointed); a failure is retried next tick, and
        // the writer's backstop keeps the WAL bounded meanwhile.
        let result: Result<(i64, i64, i64), _> = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut conn)
            .await;
        if let Err(err) = result {
            tracing::warn!(%err, "WAL checkpoint failed");
        }
    }
    let _ = conn.close().await;
}

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
//! and a connection of its own runs PASSIVE checkpoints: PASSIVE copies what no reader still
//! needs, without waiting for or blocking the writer, and once it has copied it all the
//! writer's next transaction starts the WAL over from its beginning.
//!
//! Small and often beats large and rare: each checkpoint still stalls the writer for a while
//! (its fsyncs and copying compete with the writer's WAL writes), and the stall grows with
//! what it copies. At 5,000 messages/s, checkpoints every 250 ms stalled appends for up to
//! 15–25 ms (send → push p99 17–20 ms); every 20 ms, p99 8–9 ms; every second, 52–58 ms (see
//! BENCHMARKS.md). So while writes come in the checkpointer runs every [`BUSY`]; when a
//! checkpoint finds nothing new it waits twice as long each time, up to [`IDLE`], so an idle
//! server wakes for it about once a second.

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often the checkpointer runs while writes come in.
const BUSY: Duration = Duration::from_millis(20);

/// The longest wait between checkpoints, reached after a run of checkpoints that found
/// nothing new.
const IDLE: Duration = Duration::from_secs(1);

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
    let mut wait = BUSY;
    // (frames in the WAL, frames copied) as the last checkpoint left them.
    let mut last = (0, 0);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
        // (busy, frames in the WAL, frames copied); a failure is retried next time, and the
        // writer's backstop keeps the WAL bounded meanwhile.
        let result: Result<(i64, i64, i64), _> = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut conn)
            .await;
        match result {
            Ok((_, frames, copied)) => {
                wait = next_wait(wait, last != (frames, copied));
                last = (frames, copied);
            }
            Err(err) => {
                tracing::warn!(%err, "WAL checkpoint failed");
                wait = IDLE;
            }
        }
    }
    let _ = conn.close().await;
}

/// The wait before the next checkpoint: [`BUSY`] after one that found new frames, else
/// twice the last, up to [`IDLE`].
fn next_wait(last: Duration, found_new: bool) -> Duration {
    if found_new {
        BUSY
    } else {
        (last * 2).min(IDLE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_while_idle_and_snap_back_on_writes() {
        let mut wait = BUSY;
        let mut seen = Vec::new();
        for _ in 0..8 {
            wait = next_wait(wait, false);
            seen.push(wait.as_millis());
        }
        assert_eq!(seen, [40, 80, 160, 320, 640, 1000, 1000, 1000]);
        assert_eq!(next_wait(IDLE, true), BUSY);
    }
}

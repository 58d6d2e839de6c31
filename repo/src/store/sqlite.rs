//! The SQLite store: the embedded default's database, one file in the data folder. The SQL
//! lives in [`super::sql`]; this file only opens the pools and runs the migrations.
//!
//! SQLite allows one writer at a time. Rather than have our own transactions collide
//! (`SQLITE_BUSY`, or a deferred transaction that cannot upgrade to a write lock), every write
//! goes through a pool of exactly one connection, so writes queue in the pool instead; reads
//! use a separate pool and, in WAL mode, never wait for the writer.
//!
//! Message appends queue in front of that writer and are stored in batches, one transaction
//! each (see [`super::append_batch`]): one writer task, since there is one writer connection.
//! The WAL is checkpointed by a connection of its own, so the writer never stops to do it
//! (see [`super::checkpoint`]).

use super::StoreError;
use super::append_batch::{Answer, AppendQueue};
use super::checkpoint::{Checkpointer, WRITER_BACKSTOP_PAGES};
use super::sql::append::BatchError;
use super::sql::append_lists;
use natter_proto::repo::AppendMessageRequest;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Reader connections. Reads are short; a few cover the embedded mode's load.
const READERS: u32 = 4;

/// A [`Store`](super::Store) on a SQLite file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pools: SqlitePools,
    /// Message appends, batched by one writer task onto the writer pool.
    appends: Arc<AppendQueue>,
    /// Checkpoints the WAL in the background (none for an in-memory database).
    checkpointer: Option<Arc<Checkpointer>>,
}

/// The two pools, apart from the store so the append writer task can hold them without
/// holding its own queue (the queue ends when the last store handle is dropped).
#[derive(Clone, Debug)]
struct SqlitePools {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqlitePools {
    /// The single-connection pool every write and transaction goes through.
    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// Stores one batch (`sql::append_lists`) in a transaction on the writer. Not on a kept
    /// connection, as on PostgreSQL: the writer is the only one, and every other write needs it
    /// between batches.
    async fn store_batch(&self, batch: &[AppendMessageRequest]) -> Result<Vec<Answer>, BatchError> {
        append_lists::store_batch(&self.writer, batch).await
    }

    /// A write transaction on the writer. IMMEDIATE takes the write lock at BEGIN: a
    /// deferred transaction that reads first could otherwise fail to upgrade if another
    /// process wrote the file meanwhile (`SQLITE_BUSY_SNAPSHOT`, which no timeout retries).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.writer.begin_with(BEGIN_WRITE).await
    }
}

/// How a write transaction begins (see [`SqlitePools::begin_write`]).
pub(crate) const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

impl SqliteStore {
    /// Opens `url` (`sqlite:///abs/path/natter.db` or `sqlite://relative/natter.db`), creating
    /// the file and its folder if missing, and brings the schema up to date.
    ///
    /// An in-memory URL (`sqlite::memory:`, `mode=memory`) gets one pool for both roles: a
    /// second pool would need SQLite's shared cache, whose table locks fail instead of waiting.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // With WAL, NORMAL loses at most the last transactions on power loss, never
            // consistency; FULL would fsync every commit.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // A multi-row write keeps a statement journal (to undo just that statement if it
            // fails midway). SQLite spills it to a temporary file past 64 KiB, which a batch of
            // appends passed every time: a file created, written and closed per transaction.
            // In memory it is a copy.
            .pragma("temp_store", "MEMORY")
            .busy_timeout(Duration::from_secs(5))
            // The connection's worker thread hands rows over through a channel this deep and
            // sleeps when it is full: at sqlx's 50, reading 1,000 rows cost twenty sleeps and
            // wake-ups of that thread (a room's members were such a read, before they came
            // back as one joined value; long pages and lists still are).
            .row_buffer_size(1024);
        // The writer checkpoints only as a backstop: the checkpointer does it off its path.
        let writer_options = options
            .clone()
            .pragma("wal_autocheckpoint", WRITER_BACKSTOP_PAGES.to_string());
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory
            && let Some(dir) = options.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", dir.display())))?;
        }
        // No health check on acquire (sqlx's default): on SQLite it is a round trip to the
        // connection's worker thread, a thread wake-up per write transaction and per append
        // batch, for a connection to a local file that cannot have gone away.
        let mut writer_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false);
        if in_memory {
            // The database lives only as long as a connection to it.
            writer_pool = writer_pool
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let writer = writer_pool.connect_with(writer_options).await?;
        sqlx::migrate!("../migrations/sqlite").run(&writer).await?;
        let (reader, checkpointer) = if in_memory {
            (writer.clone(), None)
        } else {
            let checkpointer = Checkpointer::start(&options).await?;
            let reader = SqlitePoolOptions::new()
                .max_connections(READERS)
                .test_before_acquire(false)
                // query_only makes an accidental write through a reader fail loudly.
                .connect_with(options.pragma("query_only", "ON"))
                .await?;
            (reader, Some(Arc::new(checkpointer)))
        };
        let pools = SqlitePools { writer, reader };
        let appends = Arc::new(AppendQueue::start(pools.clone(), 1));
        Ok(Self {
            pools,
            appends,
            checkpointer,
        })
    }

    /// Stores the appends already queued (refusing new ones), then closes both pools,
    /// waiting for connections in use; the file is then safe to reopen or copy.
    pub async fn close(&self) {
        self.appends.close().await;
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.close().await;
        }
        self.pools.reader.close().await;
        self.pools.writer.close().await;
    }

    /// The single-connection pool every write and transaction goes through.
    fn writer(&self) -> &SqlitePool {
        self.pools.writer()
    }

    /// A write transaction on the writer (see [`SqlitePools::begin_write`]).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.pools.begin_write().await
    }

    /// The pool plain reads go through.
    fn reader(&self) -> &SqlitePool {
        &self.pools.reader
    }

    /// The group-commit queue message appends go through.
    fn appends(&self) -> &AppendQueue {
        &self.appends
    }
}

super::sql::impl_store!(SqliteStore, sqlx::Sqlite);
super::sql::append::impl_append!(SqlitePools, SqliteStore, append_lists);

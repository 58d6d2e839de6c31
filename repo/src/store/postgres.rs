//! The PostgreSQL store: the distributed form's database. The SQL lives in [`super::sql`];
//! this file opens the pool, runs the migrations and keeps the append writers' connections.
//!
//! Message appends queue in front of [`APPEND_WRITERS`] writer tasks (sharded by conversation
//! when more than one), each storing batches in two statements (see [`super::append_batch`]
//! and `sql::append_arrays`) on a connection of its own ([`WRITER_SETTINGS`]).

use super::StoreError;
use super::append_batch::{Answer, AppendQueue};
use super::sql::append::BatchError;
use super::sql::append_arrays;
use natter_proto::repo::AppendMessageRequest;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Connections per repo process. A message append holds one for its whole transaction, so
/// this also caps how many appends run at once; PostgreSQL's default max_connections (100)
/// leaves room for several repo nodes.
const MAX_CONNECTIONS: u32 = 16;

/// Append writer tasks, each holding a connection while it stores a batch. One: a batch's
/// statements are round trips that wait for PostgreSQL's backend to be scheduled, and on the
/// 2-core benchmark box more writers only made more of them compete. With seven statements a
/// batch, direct at 5,000 msg/s: send -> push p50 11-14 ms with one, 16-22 ms with two, 39-41
/// ms with four; with two statements, two writers still gained nothing (see BENCHMARKS.md).
/// One conversation's appends always go through one writer, whatever the count, so this
/// changes no ordering.
const APPEND_WRITERS: usize = 1;

/// A [`Store`](super::Store) on PostgreSQL, through one pool used for reads and writes alike.
#[derive(Clone, Debug)]
pub struct PgStore {
    pools: PgPools,
    /// Message appends, batched by the writer tasks.
    appends: Arc<AppendQueue>,
}

/// The pool, apart from the store so the append writer tasks can hold it without holding
/// their own queue (the queue ends when the last store handle is dropped).
#[derive(Clone, Debug)]
struct PgPools {
    pool: PgPool,
    /// The connections the append writers keep between batches, out of the pool (see
    /// [`PgPools::store_batch`]).
    held: Arc<Mutex<Vec<PgConnection>>>,
}

/// How the append writers' own connections plan: once per connection, and always by index.
///
/// Every statement of a batch looks rows up by key (a conversation, a member, a friendship,
/// a retry key), so a nested loop over the batch's arrays probing the tables' indexes is
/// always the right plan. Left to the statistics, the planner chose otherwise on a young
/// database: at 4,000 msg/s over 1,000 conversations the writer's backend spent 42 % of a core
/// (106 µs a message), mostly hashing a sequential scan of `conversations` (every message
/// leaves a dead row version there) for the bump and the read, hashing all of `friendships`
/// for the direct-chat check, scanning `messages` for the retry lookup, and 17 % planning
/// the two statements afresh every batch (`force_custom_plan`, needed on the pool: see
/// [`PgStore::connect`]). With the plan shapes fixed, the statistics can no longer pick a bad
/// one, so each statement keeps its generic plan, made once. The settings apply to these
/// connections only; they never go back to the pool.
const WRITER_SETTINGS: &str = "SET plan_cache_mode = force_generic_plan; \
    SET enable_seqscan = off; SET enable_mergejoin = off; \
    SET enable_bitmapscan = off";

impl PgPools {
    /// Where transactions and writes go (the one pool).
    fn writer(&self) -> &PgPool {
        &self.pool
    }

    /// A write transaction. PostgreSQL's row locks do the serializing; a plain BEGIN
    /// (READ COMMITTED) is what the shared SQL is written for.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    /// Stores one batch (`sql::append_arrays`) on a connection the writers keep, rather than
    /// one taken from the pool per batch: a checkout costs a health-check round trip, and its
    /// return a spawned task that the next checkout waits for; together 0.5-0.9 ms of a 5-9 ms
    /// batch at 3,000 msg/s (BENCHMARKS.md). The connection is taken out of the pool for good
    /// (the pool may open another in its place) and set up to plan by index
    /// ([`WRITER_SETTINGS`]). A batch that fails closes it, in case it died (a PostgreSQL
    /// restart): the next batch opens a new one. The batch itself stored nothing and goes
    /// down the lone path, through the pool. (A write whose outcome is unknown is not a failed
    /// batch: its connection is kept, and the next batch's first statement fails on it.)
    async fn store_batch(&self, batch: &[AppendMessageRequest]) -> Result<Vec<Answer>, BatchError> {
        let held = self.lock_held().pop();
        let mut conn = match held {
            Some(conn) => conn,
            None => {
                let mut conn = self.pool.acquire().await?.detach();
                sqlx::raw_sql(WRITER_SETTINGS).execute(&mut conn).await?;
                conn
            }
        };
        let stored = append_arrays::store_batch(&mut conn, batch).await;
        if stored.is_ok() {
            self.lock_held().push(conn);
        }
        stored
    }

    fn lock_held(&self) -> std::sync::MutexGuard<'_, Vec<PgConnection>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`) and brings the schema up to date.
    /// Concurrent starts are safe: sqlx serializes migrations with an advisory lock.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        // Every statement on the pool is planned for its parameters when it runs. A prepared
        // statement's generic plan is made once per connection, when its tables may be nearly
        // empty (a new deployment, each load-test run): the batch's retry lookup got a hash
        // join over a scan of all of `messages` that way, and kept it as the table grew, until
        // it was most of the repo's database time at 5,000 msg/s. A custom plan sees the
        // tables' current size, for tens of microseconds of planning per statement. The
        // append writers' own connections, which run a batch's statements many times a
        // second, plan once instead, with the plan's shape fixed ([`WRITER_SETTINGS`]).
        let options =
            PgConnectOptions::from_str(url)?.options([("plan_cache_mode", "force_custom_plan")]);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("../migrations/postgres").run(&pool).await?;
        let pools = PgPools {
            pool,
            held: Arc::default(),
        };
        let appends = Arc::new(AppendQueue::start(pools.clone(), APPEND_WRITERS));
        Ok(Self { pools, appends })
    }

    /// Stores the appends already queued (refusing new ones), then closes every connection,
    /// waiting for the ones in use to come back.
    pub async fn close(&self) {
        self.appends.close().await;
        let held: Vec<PgConnection> = self.pools.lock_held().drain(..).collect();
        for conn in held {
            let _ = conn.close().await;
        }
        self.pools.pool.close().await;
    }

    /// Where transactions and writes go (the one pool).
    fn writer(&self) -> &PgPool {
        self.pools.writer()
    }

    /// A write transaction (see [`PgPools::begin_write`]).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.pools.begin_write().await
    }

    /// Where plain reads go (the one pool; a read replica could go here later).
    fn reader(&self) -> &PgPool {
        &self.pools.pool
    }

    /// The group-commit queue message appends go through.
    fn appends(&self) -> &AppendQueue {
        &self.appends
    }
}

super::sql::impl_store!(PgStore, sqlx::Postgres);
super::sql::append::impl_append!(PgPools, PgStore, append_arrays);

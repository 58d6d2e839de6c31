//! The PostgreSQL store: the distributed form's database. The SQL lives in [`super::sql`];
//! this file only opens the pool and runs the migrations.

use super::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// Connections per repo process. A message append holds one for its whole transaction, so
/// this also caps how many appends run at once; PostgreSQL's default max_connections (100)
/// leaves room for several repo nodes.
const MAX_CONNECTIONS: u32 = 16;

/// A [`Store`](super::Store) on PostgreSQL, through one pool used for reads and writes alike.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`) and brings the schema up to date.
    /// Concurrent starts are safe: sqlx serializes migrations with an advisory lock.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("../migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Closes every connection, waiting for the ones in use to come back.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Where transactions and writes go (the one pool).
    fn writer(&self) -> &PgPool {
        &self.pool
    }

    /// A write transaction. PostgreSQL's row locks do the serializing; a plain BEGIN
    /// (READ COMMITTED) is what the shared SQL is written for.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    /// Where plain reads go (the one pool; a read replica could go here later).
    fn reader(&self) -> &PgPool {
        &self.pool
    }
}

super::sql::impl_store!(PgStore, sqlx::Postgres);

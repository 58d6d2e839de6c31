//! Fresh, isolated backing services for one test.

use anyhow::Context;
use sqlx::{Connection, PgConnection};

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const DEFAULT_REDIS: &str = "redis://127.0.0.1:6379";

/// A PostgreSQL database created for one test and dropped when it ends.
pub struct TestDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// Creates `natter_t_<random>` on the server named by `NATTER_TEST_DATABASE_URL`.
    pub async fn create() -> anyhow::Result<Self> {
        let admin_url =
            std::env::var("NATTER_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG.into());
        let mut admin = PgConnection::connect(&admin_url).await.with_context(|| {
            format!(
                "PostgreSQL is required for this test and is not reachable at {admin_url} \
                 (set NATTER_TEST_DATABASE_URL, or run scripts/test which starts it)"
            )
        })?;
        let name = format!("natter_t_{}", uuid::Uuid::new_v4().simple());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        // The database is the URL's path; a query (`?host=/run/postgresql`) is kept.
        let mut url = reqwest::Url::parse(&admin_url)
            .with_context(|| format!("NATTER_TEST_DATABASE_URL {admin_url:?} is not a URL"))?;
        url.set_path(&format!("/{name}"));
        let url = String::from(url);
        Ok(Self {
            url,
            admin_url,
            name,
        })
    }
}

impl Drop for TestDatabase {
    /// Drops the database (only ours: the name is random) on a thread of its own, since Drop
    /// cannot await and the test's runtime may be shutting down.
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut admin)
                    .await?;
                anyhow::Ok(())
            })
        })
        .join();
    }
}

/// The Redis server for tests (`NATTER_TEST_REDIS_URL`, default the local one).
pub fn redis_url() -> String {
    std::env::var("NATTER_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS.into())
}

/// A prefix no other test uses, for every key and channel of one test.
pub fn redis_prefix() -> String {
    format!("natter-t-{}:", uuid::Uuid::new_v4().simple())
}

//! Where a contract scenario runs: a fresh database per test, on either backend.
//!
//! SQLite gets a file in its own temporary folder. PostgreSQL gets a new database
//! `natter_t_<uuid>` created through the admin URL (`NATTER_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and dropped afterwards, pass or fail. An
//! unreachable PostgreSQL fails the test: a skipped backend would pass silently.

use natter_repo::store::postgres::PgStore;
use natter_repo::store::prelude::*;
use natter_repo::store::sqlite::SqliteStore;
use sqlx::{AssertSqlSafe, Connection, PgConnection, SqliteConnection};
use std::future::Future;
use std::sync::Arc;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One test's database: where it is, and what to remove at the end.
pub struct Fixture {
    backend: Backend,
    url: String,
    /// SQLite: the folder holding the file, deleted on drop.
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the admin URL and the database this fixture created (and only that one
    /// is ever dropped).
    created: Option<(String, String)>,
}

/// An open store, plus the concrete handle needed to close its pools.
pub struct Opened {
    pub store: Arc<dyn Store>,
    closer: Closer,
}

enum Closer {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Opened {
    /// Closes the pools, so the database can be reopened (SQLite) or dropped (PostgreSQL).
    pub async fn close(self) {
        drop(self.store);
        match self.closer {
            Closer::Sqlite(s) => s.close().await,
            Closer::Postgres(s) => s.close().await,
        }
    }
}

impl Fixture {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary folder");
                // A folder that does not exist yet: connect must create it.
                let path = dir.path().join("data").join("natter.db");
                Self {
                    backend,
                    url: format!("sqlite://{}", path.display()),
                    _dir: Some(dir),
                    created: None,
                }
            }
            Backend::Postgres => {
                let admin_url = std::env::var("NATTER_TEST_DATABASE_URL")
                    .unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
                let name = format!("natter_t_{}", uuid::Uuid::new_v4().simple());
                let mut admin = admin_connection(&admin_url).await;
                sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut admin)
                    .await
                    .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
                let _ = admin.close().await;
                Self {
                    backend,
                    url: with_database(&admin_url, &name),
                    _dir: None,
                    created: Some((admin_url, name)),
                }
            }
        }
    }

    /// Opens a store on this fixture's database (migrations run each time).
    pub async fn open(&self) -> Opened {
        match self.backend {
            Backend::Sqlite => {
                let s = SqliteStore::connect(&self.url)
                    .await
                    .expect("open SQLite store");
                Opened {
                    store: Arc::new(s.clone()),
                    closer: Closer::Sqlite(s),
                }
            }
            Backend::Postgres => {
                let s = PgStore::connect(&self.url)
                    .await
                    .expect("open PostgreSQL store");
                Opened {
                    store: Arc::new(s.clone()),
                    closer: Closer::Postgres(s),
                }
            }
        }
    }

    /// Runs one statement straight on the database, for state the trait cannot set yet (or
    /// read: member roles). Binds are text.
    pub async fn execute(&self, sql: &'static str, binds: &[&str]) -> u64 {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = SqliteConnection::connect(&self.url).await.expect("connect");
                let mut q = sqlx::query(sql);
                for b in binds {
                    q = q.bind(b.to_string());
                }
                q.execute(&mut conn).await.expect(sql).rows_affected()
            }
            Backend::Postgres => {
                let mut conn = PgConnection::connect(&self.url).await.expect("connect");
                let mut q = sqlx::query(sql);
                for b in binds {
                    q = q.bind(b.to_string());
                }
                q.execute(&mut conn).await.expect(sql).rows_affected()
            }
        }
    }

    /// Drops the PostgreSQL database this fixture created (best effort); the SQLite folder
    /// goes with the fixture.
    async fn cleanup(self) {
        if let Some((admin_url, name)) = &self.created
            && let Ok(mut admin) = PgConnection::connect(admin_url).await
        {
            let drop_sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            if let Err(e) = sqlx::query(AssertSqlSafe(drop_sql))
                .execute(&mut admin)
                .await
            {
                eprintln!("could not drop test database {name}: {e}");
            }
            let _ = admin.close().await;
        }
    }
}

async fn admin_connection(admin_url: &str) -> PgConnection {
    PgConnection::connect(admin_url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is unreachable at {admin_url}: {e}. The store contract suite runs on \
             both backends; start PostgreSQL or point NATTER_TEST_DATABASE_URL at one."
        )
    })
}

/// The admin URL with its database replaced by `db` (query parameters kept).
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    format!("{}/{db}{query}", &base[..path])
}

/// Runs a scenario on a fresh store, then closes it and removes the database, and only then
/// re-raises the scenario's panic.
pub async fn run<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    run_with_fixture(backend, |fixture| async move {
        let opened = fixture.open().await;
        let outcome = tokio::spawn(scenario(opened.store.clone())).await;
        opened.close().await;
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    })
    .await;
}

/// Like [`run`], for scenarios that open (and reopen) the store themselves.
pub async fn run_with_fixture<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(Arc<Fixture>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let fixture = Arc::new(Fixture::new(backend).await);
    let outcome = tokio::spawn(scenario(fixture.clone())).await;
    match Arc::try_unwrap(fixture) {
        Ok(fixture) => fixture.cleanup().await,
        Err(_) => eprintln!("fixture still shared: test database left behind"),
    }
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

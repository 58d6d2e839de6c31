//! Starting the stack under test, so a run is one command and the harness knows the server
//! pids (for memory and CPU figures): `embedded` is one `natter` process on SQLite in a temp
//! folder; `postgres` is a fresh database, a random Redis prefix, and repo, logic and K comet
//! processes. Everything is torn down at the end (SIGTERM, then SIGKILL), the database dropped
//! and the Redis keys under the prefix deleted; nothing shared is touched.
//!
//! Ports are picked by binding port 0 and releasing it just before the child binds it; the
//! child's output goes to a log file in the temp folder, shown when it fails to start.

use crate::config::{ServerSettings, SpawnKind};
use anyhow::{Context, bail};
use sqlx::{Connection, PgConnection};
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};
use tokio::process::{Child, Command};

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A server process whose memory and CPU are reported.
pub struct ServerProc {
    pub name: String,
    pub pid: u32,
    child: Option<Child>,
}

/// What the harness talks to, and what it has to clean up.
pub struct Deployment {
    pub urls: Vec<String>,
    pub procs: Vec<ServerProc>,
    /// "external", "embedded" or "postgres".
    pub kind: &'static str,
    database: Option<(String, String)>,
    redis: Option<(String, String)>,
    dir: Option<tempfile::TempDir>,
    /// Where the tiers' logs go (kept after the run), else the temp folder.
    log_dir: Option<PathBuf>,
}

impl Deployment {
    /// A running deployment at `urls`; `pids` are watched but never signalled.
    pub fn external(urls: Vec<String>, pids: &[u32]) -> Self {
        let procs = (pids.iter())
            .map(|&pid| ServerProc {
                name: format!("pid {pid}"),
                pid,
                child: None,
            })
            .collect();
        Self {
            urls,
            procs,
            kind: "external",
            database: None,
            redis: None,
            dir: None,
            log_dir: None,
        }
    }

    /// Starts the stack; on failure whatever did start is stopped again.
    pub async fn spawn(kind: SpawnKind, settings: &ServerSettings) -> anyhow::Result<Self> {
        let mut d = Self::external(Vec::new(), &[]);
        d.dir = Some(tempfile::Builder::new().prefix("natter-lt-").tempdir()?);
        if let Some(logs) = &settings.log_dir {
            std::fs::create_dir_all(logs)
                .with_context(|| format!("creating {}", logs.display()))?;
            d.log_dir = Some(logs.clone());
        }
        let bin = natter_bin(settings)?;
        let launched = match kind {
            SpawnKind::Embedded => {
                d.kind = "embedded";
                d.embedded(&bin, settings).await
            }
            SpawnKind::Postgres => {
                d.kind = "postgres";
                d.postgres(&bin, settings).await
            }
        };
        match launched {
            Ok(()) => Ok(d),
            Err(err) => {
                if let Err(e) = d.stop().await {
                    eprintln!("natter-loadtest: cleanup after a failed start: {e:#}");
                }
                Err(err)
            }
        }
    }

    fn dir(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new("."), |d| d.path())
    }

    fn log_file(&self, name: &str) -> PathBuf {
        (self.log_dir.as_deref())
            .unwrap_or(self.dir())
            .join(format!("{name}.log"))
    }

    async fn embedded(&mut self, bin: &Path, s: &ServerSettings) -> anyhow::Result<()> {
        let port = free_port()?;
        let mut args = vec![
            "--http-addr".into(),
            format!("127.0.0.1:{port}"),
            "--data-dir".into(),
            self.dir().join("data").display().to_string(),
        ];
        args.extend(comet_args(s));
        self.start("natter", bin, &args, &[])?;
        let url = format!("http://127.0.0.1:{port}");
        self.wait_http(&url).await?;
        self.urls.push(url);
        Ok(())
    }

    async fn postgres(&mut self, bin: &Path, s: &ServerSettings) -> anyhow::Result<()> {
        let name = format!("natter_lt_{}", uuid::Uuid::new_v4().simple());
        let db_url = create_database(&s.pg_admin_url, &name).await?;
        self.database = Some((s.pg_admin_url.clone(), name));
        let prefix = format!("natter-lt-{}:", uuid::Uuid::new_v4().simple());
        self.redis = Some((s.redis_url.clone(), prefix.clone()));
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let env = [
            ("NATTER_SERVICE_TOKEN", token),
            ("REDIS_URL", s.redis_url.clone()),
            ("NATTER_REDIS_PREFIX", prefix),
            ("DATABASE_URL", db_url),
        ];
        let repo_port = free_port()?;
        let repo = vec!["repo".into(), "--grpc-addr".into(), local(repo_port)];
        self.start("repo", bin, &repo, &env)?;
        self.wait_tcp(repo_port).await?;
        let logic_port = free_port()?;
        let key = self.dir().join("jwt.pem").display().to_string();
        let logic = vec![
            "logic".into(),
            "--grpc-addr".into(),
            local(logic_port),
            "--repo-url".into(),
            format!("http://{}", local(repo_port)),
            "--jwt-key-file".into(),
            key,
        ];
        self.start("logic", bin, &logic, &env)?;
        self.wait_tcp(logic_port).await?;
        for i in 0..s.comets.max(1) {
            let port = free_port()?;
            let mut comet = vec![
                "comet".into(),
                "--http-addr".into(),
                local(port),
                "--logic-url".into(),
                format!("http://{}", local(logic_port)),
                "--node-id".into(),
                format!("comet-lt-{i}-{}", uuid::Uuid::new_v4().simple()),
            ];
            comet.extend(comet_args(s));
            self.start(&format!("comet-{i}"), bin, &comet, &env)?;
            let url = format!("http://{}", local(port));
            self.wait_http(&url).await?;
            self.urls.push(url);
        }
        Ok(())
    }

    fn start(
        &mut self,
        name: &str,
        bin: &Path,
        args: &[String],
        env: &[(&str, String)],
    ) -> anyhow::Result<()> {
        let log_path = self.log_file(name);
        let log = std::fs::File::create(&log_path)?;
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env(
                "NATTER_LOG",
                std::env::var("NATTER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group: a Ctrl-C at the terminal reaches the harness only, which
            // then stops the tiers in order (comets first) instead of all at once.
            .process_group(0)
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id().context("child has no pid")?;
        self.procs.push(ServerProc {
            name: name.to_owned(),
            pid,
            child: Some(child),
        });
        Ok(())
    }

    /// Fails (with the log's tail) if the last process started has exited.
    fn check_alive(&mut self) -> anyhow::Result<()> {
        let Some(log) = self.procs.last().map(|p| self.log_file(&p.name)) else {
            return Ok(());
        };
        let Some(p) = self.procs.last_mut() else {
            return Ok(());
        };
        if let Some(Ok(Some(status))) = p.child.as_mut().map(Child::try_wait) {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!("{} exited with {status}:\n{}", p.name, tail.join("\n"));
        }
        Ok(())
    }

    /// Waits until `url` answers HTTP (any status: the router is serving).
    async fn wait_http(&mut self, url: &str) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.check_alive()?;
            if http.get(format!("{url}/v1/chats")).send().await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{url} did not answer within {START_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until something listens on 127.0.0.1:`port`.
    async fn wait_tcp(&mut self, port: u16) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.check_alive()?;
            if tokio::net::TcpStream::connect(local(port)).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("nothing listened on port {port} within {START_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops what was spawned (comets first), drops the database, deletes the Redis keys.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        for p in self.procs.iter_mut().rev() {
            if let Some(child) = p.child.as_mut() {
                terminate(child, p.pid).await;
            }
        }
        let mut result = Ok(());
        if let Some((admin, name)) = self.database.take() {
            result = drop_database(&admin, &name)
                .await
                .with_context(|| format!("dropping database {name}"));
        }
        if let Some((url, prefix)) = self.redis.take()
            && let Err(e) = delete_keys(&url, &prefix).await
        {
            eprintln!("natter-loadtest: deleting Redis keys {prefix}*: {e:#}");
        }
        result
    }
}

/// SIGTERM (graceful shutdown), then SIGKILL after 10 s.
async fn terminate(child: &mut Child, pid: u32) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    // `kill` the command: sending a signal from Rust needs unsafe code or another crate.
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await;
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

fn comet_args(s: &ServerSettings) -> Vec<String> {
    let mut args = vec!["--ws-rate".into(), s.ws_rate.to_string()];
    if let Some(h) = s.heartbeat_secs {
        args.extend(["--heartbeat-secs".into(), h.to_string()]);
    }
    if let Some(q) = s.outbound_queue {
        args.extend(["--outbound-queue".into(), q.to_string()]);
    }
    args
}

fn local(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// `--natter-bin`, else target/release/natter, else target/debug/natter (from the current
/// folder, then from the workspace this harness was built in).
fn natter_bin(s: &ServerSettings) -> anyhow::Result<PathBuf> {
    if let Some(bin) = &s.natter_bin {
        return Ok(bin.clone());
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let candidates = ["target/release/natter", "target/debug/natter"];
    (candidates.iter())
        .map(PathBuf::from)
        .chain(candidates.iter().map(|c| workspace.join(c)))
        .find(|p| p.is_file())
        .context(
            "no natter binary: build one (cargo build --release --bin natter) or pass --natter-bin",
        )
}

async fn create_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let mut admin = PgConnection::connect(admin_url)
        .await
        .with_context(|| format!("PostgreSQL is not reachable at {admin_url}"))?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .with_context(|| format!("creating database {name}"))?;
    database_url(admin_url, name)
}

/// `admin_url` with its database (the URL's path) replaced by `name`, and the rest kept: a
/// query such as `?host=/run/postgresql` (a Unix socket) or `?sslmode=require` too, which
/// cutting at the last `/` broke.
fn database_url(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let mut url = reqwest::Url::parse(admin_url)
        .with_context(|| format!("the PostgreSQL admin URL {admin_url:?} is not a URL"))?;
    url.set_path(&format!("/{name}"));
    Ok(url.into())
}

async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = PgConnection::connect(admin_url).await?;
    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut admin)
        .await?;
    Ok(())
}

/// Deletes every key under `prefix` (SCAN + DEL; never anything else).
async fn delete_keys(url: &str, prefix: &str) -> anyhow::Result<()> {
    let client = redis::Client::open(url)?;
    let mut con = client.get_multiplexed_async_connection().await?;
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut con)
            .await?;
        if !keys.is_empty() {
            redis::cmd("DEL")
                .arg(&keys)
                .query_async::<()>(&mut con)
                .await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use super::database_url;

    #[test]
    fn the_database_url_swaps_the_database_and_keeps_the_rest() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "lt").unwrap(),
            "postgres://postgres@127.0.0.1:5432/lt"
        );
        assert_eq!(
            database_url(
                "postgres://postgres@localhost/postgres?host=/var/run/postgresql",
                "lt"
            )
            .unwrap(),
            "postgres://postgres@localhost/lt?host=/var/run/postgresql"
        );
        assert_eq!(
            database_url("postgres://u:p@db:5432?sslmode=require", "lt").unwrap(),
            "postgres://u:p@db:5432/lt?sslmode=require"
        );
    }
}

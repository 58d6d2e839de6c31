//! The distributed form as separate processes, the way it is deployed: `natter repo`,
//! `natter logic` and several `natter comet` nodes, on a fresh PostgreSQL database, sharing a
//! Redis under a random prefix. Nodes can be killed (SIGKILL: no goodbye) and started again, and
//! a cluster may get a Redis server of its own, so a test can stop and restart Redis without
//! touching the one other tests share.

use anyhow::{Context, bail};
use natter_testkit::{Api, TestDatabase, redis_prefix, redis_url};
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};
use tokio::process::{Child, Command};

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A Redis server started for one test on a random port; killed when dropped.
pub struct OwnRedis {
    pub port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    pub async fn start() -> anyhow::Result<Self> {
        let mut redis = Self {
            port: free_port()?,
            child: None,
        };
        redis.restart().await?;
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server; everything it held is gone (it keeps nothing on disk).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts the server again on the same port, and waits until it answers.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no", "--loglevel", "warning"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("redis-server is required for this test (install Redis; see README)")?;
        self.child = Some(child);
        wait_tcp(self.port).await
    }
}

/// A running cluster. Comet node `i` keeps its port across restarts.
pub struct Cluster {
    pub db: TestDatabase,
    pub redis_url: String,
    prefix: String,
    token: String,
    dir: tempfile::TempDir,
    logic_port: u16,
    comet_ports: Vec<u16>,
    comets: Vec<Option<Child>>,
    tiers: Vec<Tier>,
    comet_args: Vec<String>,
}

/// The repo or logic process, with what it takes to start it again.
struct Tier {
    name: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    port: u16,
    child: Option<Child>,
}

impl Cluster {
    /// Starts repo, logic and `comets` comet nodes; `comet_args` are extra flags for each node.
    pub async fn start(
        comets: usize,
        redis: Option<&OwnRedis>,
        comet_args: &[&str],
    ) -> anyhow::Result<Self> {
        natter_testkit::init_tracing();
        let db = TestDatabase::create().await?;
        let mut cluster = Self {
            db,
            redis_url: redis.map_or_else(redis_url, OwnRedis::url),
            prefix: redis_prefix(),
            token: format!("svc-{}", uuid::Uuid::new_v4().simple()),
            dir: tempfile::tempdir()?,
            logic_port: 0,
            comet_ports: Vec::new(),
            comets: Vec::new(),
            tiers: Vec::new(),
            comet_args: comet_args.iter().map(|s| s.to_string()).collect(),
        };
        let repo_port = free_port()?;
        cluster.logic_port = free_port()?;
        let key = cluster.dir.path().join("jwt.pem");
        let repo_url = format!("http://{}", local(repo_port));
        let tiers = [
            (
                "repo",
                repo_port,
                vec!["repo"],
                vec![("DATABASE_URL", cluster.db.url.clone())],
            ),
            (
                "logic",
                cluster.logic_port,
                vec![
                    "logic",
                    "--repo-url",
                    &repo_url,
                    "--jwt-key-file",
                    &key.to_str().unwrap(),
                ],
                vec![],
            ),
        ];
        for (name, port, args, env) in tiers {
            let mut args: Vec<String> = args.into_iter().map(String::from).collect();
            args.extend(["--grpc-addr".into(), local(port)]);
            cluster.tiers.push(Tier {
                name,
                args,
                env,
                port,
                child: None,
            });
            cluster.start_tier(name).await?;
        }
        for _ in 0..comets {
            cluster.comet_ports.push(free_port()?);
            cluster.comets.push(None);
        }
        for i in 0..comets {
            cluster.start_comet(i).await?;
        }
        Ok(cluster)
    }

    pub fn nodes(&self) -> usize {
        self.comet_ports.len()
    }

    pub fn api(&self, i: usize) -> Api {
        Api::new(format!("http://{}", local(self.comet_ports[i])))
    }

    pub fn ws(&self, i: usize) -> String {
        format!("ws://{}", local(self.comet_ports[i]))
    }

    /// Stops the `name` tier ("repo" or "logic") gracefully (SIGTERM: it finishes in-flight
    /// calls) and starts it again on the same port.
    pub async fn restart_tier(&mut self, name: &str) -> anyhow::Result<()> {
        let tier = self
            .tiers
            .iter_mut()
            .find(|t| t.name == name)
            .context("no such tier")?;
        if let Some(mut child) = tier.child.take() {
            let pid = child.id().context("tier already exited")?;
            // `kill` the command: sending a signal from Rust needs unsafe code or another crate.
            Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await?;
            tokio::time::timeout(Duration::from_secs(20), child.wait())
                .await
                .context("tier did not stop within 20 s of SIGTERM")??;
        }
        self.start_tier(name).await
    }

    async fn start_tier(&mut self, name: &str) -> anyhow::Result<()> {
        let tier = self
            .tiers
            .iter()
            .find(|t| t.name == name)
            .context("no such tier")?;
        let args: Vec<&str> = tier.args.iter().map(String::as_str).collect();
        let (port, env) = (tier.port, tier.env.clone());
        let child = self.spawn(name, &args, &env)?;
        let tier = self
            .tiers
            .iter_mut()
            .find(|t| t.name == name)
            .context("no such tier")?;
        tier.child = Some(child);
        wait_tcp(port).await
    }

    /// Kills comet node `i` with SIGKILL: its sockets drop without a close frame.
    pub async fn kill_comet(&mut self, i: usize) {
        if let Some(mut child) = self.comets[i].take() {
            let _ = child.kill().await;
        }
    }

    /// Starts comet node `i` (again) on its port and waits until it serves.
    pub async fn start_comet(&mut self, i: usize) -> anyhow::Result<()> {
        let port = self.comet_ports[i];
        let mut args: Vec<String> = vec![
            "comet".into(),
            "--http-addr".into(),
            local(port),
            "--logic-url".into(),
            format!("http://{}", local(self.logic_port)),
            "--node-id".into(),
            format!("comet-{i}-{}", uuid::Uuid::new_v4().simple()),
        ];
        args.extend(self.comet_args.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let child = self.spawn(&format!("comet-{i}"), &args, &[])?;
        self.comets[i] = Some(child);
        wait_http(&format!("http://{}/v1/openapi.json", local(port))).await
    }

    fn spawn(&self, name: &str, args: &[&str], env: &[(&str, String)]) -> anyhow::Result<Child> {
        let log = self.log(name);
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_natter"));
        cmd.args(args)
            .env("NATTER_SERVICE_TOKEN", &self.token)
            .env("REDIS_URL", &self.redis_url)
            .env("NATTER_REDIS_PREFIX", &self.prefix)
            .env("NATTER_LOG", "info,natter_comet=debug")
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.spawn()
            .with_context(|| format!("starting natter {name}"))
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    /// The last lines each tier logged, for a failing test's message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        names.sort();
        for path in names
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
        {
            out.push_str(&format!("==> {} <==\n{}\n", path.display(), tail(path)));
        }
        out
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn local(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

async fn wait_tcp(port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    while tokio::net::TcpStream::connect(local(port)).await.is_err() {
        if Instant::now() > deadline {
            bail!("nothing listens on port {port} after {START_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn wait_http(url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    let client = reqwest::Client::new();
    loop {
        if let Ok(res) = client.get(url).send().await
            && res.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{url} did not answer within {START_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

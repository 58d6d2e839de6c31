//! Spawns the real tiers on random ports, the way `natter` runs them, for either backend:
//! the embedded default (one process, SQLite, in-process bus) or the distributed form (repo,
//! logic and several comet nodes talking gRPC, PostgreSQL and Redis). Listeners are bound before
//! the tiers start, so no test waits on a sleep.

#![allow(dead_code)]

use natter::stack::{self, Shared};
use natter_comet::CometConfig;
use natter_logic::LogicConfig;
use natter_proto::ServiceToken;
use natter_testkit::{Api, TestDatabase, redis_prefix, redis_url};
use std::{net::SocketAddr, path::PathBuf};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Backend {
    Embedded,
    Postgres,
}

/// A running stack. Comet nodes are numbered; the embedded stack has one, and asking it for
/// node `i` gives that one, so a scenario written for several nodes runs on both backends.
pub struct Stack {
    pub backend: Backend,
    comets: Vec<SocketAddr>,
    shutdown: CancellationToken,
    handles: Vec<JoinHandle<anyhow::Result<()>>>,
    dir: tempfile::TempDir,
    db: Option<TestDatabase>,
    shared: Option<Shared>,
    pub logic_addr: Option<SocketAddr>,
    logic_config: LogicConfig,
}

async fn bind() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let addr = l.local_addr().unwrap();
    (l, addr)
}

impl Stack {
    pub async fn start(backend: Backend, comets: usize) -> Stack {
        Self::start_with(backend, comets, |_| {}).await
    }

    /// `tune` adjusts each comet node's config (short timeouts for timing tests).
    pub async fn start_with(
        backend: Backend,
        comets: usize,
        tune: impl Fn(&mut CometConfig),
    ) -> Stack {
        Self::start_tuned(backend, comets, tune, LogicConfig::default()).await
    }

    /// A stack whose logic tier runs with `logic` (policy switches).
    pub async fn start_with_logic(backend: Backend, comets: usize, logic: LogicConfig) -> Stack {
        Self::start_tuned(backend, comets, |_| {}, logic).await
    }

    async fn start_tuned(
        backend: Backend,
        comets: usize,
        tune: impl Fn(&mut CometConfig),
        logic_config: LogicConfig,
    ) -> Stack {
        natter_testkit::init_tracing();
        let dir = tempfile::tempdir().expect("temp dir");
        let (db, shared) = match backend {
            Backend::Embedded => (None, None),
            Backend::Postgres => {
                let db = TestDatabase::create()
                    .await
                    .expect("fresh PostgreSQL database");
                let shared = Shared {
                    redis_url: redis_url(),
                    redis_prefix: redis_prefix(),
                    token: ServiceToken::generate(),
                };
                (Some(db), Some(shared))
            }
        };
        let mut stack = Stack {
            backend,
            comets: Vec::new(),
            shutdown: CancellationToken::new(),
            handles: Vec::new(),
            dir,
            db,
            shared,
            logic_addr: None,
            logic_config,
        };
        stack.launch(comets, &tune).await;
        stack
    }

    async fn launch(&mut self, comets: usize, tune: &dyn Fn(&mut CometConfig)) {
        let shutdown = self.shutdown.clone();
        match self.backend {
            Backend::Embedded => {
                let (listener, addr) = bind().await;
                let mut config = CometConfig::default();
                tune(&mut config);
                let data = self.data_dir();
                let (s, logic) = (shutdown.clone(), self.logic_config.clone());
                self.handles.push(tokio::spawn(async move {
                    stack::embedded(&data, listener, config, logic, s).await
                }));
                self.comets = vec![addr];
                self.logic_addr = Some(addr);
            }
            Backend::Postgres => {
                let shared = self.shared.clone().unwrap();
                let url = self.db.as_ref().unwrap().url.clone();
                let (repo_l, repo_addr) = bind().await;
                let (logic_l, logic_addr) = bind().await;
                let (sh, s) = (shared.clone(), shutdown.clone());
                self.handles.push(tokio::spawn(async move {
                    stack::repo(&url, &sh, repo_l, s).await
                }));
                let key = self.data_dir().join("jwt.pem");
                let (sh, s) = (shared.clone(), shutdown.clone());
                let logic = self.logic_config.clone();
                self.handles.push(tokio::spawn(async move {
                    let repo_url = format!("http://{repo_addr}");
                    stack::logic(&repo_url, &key, logic, &sh, logic_l, s).await
                }));
                self.comets.clear();
                for i in 0..comets {
                    let (l, addr) = bind().await;
                    let mut config = CometConfig {
                        node_id: format!("comet-{i}-{}", uuid::Uuid::new_v4().simple()),
                        ..CometConfig::default()
                    };
                    tune(&mut config);
                    let (sh, s) = (shared.clone(), shutdown.clone());
                    let logic_url = format!("http://{logic_addr}");
                    self.handles.push(tokio::spawn(async move {
                        stack::comet(&logic_url, config, &sh, l, s).await
                    }));
                    self.comets.push(addr);
                }
                self.logic_addr = Some(logic_addr);
            }
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// REST client of comet node `i`.
    pub fn api(&self, i: usize) -> Api {
        Api::new(format!("http://{}", self.comets[i % self.comets.len()]))
    }

    /// The `authorization` value a trusted backend service presents (distributed form only: the
    /// embedded stack keeps its credential to itself).
    pub fn service_bearer(&self) -> Option<String> {
        let shared = self.shared.as_ref()?;
        Some(shared.token.bearer().to_str().ok()?.to_owned())
    }

    /// `ws://host:port` of comet node `i`.
    pub fn ws(&self, i: usize) -> String {
        format!("ws://{}", self.comets[i % self.comets.len()])
    }

    /// Stops every tier (graceful shutdown) and waits for them to finish.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        for h in self.handles.drain(..) {
            h.await
                .expect("tier task")
                .expect("tier exited with an error");
        }
    }

    /// Stops and starts every tier again on the same database (and data folder).
    pub async fn restart(&mut self) {
        let comets = self.comets.len();
        self.stop().await;
        self.shutdown = CancellationToken::new();
        self.launch(comets, &|_| {}).await;
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Runs one scenario on both backends: `embedded_<name>` and `postgres_<name>`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::common::Backend::Embedded).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::common::Backend::Postgres).await;
                }
            )*
        }
    };
}

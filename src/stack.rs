//! Putting tiers together: the embedded default (everything in one process) and each tier on
//! its own for the distributed form. Each function takes an already-bound listener (tests bind
//! port 0 first, so nothing ever sleeps waiting for a server) and a shutdown token.

use anyhow::Context;
use natter_comet::{Comet, CometConfig};
use natter_logic::{Logic, LogicConfig, SigningKeys};
use natter_proto::{ServiceToken, Transport, channel_transport, local_transport, retrying};
use natter_realtime::{Bus, MemoryBus, MemoryPresence, Presence, RedisBus, RedisPresence};
use natter_repo::{RepoService, store};
use std::{path::Path, sync::Arc, time::Duration};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// How long a presence entry lives without a refresh from its comet node: a crashed node's
/// users show offline within this.
pub const PRESENCE_TTL: Duration = Duration::from_secs(60);

/// All three tiers in this process on SQLite in `data_dir` and the in-process bus and presence.
/// REST, WebSocket and the logic tier's gRPC services share `listener`.
pub async fn embedded(
    data_dir: &Path,
    listener: TcpListener,
    comet: CometConfig,
    logic_config: LogicConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data folder {}", data_dir.display()))?;
    let db = data_dir.join("natter.db");
    let store = store::open(&format!("sqlite://{}", db.display()))
        .await
        .with_context(|| format!("opening {}", db.display()))?;
    let presence: Arc<dyn Presence> = Arc::new(MemoryPresence::new(PRESENCE_TTL));
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    // Every tier is in this process: the credential only has to be unguessable from outside.
    let token = ServiceToken::generate();
    let repo = natter_repo::routes(RepoService::new(store, presence), &token);
    let keys = SigningKeys::load_or_create(&data_dir.join("jwt-ed25519.pem"))?;
    // One comet node: a fan-out needs no presence lookup to know where to go. The repo is in
    // this process: an append call costs too little to be worth waiting to share one.
    let logic_config = LogicConfig {
        broadcast_over: 0,
        batch_appends: false,
        ..logic_config
    };
    let logic = Logic::new(
        logic_config,
        keys,
        local_transport(repo, &token),
        bus.clone(),
    );
    let logic_routes = natter_logic::routes(logic.clone(), &token);
    let publishes = logic.clone();
    let tasks = TaskTracker::new();
    // Logic is in this process too: a send call is as cheap as an append call.
    let comet = CometConfig {
        batch_sends: false,
        ..comet
    };
    let comet = Comet::start(
        comet,
        local_transport(logic_routes.clone(), &token),
        bus,
        shutdown.clone(),
        tasks.clone(),
    )
    .await?;
    let (grpc, reporter) = crate::serve::with_health_and_reflection(logic_routes);
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let router = comet.router(Some(grpc.into_axum_router()));
    let signal = shutdown.clone();
    crate::serve::http(listener, router, async move {
        signal.cancelled().await;
        // Open message streams never end by themselves: end them so the drain can finish.
        logic.close_streams();
    })
    .await?;
    publishes.finish_publishing(crate::serve::DRAIN).await;
    drain(tasks).await;
    Ok(())
}

/// Where the distributed tiers find their shared services.
#[derive(Debug, Clone)]
pub struct Shared {
    pub redis_url: String,
    /// Namespaces every Redis key and channel, so deployments (or tests) can share a Redis.
    pub redis_prefix: String,
    pub token: ServiceToken,
}

/// The repo tier: `database_url` (PostgreSQL, or SQLite) and Redis presence, gRPC on `listener`.
pub async fn repo(
    database_url: &str,
    shared: &Shared,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = store::open(database_url)
        .await
        .context("opening the database")?;
    let presence: Arc<dyn Presence> = Arc::new(
        RedisPresence::connect(&shared.redis_url, &shared.redis_prefix, PRESENCE_TTL)
            .await
            .context("connecting to Redis")?,
    );
    let routes = natter_repo::routes(RepoService::new(store, presence), &shared.token);
    crate::serve::grpc(listener, routes, async move { shutdown.cancelled().await }).await?;
    Ok(())
}

/// The logic tier: signs tokens with the key at `key_file` (created if missing), reaches the
/// repo tier at `repo_url`, publishes fan-out on Redis; gRPC on `listener`.
pub async fn logic(
    repo_url: &str,
    key_file: &Path,
    config: LogicConfig,
    shared: &Shared,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let keys = SigningKeys::load_or_create(key_file)?;
    let repo = connect(repo_url, &shared.token)?;
    let bus: Arc<dyn Bus> = Arc::new(
        RedisBus::connect(&shared.redis_url, &shared.redis_prefix)
            .await
            .context("connecting to Redis")?,
    );
    let logic = Logic::new(config, keys, repo, bus);
    let routes = natter_logic::routes(logic.clone(), &shared.token);
    let closing = logic.clone();
    crate::serve::grpc(listener, routes, async move {
        shutdown.cancelled().await;
        // Open message streams never end by themselves: end them so the drain can finish.
        closing.close_streams();
    })
    .await?;
    logic.finish_publishing(crate::serve::DRAIN).await;
    Ok(())
}

/// A comet node: reaches logic at `logic_url`, receives its pushes from Redis; HTTP on `listener`.
pub async fn comet(
    logic_url: &str,
    config: CometConfig,
    shared: &Shared,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let logic = connect(logic_url, &shared.token)?;
    let bus: Arc<dyn Bus> = Arc::new(
        RedisBus::connect(&shared.redis_url, &shared.redis_prefix)
            .await
            .context("connecting to Redis")?,
    );
    let tasks = TaskTracker::new();
    let comet = Comet::start(config, logic, bus, shutdown.clone(), tasks.clone()).await?;
    tracing::info!(node_id = comet.node_id(), "comet node started");
    // comet serves no gRPC API of its own, but answers the standard health check on its port
    // (NOT_SERVING once shutdown begins), like the other tiers.
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let health = tonic::service::Routes::new(health).into_axum_router();
    let router = comet.router(Some(health));

    let signal = async move {
        shutdown.cancelled().await;
        health_reporter
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
    };
    crate::serve::http(listener, router, signal).await?;
    drain(tasks).await;
    Ok(())
}

/// A lazily connecting channel to a tier at `url`: the first call connects, a restarted peer is
/// reconnected to by itself, and calls made while it is down wait for it (a few seconds).
fn connect(url: &str, token: &ServiceToken) -> anyhow::Result<Transport> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())
        .with_context(|| format!("bad tier URL {url:?}"))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30));
    Ok(retrying(channel_transport(endpoint.connect_lazy(), token)))
}

async fn drain(tasks: TaskTracker) {
    tasks.close();
    if tokio::time::timeout(crate::serve::DRAIN, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("background tasks did not stop in time");
    }
}

//! `natter`: with no subcommand, the whole messenger in one process on SQLite; with one, a
//! single tier against PostgreSQL and Redis. The command line only parses and calls the library.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use natter::stack::{self, Shared};
use natter_comet::CometConfig;
use natter_logic::LogicConfig;
use natter_proto::ServiceToken;
use std::{net::SocketAddr, path::PathBuf, time::Duration};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Natter, a messenger backend: WebSocket + REST for clients, gRPC for services.
///
/// With no subcommand it runs every tier in this process on an embedded SQLite database, ready
/// to use: no PostgreSQL or Redis needed.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Where clients connect: REST, WebSocket (/v1/ws) and gRPC on one port.
    #[arg(long, env = "NATTER_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    http_addr: SocketAddr,
    /// Folder for the SQLite database and the token signing key (created if missing).
    #[arg(long, env = "NATTER_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    #[command(flatten)]
    comet: CometArgs,
    #[command(flatten)]
    logic: LogicArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the repo tier (persistence and presence) against PostgreSQL and Redis.
    Repo {
        /// Where the repo tier serves gRPC.
        #[arg(long, env = "NATTER_GRPC_ADDR", default_value = "127.0.0.1:50052")]
        grpc_addr: SocketAddr,
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        #[command(flatten)]
        shared: SharedArgs,
    },
    /// Run the logic tier (auth, rules, fan-out).
    Logic {
        /// Where the logic tier serves gRPC (clients' backend services connect here too).
        #[arg(long, env = "NATTER_GRPC_ADDR", default_value = "127.0.0.1:50051")]
        grpc_addr: SocketAddr,
        /// The repo tier's address.
        #[arg(
            long,
            env = "NATTER_REPO_URL",
            default_value = "http://127.0.0.1:50052"
        )]
        repo_url: String,
        /// The Ed25519 private key (PKCS#8 PEM) that signs access tokens; created if missing.
        /// Every logic instance must use the same key.
        #[arg(
            long,
            env = "NATTER_JWT_KEY_FILE",
            default_value = "./data/jwt-ed25519.pem"
        )]
        jwt_key_file: PathBuf,
        #[command(flatten)]
        logic: LogicArgs,
        #[command(flatten)]
        shared: SharedArgs,
    },
    /// Run a comet node (WebSocket sessions and the REST API).
    Comet {
        /// Where clients connect: REST and WebSocket (/v1/ws).
        #[arg(long, env = "NATTER_HTTP_ADDR", default_value = "127.0.0.1:8080")]
        http_addr: SocketAddr,
        /// The logic tier's address.
        #[arg(
            long,
            env = "NATTER_LOGIC_URL",
            default_value = "http://127.0.0.1:50051"
        )]
        logic_url: String,
        /// This node's unique name on the bus (default: a random one).
        #[arg(long, env = "NATTER_NODE_ID")]
        node_id: Option<String>,
        #[command(flatten)]
        comet: CometArgs,
        #[command(flatten)]
        shared: SharedArgs,
    },
    /// Apply the database migrations and exit (they also run when a tier starts).
    Migrate {
        /// postgres://... or sqlite://path
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
    },
}

#[derive(Args)]
struct SharedArgs {
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Prefix of every Redis key and channel, so deployments can share one Redis.
    #[arg(long, env = "NATTER_REDIS_PREFIX", default_value = "natter:")]
    redis_prefix: String,
    /// The secret every tier presents to the others; the same on all of them.
    #[arg(long, env = "NATTER_SERVICE_TOKEN", hide_env_values = true)]
    service_token: String,
}

#[derive(Args)]
struct CometArgs {
    /// Seconds between server pings; a socket silent for two periods is closed.
    #[arg(long, env = "NATTER_HEARTBEAT_SECS", default_value_t = 25)]
    heartbeat_secs: u64,
    /// Frames queued per socket before pushes are dropped and the socket told to resync.
    #[arg(long, env = "NATTER_OUTBOUND_QUEUE", default_value_t = 256)]
    outbound_queue: usize,
    /// Requests per second one socket may make.
    #[arg(long, env = "NATTER_WS_RATE", default_value_t = 50)]
    ws_rate: u32,
}

#[derive(Args)]
struct LogicArgs {
    /// Only friends may open a direct chat or write in one (default: anyone not blocked).
    #[arg(long, env = "NATTER_DIRECT_REQUIRES_FRIENDSHIP")]
    direct_requires_friendship: bool,
    /// Milliseconds a user's presence must hold still before friends and fellow members get a
    /// `presence` push (a connection that flaps within it pushes nothing).
    #[arg(long, env = "NATTER_PRESENCE_SETTLE_MS", default_value_t = 2_000)]
    presence_settle_ms: u64,
    /// A fan-out to more users than this goes once to every comet node, which each push to
    /// the ones they hold, instead of being routed by a presence lookup. 0 broadcasts every
    /// fan-out: the cheaper choice with a few comet nodes. The embedded mode always uses 0.
    #[arg(long, env = "NATTER_BROADCAST_OVER", default_value_t = natter_logic::BROADCAST_OVER)]
    broadcast_over: usize,
}

impl LogicArgs {
    fn config(&self) -> LogicConfig {
        LogicConfig {
            direct_requires_friendship: self.direct_requires_friendship,
            presence_settle: Duration::from_millis(self.presence_settle_ms),
            broadcast_over: self.broadcast_over,
            ..LogicConfig::default()
        }
    }
}

impl CometArgs {
    fn config(&self, node_id: Option<String>) -> CometConfig {
        let mut config = CometConfig {
            heartbeat: Duration::from_secs(self.heartbeat_secs.max(1)),
            outbound_queue: self.outbound_queue.max(1),
            requests_per_second: self.ws_rate,
            ..CometConfig::default()
        };
        if let Some(id) = node_id {
            config.node_id = id;
        }
        config
    }
}

impl SharedArgs {
    fn shared(self) -> Shared {
        Shared {
            redis_url: self.redis_url,
            redis_prefix: self.redis_prefix,
            token: ServiceToken::new(self.service_token),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NATTER_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn,tower=warn,h2=warn,hyper=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let shutdown = CancellationToken::new();
    tokio::spawn(on_signal(shutdown.clone()));
    match cli.command {
        None => {
            let listener = bind(cli.http_addr).await?;
            println!(
                "natter is listening on http://{} (WebSocket ws://{}/v1/ws); data in {}",
                cli.http_addr,
                cli.http_addr,
                cli.data_dir.display()
            );
            let (comet, logic) = (cli.comet.config(None), cli.logic.config());
            stack::embedded(&cli.data_dir, listener, comet, logic, shutdown).await
        }
        Some(Command::Repo {
            grpc_addr,
            database_url,
            shared,
        }) => {
            let listener = bind(grpc_addr).await?;
            println!("natter repo is serving gRPC on {grpc_addr}");
            stack::repo(&database_url, &shared.shared(), listener, shutdown).await
        }
        Some(Command::Logic {
            grpc_addr,
            repo_url,
            jwt_key_file,
            logic,
            shared,
        }) => {
            let listener = bind(grpc_addr).await?;
            println!("natter logic is serving gRPC on {grpc_addr}");
            stack::logic(
                &repo_url,
                &jwt_key_file,
                logic.config(),
                &shared.shared(),
                listener,
                shutdown,
            )
            .await
        }
        Some(Command::Comet {
            http_addr,
            logic_url,
            node_id,
            comet,
            shared,
        }) => {
            let listener = bind(http_addr).await?;
            println!("natter comet is listening on http://{http_addr} (WebSocket /v1/ws)");
            let config = comet.config(node_id);
            stack::comet(&logic_url, config, &shared.shared(), listener, shutdown).await
        }
        Some(Command::Migrate { database_url }) => {
            natter_repo::store::open(&database_url).await?;
            println!("migrations applied");
            Ok(())
        }
    }
}

/// Listens with a backlog of [`BACKLOG`] (tokio's `bind` asks for 1,024): when a node restarts,
/// its thousands of clients reconnect within a second, and a full accept queue drops their SYNs
/// into a retransmit that waits a second or more.
async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listen = || -> std::io::Result<TcpListener> {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(BACKLOG)
    };
    listen().with_context(|| format!("cannot listen on {addr}"))
}

/// The kernel caps it at `net.core.somaxconn` (4,096 on current Linux).
const BACKLOG: u32 = 4096;

/// Ctrl-C or SIGTERM starts a graceful shutdown; a second one exits at once.
async fn on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down: closing sockets, finishing in-flight requests");
    shutdown.cancel();
    let _ = tokio::signal::ctrl_c().await;
    std::process::exit(130);
}

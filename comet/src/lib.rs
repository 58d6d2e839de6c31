//! Natter's comet tier: holds the WebSocket sessions and serves the public REST API on one
//! HTTP port.
//!
//! comet has no business rules and no database: it authenticates (verifying access tokens itself
//! with logic's public key), forwards every request to logic over gRPC with the caller's
//! identity, keeps each user's sockets in a concurrent map ([`registry`]), and writes what the bus
//! delivers to those sockets ([`push`]). Connection layering follows mini-redis: the socket task
//! ([`ws`]) owns the socket, frames are parsed once, each method is a small handler.

mod api;
pub mod config;
mod error;
mod http;
mod logic;
mod outbox;
mod push;
pub mod registry;
mod sends;
mod ws;

pub use config::CometConfig;
pub use error::ApiError;

use natter_proto::{Transport, access::Verifier, logic::Empty};
use natter_realtime::Bus;
use std::{sync::Arc, time::Duration};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// Everything a request handler or socket task needs, shared by reference.
#[derive(Clone)]
pub(crate) struct AppState {
    inner: Arc<Shared>,
}

pub(crate) struct Shared {
    pub config: CometConfig,
    pub logic: logic::LogicClients,
    /// Messages sent by concurrent sockets and REST calls, sent to logic together.
    pub sends: sends::Sends,
    pub verifier: Verifier,
    pub registry: registry::Registry,
    /// Held for the node's lifetime: a bus's subscriptions end when the bus is dropped.
    pub _bus: Arc<dyn Bus>,
    /// Cancelled when the node shuts down: every socket closes with 1001.
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.inner
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CometError {
    #[error("logic tier unreachable: {0}")]
    Logic(tonic::Status),
    #[error("logic's verifying key is unusable: {0}")]
    Key(String),
    #[error("bus: {0}")]
    Bus(#[from] natter_realtime::RealtimeError),
}

/// A started comet node: serve [`Comet::router`] on a listener; cancel `shutdown` to stop.
pub struct Comet {
    state: AppState,
}

impl Comet {
    /// Fetches logic's verifying key (retrying while logic starts), subscribes to this node's bus
    /// channel and starts the push dispatcher and presence heartbeat on `tasks`.
    pub async fn start(
        config: CometConfig,
        logic: Transport,
        bus: Arc<dyn Bus>,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) -> Result<Self, CometError> {
        let logic = logic::LogicClients::new(logic);
        let key = fetch_key(&logic).await?;
        let verifier =
            Verifier::from_public_pem(&key).map_err(|e| CometError::Key(e.to_string()))?;
        let subscription = bus.subscribe(&config.node_id).await?;
        let sends = sends::Sends::start(
            sends::LogicSends(logic.messages.clone()),
            config.batch_sends,
        );
        let state = AppState {
            inner: Arc::new(Shared {
                config,
                logic,
                sends,
                verifier,
                registry: registry::Registry::default(),
                _bus: bus,
                shutdown,
                tasks,
            }),
        };
        push::start(state.clone(), subscription);
        ws::close_on_shutdown(state.clone());
        Ok(Self { state })
    }

    /// The REST and WebSocket routes of this node, with `extra` routes served beside them.
    pub fn router(&self, extra: Option<axum::Router>) -> axum::Router {
        http::router(self.state.clone(), extra)
    }

    /// Closes every socket with 1001 and stops the node's tasks.
    pub fn shutdown(&self) {
        self.state.shutdown.cancel();
    }

    pub fn node_id(&self) -> &str {
        &self.state.config.node_id
    }
}

async fn fetch_key(logic: &logic::LogicClients) -> Result<String, CometError> {
    let mut delay = Duration::from_millis(100);
    let mut attempts = 0;
    loop {
        match logic.auth.clone().get_verifying_key(Empty {}).await {
            Ok(key) => return Ok(key.into_inner().public_key_pem),
            Err(status) if attempts < 30 => {
                tracing::info!(%status, "waiting for the logic tier");
                attempts += 1;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(status) => return Err(CometError::Logic(status)),
        }
    }
}

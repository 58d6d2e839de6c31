//! Natter's logic tier: the rules behind `im.logic.v1`.
//!
//! It authenticates callers ([`caller`]), checks what they may do, asks the repo tier to store
//! or fetch, and after a write that others must see publishes the fan-out on the bus
//! ([`fanout`]): one bus message per comet node that holds recipients. It keeps no state between
//! calls, so any number can run side by side (even presence pushes, [`presence_notify`], keep
//! what they announced in the shared presence store).

mod appends;
mod background;
mod breaker;
mod caller;
pub mod config;
mod convert;
mod error;
mod fanout;
pub mod keys;
mod lookups;
mod passwords;
mod presence_notify;
mod repo;
mod revocations;
mod sequencer;
mod services;
mod stream;
mod validate;

pub use caller::Caller;
pub use config::LogicConfig;
pub use error::LogicError;
pub use fanout::BROADCAST_OVER;
pub use keys::SigningKeys;

use natter_proto::{
    ServiceToken, Transport,
    logic::{
        auth_service_server::AuthServiceServer,
        conversation_service_server::ConversationServiceServer,
        friend_service_server::FriendServiceServer, group_service_server::GroupServiceServer,
        message_service_server::MessageServiceServer,
        presence_service_server::PresenceServiceServer, user_service_server::UserServiceServer,
    },
};
use natter_realtime::Bus;
use std::sync::Arc;
use tokio_util::sync::{CancellationToken, DropGuard};
use tonic::service::Routes;

/// The logic tier's handlers: one value serves every `im.logic.v1` service.
#[derive(Clone)]
pub struct Logic {
    inner: Arc<Inner>,
}

struct Inner {
    config: LogicConfig,
    keys: SigningKeys,
    repo: repo::Repo,
    /// Message appends of concurrent sends, stored through one repo call.
    appends: appends::Appends,
    fanout: fanout::Fanout,
    revocations: Arc<revocations::Revocations>,
    /// Stops the revocation polling when the last handle of this Logic is dropped.
    _stop_polling: DropGuard,
    /// Live messages for `StreamMessages`, over the same bus.
    streams: stream::Streams,
    /// One turn per conversation from storing a message to publishing it.
    sequencer: sequencer::Sequencer,
    /// Publishes that run after their send has answered.
    background: background::Background,
    /// Settles presence reports into `presence` pushes.
    presence_notify: presence_notify::PresenceNotify,
}

impl Logic {
    /// `repo` reaches the repo tier (in this process or not); `bus` carries fan-out to comets.
    pub fn new(config: LogicConfig, keys: SigningKeys, repo: Transport, bus: Arc<dyn Bus>) -> Self {
        let repo = repo::Repo::new(repo);
        let appends = appends::Appends::start(
            appends::RepoAppends(repo.messages.clone()),
            config.batch_appends,
        );
        let breaker = Arc::<breaker::Breaker>::default();
        let fanout = fanout::Fanout::new(repo.presence.clone(), bus.clone(), breaker.clone())
            .broadcast_over(config.broadcast_over);
        let streams = stream::Streams::new(bus, breaker);
        let revocations = Arc::new(revocations::Revocations::new(config.access_ttl));
        let stop = CancellationToken::new();
        revocations::spawn_refresh(revocations.clone(), repo.sessions.clone(), stop.clone());
        let presence_notify = presence_notify::PresenceNotify::start(
            config.presence_settle,
            config.presence_sweep,
            config.fanout_timeout,
            repo.clone(),
            fanout.clone(),
            stop.child_token(),
        );
        Self {
            inner: Arc::new(Inner {
                config,
                keys,
                appends,
                repo,
                fanout,
                revocations,
                _stop_polling: stop.drop_guard(),
                streams,
                sequencer: sequencer::Sequencer::default(),
                background: background::Background::default(),
                presence_notify,
            }),
        }
    }

    /// Ends every open `StreamMessages` call with UNAVAILABLE (clients resume from their last
    /// seq). Call it when shutdown begins: a stream never ends by itself, so the server's drain
    /// would otherwise wait for it.
    pub fn close_streams(&self) {
        self.inner.streams.close();
    }

    /// Waits (at most `limit`) for the publishes of messages already stored and acknowledged,
    /// so that a restart does not swallow their pushes. Call it once the server has drained.
    pub async fn finish_publishing(&self, limit: std::time::Duration) {
        self.inner.background.drain(limit).await;
    }
}

/// Every logic service behind the caller interceptor, ready to serve over gRPC or to be used
/// in-process as a [`Transport`].
pub fn routes(logic: Logic, token: &ServiceToken) -> Routes {
    let auth = caller::interceptor(
        logic.inner.keys.verifier(),
        token.clone(),
        logic.inner.revocations.clone(),
    );
    Routes::new(AuthServiceServer::with_interceptor(
        logic.clone(),
        auth.clone(),
    ))
    .add_service(ConversationServiceServer::with_interceptor(
        logic.clone(),
        auth.clone(),
    ))
    .add_service(GroupServiceServer::with_interceptor(
        logic.clone(),
        auth.clone(),
    ))
    .add_service(MessageServiceServer::with_interceptor(
        logic.clone(),
        auth.clone(),
    ))
    .add_service(UserServiceServer::with_interceptor(
        logic.clone(),
        auth.clone(),
    ))
    .add_service(FriendServiceServer::with_interceptor(
        logic.clone(),
        auth.clone(),
    ))
    .add_service(PresenceServiceServer::with_interceptor(logic, auth))
}

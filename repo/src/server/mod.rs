//! The gRPC face of the repo tier: one handler struct serving every `im.repo.v1` service, each
//! service in its own module. Store errors become statuses in exactly one place, [`status`].

mod conversations;
mod friends;
mod messages;
mod presence;
mod sessions;
mod users;

use crate::store::{StoreError, prelude::*};
use natter_proto::{
    ServiceToken,
    repo::{
        conversation_store_server::ConversationStoreServer, friend_store_server::FriendStoreServer,
        message_store_server::MessageStoreServer, presence_store_server::PresenceStoreServer,
        session_store_server::SessionStoreServer, user_store_server::UserStoreServer,
    },
};
use natter_realtime::Presence;
use std::sync::Arc;
use tonic::{Response, Status, service::Routes};

/// Serves storage and presence to the other tiers.
#[derive(Clone)]
pub struct RepoService {
    store: Arc<dyn Store>,
    presence: Arc<dyn Presence>,
}

impl RepoService {
    pub fn new(store: Arc<dyn Store>, presence: Arc<dyn Presence>) -> Self {
        Self { store, presence }
    }
}

/// Every repo service, each behind the service-credential check, ready to serve or to be used
/// in-process as a [`natter_proto::Transport`].
pub fn routes(service: RepoService, token: &ServiceToken) -> Routes {
    let auth = token.require();
    Routes::new(UserStoreServer::with_interceptor(
        service.clone(),
        auth.clone(),
    ))
    .add_service(SessionStoreServer::with_interceptor(
        service.clone(),
        auth.clone(),
    ))
    .add_service(ConversationStoreServer::with_interceptor(
        service.clone(),
        auth.clone(),
    ))
    .add_service(MessageStoreServer::with_interceptor(
        service.clone(),
        auth.clone(),
    ))
    .add_service(FriendStoreServer::with_interceptor(
        service.clone(),
        auth.clone(),
    ))
    .add_service(PresenceStoreServer::with_interceptor(service, auth))
}

/// The one place a store error becomes a gRPC status. Database errors are logged with their
/// cause and reach the caller as an opaque INTERNAL.
pub(crate) fn status(err: StoreError) -> Status {
    match err {
        StoreError::NotFound(what) => Status::not_found(format!("{what} not found")),
        StoreError::AlreadyExists(field) => Status::already_exists(field),
        StoreError::NotMember => Status::failed_precondition("not a member"),
        StoreError::FailedPrecondition(msg) => Status::failed_precondition(msg),
        // Shutting down: another repo node (or this one, restarted) can take the call. A query
        // that meets the pool already closed is the same moment seen from a read.
        StoreError::Closed | StoreError::Database(sqlx::Error::PoolClosed) => {
            Status::unavailable("storage closing")
        }
        other => {
            tracing::error!(error = %other, "store failure");
            Status::internal("storage failure")
        }
    }
}

pub(crate) fn reply<T>(result: Result<T, StoreError>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn a_closing_store_is_unavailable_not_a_failure() {
        for err in [
            StoreError::Closed,
            StoreError::Database(sqlx::Error::PoolClosed),
        ] {
            assert_eq!(status(err).code(), Code::Unavailable);
        }
    }

    #[test]
    fn store_errors_map_to_the_documented_codes() {
        assert_eq!(status(StoreError::NotFound("user")).code(), Code::NotFound);
        assert_eq!(
            status(StoreError::AlreadyExists("email")).message(),
            "email"
        );
        assert_eq!(
            status(StoreError::NotMember).code(),
            Code::FailedPrecondition
        );
        let internal = status(StoreError::Config("secret detail".into()));
        assert_eq!(internal.code(), Code::Internal);
        assert!(!internal.message().contains("secret"));
    }
}

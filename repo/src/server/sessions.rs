use super::{RepoService, reply};
use natter_proto::repo::{
    CreateSessionRequest, Empty, ListRevokedSessionsRequest, ListRevokedSessionsResponse,
    RevokeUserSessionsResponse, RotateRefreshTokenRequest, RotateRefreshTokenResponse, Session,
    SessionRef, UserRef, session_store_server::SessionStore,
};
use tonic::{Request, Response, Status};

#[tonic::async_trait]
impl SessionStore for RepoService {
    async fn create_session(
        &self,
        req: Request<CreateSessionRequest>,
    ) -> Result<Response<Empty>, Status> {
        reply(
            self.store
                .create_session(req.into_inner())
                .await
                .map(|()| Empty {}),
        )
    }

    async fn rotate_refresh_token(
        &self,
        req: Request<RotateRefreshTokenRequest>,
    ) -> Result<Response<RotateRefreshTokenResponse>, Status> {
        reply(self.store.rotate_refresh_token(req.into_inner()).await)
    }

    async fn revoke_session(&self, req: Request<SessionRef>) -> Result<Response<Empty>, Status> {
        let id = req.into_inner().session_id;
        reply(self.store.revoke_session(&id).await.map(|()| Empty {}))
    }

    async fn revoke_user_sessions(
        &self,
        req: Request<UserRef>,
    ) -> Result<Response<RevokeUserSessionsResponse>, Status> {
        let revoked = self
            .store
            .revoke_user_sessions(&req.into_inner().user_id)
            .await;
        reply(revoked.map(|session_ids| RevokeUserSessionsResponse { session_ids }))
    }

    async fn get_session(&self, req: Request<SessionRef>) -> Result<Response<Session>, Status> {
        reply(self.store.get_session(&req.into_inner().session_id).await)
    }

    async fn list_revoked_sessions(
        &self,
        req: Request<ListRevokedSessionsRequest>,
    ) -> Result<Response<ListRevokedSessionsResponse>, Status> {
        let sessions = self.store.list_revoked_sessions(req.into_inner()).await;
        reply(sessions.map(|sessions| ListRevokedSessionsResponse { sessions }))
    }
}

use super::RepoService;
use natter_proto::repo::{
    Empty, Flag, ListAnnouncedRequest, ListAnnouncedResponse, LookupRequest, LookupResponse,
    MarkAnnouncedRequest, PresenceUpdate, UserNodes, presence_store_server::PresenceStore,
};
use natter_realtime::RealtimeError;
use tonic::{Request, Response, Status};

/// Presence failures are transient (Redis away): the caller may retry.
fn unavailable(err: RealtimeError) -> Status {
    tracing::warn!(error = %err, "presence backend failure");
    Status::unavailable("presence backend unavailable")
}

#[tonic::async_trait]
impl PresenceStore for RepoService {
    async fn set_online(&self, req: Request<PresenceUpdate>) -> Result<Response<Empty>, Status> {
        let req = req.into_inner();
        self.presence
            .set_online(&req.node_id, &req.user_ids)
            .await
            .map_err(unavailable)?;
        Ok(Response::new(Empty {}))
    }

    async fn set_offline(&self, req: Request<PresenceUpdate>) -> Result<Response<Empty>, Status> {
        let req = req.into_inner();
        self.presence
            .set_offline(&req.node_id, &req.user_ids)
            .await
            .map_err(unavailable)?;
        Ok(Response::new(Empty {}))
    }

    async fn lookup(
        &self,
        req: Request<LookupRequest>,
    ) -> Result<Response<LookupResponse>, Status> {
        let found = self
            .presence
            .lookup(&req.into_inner().user_ids)
            .await
            .map_err(unavailable)?;
        let online = found
            .into_iter()
            .map(|(user_id, node_ids)| UserNodes { user_id, node_ids })
            .collect();
        Ok(Response::new(LookupResponse { online }))
    }

    async fn mark_announced(
        &self,
        req: Request<MarkAnnouncedRequest>,
    ) -> Result<Response<Flag>, Status> {
        let req = req.into_inner();
        let value = self
            .presence
            .mark_announced(&req.user_id, req.online)
            .await
            .map_err(unavailable)?;
        Ok(Response::new(Flag { value }))
    }

    async fn list_announced(
        &self,
        req: Request<ListAnnouncedRequest>,
    ) -> Result<Response<ListAnnouncedResponse>, Status> {
        let (user_ids, next_cursor) = self
            .presence
            .announced(req.into_inner().cursor)
            .await
            .map_err(unavailable)?;
        Ok(Response::new(ListAnnouncedResponse {
            user_ids,
            next_cursor,
        }))
    }
}

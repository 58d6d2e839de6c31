use crate::{Caller, LogicError};
use natter_proto::{
    logic::{
        ConnectionEvent, Empty, GetOnlineStatusRequest, GetOnlineStatusResponse,
        NodeHeartbeatRequest, OnlineStatus, presence_service_server::PresenceService,
    },
    repo::{LookupRequest, PresenceUpdate},
};
use std::collections::HashSet;
use tonic::{Request, Response, Status};

const MAX_BATCH: usize = 1_000;

impl crate::Logic {
    async fn presence_update(
        &self,
        online: bool,
        node_id: String,
        user_ids: Vec<String>,
    ) -> Result<(), LogicError> {
        if node_id.is_empty() {
            return Err(LogicError::invalid("node_id is required"));
        }
        let update = PresenceUpdate { node_id, user_ids };
        let mut presence = self.inner.repo.presence.clone();
        let result = if online {
            presence.set_online(update).await
        } else {
            presence.set_offline(update).await
        };
        result.map(|_| ()).map_err(LogicError::upstream)
    }
}

#[tonic::async_trait]
impl PresenceService for crate::Logic {
    async fn get_online_status(
        &self,
        req: Request<GetOnlineStatusRequest>,
    ) -> Result<Response<GetOnlineStatusResponse>, Status> {
        let caller = Caller::of(&req);
        if !caller.service {
            caller.user()?;
        }
        let user_ids = req.into_inner().user_ids;
        if user_ids.len() > MAX_BATCH {
            return Err(LogicError::invalid("at most 1000 user_ids per call").into());
        }
        let found = self
            .inner
            .repo
            .presence
            .clone()
            .lookup(LookupRequest {
                user_ids: user_ids.clone(),
            })
            .await
            .map_err(LogicError::upstream)?
            .into_inner();
        let online: HashSet<_> = found.online.into_iter().map(|u| u.user_id).collect();
        let statuses = user_ids
            .into_iter()
            .map(|user_id| OnlineStatus {
                online: online.contains(&user_id),
                user_id,
            })
            .collect();
        Ok(Response::new(GetOnlineStatusResponse { statuses }))
    }

    async fn connected(&self, req: Request<ConnectionEvent>) -> Result<Response<Empty>, Status> {
        Caller::of(&req).require_service()?;
        let ev = req.into_inner();
        let user_id = ev.user_id.clone();
        self.presence_update(true, ev.node_id, vec![ev.user_id])
            .await?;
        self.inner.presence_notify.changed(&user_id);
        Ok(Response::new(Empty {}))
    }

    async fn disconnected(&self, req: Request<ConnectionEvent>) -> Result<Response<Empty>, Status> {
        Caller::of(&req).require_service()?;
        let ev = req.into_inner();
        let user_id = ev.user_id.clone();
        self.presence_update(false, ev.node_id, vec![ev.user_id])
            .await?;
        self.inner.presence_notify.changed(&user_id);
        Ok(Response::new(Empty {}))
    }

    async fn node_heartbeat(
        &self,
        req: Request<NodeHeartbeatRequest>,
    ) -> Result<Response<Empty>, Status> {
        Caller::of(&req).require_service()?;
        let hb = req.into_inner();
        self.presence_update(true, hb.node_id, hb.user_ids).await?;
        Ok(Response::new(Empty {}))
    }
}

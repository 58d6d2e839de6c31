use super::{RepoService, reply};
use natter_proto::repo::{
    AppendMessageRequest, AppendMessageResponse, GetMessageForRequest, GetMessageRequest,
    ListMessagesRequest, ListMessagesResponse, Message, MessageFor, ReplayMessagesRequest,
    SyncMessagesRequest, message_store_server::MessageStore,
};
use tonic::{Request, Response, Status};

#[tonic::async_trait]
impl MessageStore for RepoService {
    async fn append_message(
        &self,
        req: Request<AppendMessageRequest>,
    ) -> Result<Response<AppendMessageResponse>, Status> {
        reply(self.store.append_message(req.into_inner()).await)
    }

    async fn list_messages(
        &self,
        req: Request<ListMessagesRequest>,
    ) -> Result<Response<ListMessagesResponse>, Status> {
        reply(self.store.list_messages(req.into_inner()).await)
    }

    async fn sync_messages(
        &self,
        req: Request<SyncMessagesRequest>,
    ) -> Result<Response<ListMessagesResponse>, Status> {
        reply(self.store.sync_messages(req.into_inner()).await)
    }

    async fn get_message(
        &self,
        req: Request<GetMessageRequest>,
    ) -> Result<Response<Message>, Status> {
        let req = req.get_ref();
        reply(
            self.store
                .get_message(&req.conversation_id, &req.message_id)
                .await,
        )
    }

    /// The store stamps the deletion time itself: the RPC carries no clock, and the first
    /// deletion's time is the one kept.
    async fn delete_message(
        &self,
        req: Request<GetMessageRequest>,
    ) -> Result<Response<Message>, Status> {
        let req = req.get_ref();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or_default();
        reply(
            self.store
                .delete_message(&req.conversation_id, &req.message_id, now)
                .await,
        )
    }

    async fn get_message_for(
        &self,
        req: Request<GetMessageForRequest>,
    ) -> Result<Response<MessageFor>, Status> {
        reply(self.store.get_message_for(req.into_inner()).await)
    }

    async fn replay_messages(
        &self,
        req: Request<ReplayMessagesRequest>,
    ) -> Result<Response<ListMessagesResponse>, Status> {
        reply(self.store.replay_messages(req.into_inner()).await)
    }
}

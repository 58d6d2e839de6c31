use super::{RepoService, reply};
use natter_proto::repo::{
    AppendMessageRequest, AppendMessageResponse, ListMessagesRequest, ListMessagesResponse,
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
}

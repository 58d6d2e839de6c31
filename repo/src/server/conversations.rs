use super::{RepoService, reply};
use natter_proto::repo::{
    Conversation, CreateGroupRequest, GetConversationRequest, GetOrCreateDirectRequest,
    GetOrCreateDirectResponse, ListConversationsRequest, ListConversationsResponse,
    SetReadSeqRequest, SetReadSeqResponse, conversation_store_server::ConversationStore,
};
use tonic::{Request, Response, Status};

#[tonic::async_trait]
impl ConversationStore for RepoService {
    async fn get_or_create_direct(
        &self,
        req: Request<GetOrCreateDirectRequest>,
    ) -> Result<Response<GetOrCreateDirectResponse>, Status> {
        reply(self.store.get_or_create_direct(req.into_inner()).await)
    }

    async fn create_group(
        &self,
        req: Request<CreateGroupRequest>,
    ) -> Result<Response<Conversation>, Status> {
        reply(self.store.create_group(req.into_inner()).await)
    }

    async fn get_conversation(
        &self,
        req: Request<GetConversationRequest>,
    ) -> Result<Response<Conversation>, Status> {
        let req = req.into_inner();
        let viewer = Some(req.viewer_id.as_str()).filter(|v| !v.is_empty());
        reply(
            self.store
                .get_conversation(&req.conversation_id, viewer)
                .await,
        )
    }

    async fn list_conversations(
        &self,
        req: Request<ListConversationsRequest>,
    ) -> Result<Response<ListConversationsResponse>, Status> {
        reply(self.store.list_conversations(req.into_inner()).await)
    }

    async fn set_read_seq(
        &self,
        req: Request<SetReadSeqRequest>,
    ) -> Result<Response<SetReadSeqResponse>, Status> {
        let req = req.into_inner();
        let read = self
            .store
            .set_read_seq(&req.conversation_id, &req.user_id, req.seq)
            .await;
        reply(read.map(|read_seq| SetReadSeqResponse { read_seq }))
    }
}

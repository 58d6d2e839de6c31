use super::{RepoService, reply};
use natter_proto::repo::{
    AddMembersRequest, Conversation, CreateGroupRequest, Empty, GetConversationRequest,
    GetOrCreateDirectRequest, GetOrCreateDirectResponse, GroupChange, ListContactsRequest,
    ListContactsResponse, ListConversationsRequest, ListConversationsResponse, ListMembersRequest,
    ListMembersResponse, ListUserGroupsRequest, Member, MemberRef, RemoveMemberRequest,
    SetMemberRoleRequest, SetReadSeqRequest, SetReadSeqResponse, UpdateConversationRequest,
    conversation_store_server::ConversationStore,
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

    async fn update_conversation(
        &self,
        req: Request<UpdateConversationRequest>,
    ) -> Result<Response<GroupChange>, Status> {
        reply(self.store.update_group(req.into_inner()).await)
    }

    async fn add_members(
        &self,
        req: Request<AddMembersRequest>,
    ) -> Result<Response<GroupChange>, Status> {
        reply(self.store.add_members(req.into_inner()).await)
    }

    async fn remove_member(
        &self,
        req: Request<RemoveMemberRequest>,
    ) -> Result<Response<GroupChange>, Status> {
        reply(self.store.remove_member(req.into_inner()).await)
    }

    async fn set_member_role(
        &self,
        req: Request<SetMemberRoleRequest>,
    ) -> Result<Response<GroupChange>, Status> {
        reply(self.store.set_member_role(req.into_inner()).await)
    }

    async fn get_member(&self, req: Request<MemberRef>) -> Result<Response<Member>, Status> {
        let req = req.into_inner();
        reply(
            self.store
                .get_member(&req.conversation_id, &req.user_id)
                .await,
        )
    }

    async fn list_members(
        &self,
        req: Request<ListMembersRequest>,
    ) -> Result<Response<ListMembersResponse>, Status> {
        reply(self.store.list_members(req.into_inner()).await)
    }

    async fn set_hidden(&self, req: Request<MemberRef>) -> Result<Response<Empty>, Status> {
        let req = req.into_inner();
        let hidden = self
            .store
            .set_hidden(&req.conversation_id, &req.user_id)
            .await;
        reply(hidden.map(|()| Empty {}))
    }

    async fn list_user_groups(
        &self,
        req: Request<ListUserGroupsRequest>,
    ) -> Result<Response<ListConversationsResponse>, Status> {
        reply(self.store.list_user_groups(req.into_inner()).await)
    }

    async fn list_contacts(
        &self,
        req: Request<ListContactsRequest>,
    ) -> Result<Response<ListContactsResponse>, Status> {
        let req = req.into_inner();
        let limit = i64::from(req.limit.clamp(1, MAX_CONTACTS));
        let found = self
            .store
            .list_contacts(&req.user_id, i64::from(req.max_group_members), limit)
            .await;
        reply(found.map(|user_ids| ListContactsResponse { user_ids }))
    }
}

/// The most ids one `ListContacts` answers.
const MAX_CONTACTS: i32 = 20_000;

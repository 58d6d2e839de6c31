use super::groups::{Patch, cursor, page_limit};
use super::{not_found_as, now_ms};
use crate::{Caller, LogicError, convert, validate};
use natter_proto::{
    bus::Push,
    json,
    logic::{
        Conversation, ConversationRef, CreateDirectRequest, CreateDirectResponse, Empty,
        ListConversationsRequest, ListConversationsResponse, ListParticipantsRequest,
        ListParticipantsResponse, MarkReadRequest, MarkReadResponse, UpdateConversationRequest,
        conversation_service_server::ConversationService,
    },
    repo::{
        self, GetConversationRequest, GetOrCreateDirectRequest, GetUsersRequest, MemberRef,
        SetReadSeqRequest,
    },
};
use tonic::{Code, Request, Response, Status};

#[tonic::async_trait]
impl ConversationService for crate::Logic {
    async fn create_direct(
        &self,
        req: Request<CreateDirectRequest>,
    ) -> Result<Response<CreateDirectResponse>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let other = validate::id(&req.get_ref().participant_id, "participant_id")?;
        if other == me.id {
            return Err(LogicError::invalid("a direct chat needs another participant").into());
        }
        let mut users = self.inner.repo.users.clone();
        let found = users
            .get_users(GetUsersRequest {
                user_ids: vec![other.to_owned()],
            })
            .await
            .map_err(LogicError::upstream)?
            .into_inner();
        if !found.users.iter().any(|u| u.user_id == other && !u.deleted) {
            return Err(LogicError::NotFound("user not found").into());
        }
        // Blocks (and, when configured, friendship) gate direct chats.
        self.check_direct_pair(me.id, other).await?;
        let out = self
            .inner
            .repo
            .conversations
            .clone()
            .get_or_create_direct(GetOrCreateDirectRequest {
                conversation_id: convert::new_id(),
                user_id: me.id.to_owned(),
                other_user_id: other.to_owned(),
                now: now_ms(),
            })
            .await
            .map_err(LogicError::upstream)?
            .into_inner();
        let id = out
            .conversation
            .map(|c| c.conversation_id)
            .ok_or_else(|| LogicError::Internal("repo returned no conversation".into()))?;
        let conversation = self.fetch_for(&id, me.id).await?;
        Ok(Response::new(CreateDirectResponse {
            conversation: Some(conversation),
            created: out.created,
        }))
    }

    async fn list_conversations(
        &self,
        req: Request<ListConversationsRequest>,
    ) -> Result<Response<ListConversationsResponse>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let req = req.get_ref();
        if req.limit < 0 || req.limit > 200 {
            return Err(LogicError::invalid("limit must be between 1 and 200").into());
        }
        let page = self
            .inner
            .repo
            .conversations
            .clone()
            .list_conversations(repo::ListConversationsRequest {
                user_id: me.id.to_owned(),
                limit: req.limit,
                cursor: req.cursor.clone().filter(|c| !c.is_empty()),
                groups_only: false,
            })
            .await
            .map_err(|s| match s.code() {
                Code::InvalidArgument => LogicError::invalid("cursor is not valid"),
                _ => LogicError::upstream(s),
            })?
            .into_inner();
        Ok(Response::new(ListConversationsResponse {
            conversations: page
                .conversations
                .into_iter()
                .map(convert::conversation)
                .collect(),
            next_cursor: page.next_cursor,
            total_unread: page.total_unread,
        }))
    }

    async fn get_conversation(
        &self,
        req: Request<ConversationRef>,
    ) -> Result<Response<Conversation>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let id = validate::id(&req.get_ref().conversation_id, "conversation_id")?;
        self.member_view(id, me.id).await?;
        let conv = self.fetch_for(id, me.id).await?;
        Ok(Response::new(conv))
    }

    async fn mark_read(
        &self,
        req: Request<MarkReadRequest>,
    ) -> Result<Response<MarkReadResponse>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let req = req.get_ref();
        let id = validate::id(&req.conversation_id, "conversation_id")?;
        if req.seq < 0 {
            return Err(LogicError::invalid("seq must not be negative").into());
        }
        let conv = self.member_view(id, me.id).await?;
        let before = self.fetch_for(id, me.id).await?.read_seq;
        let read_seq = self
            .inner
            .repo
            .conversations
            .clone()
            .set_read_seq(SetReadSeqRequest {
                conversation_id: id.to_owned(),
                user_id: me.id.to_owned(),
                seq: req.seq,
            })
            .await
            .map_err(not_found_as("conversation not found"))?
            .into_inner()
            .read_seq;
        if read_seq > before {
            let data = serde_json::json!({
                "conversation_id": id, "user_id": me.id, "seq": read_seq,
            });
            let push = Push {
                frame: json::push_frame("read", &data).into(),
                exclude_connection_id: String::new(),
                conversation_id: String::new(),
                seq: 0,
            };
            let recipients = Self::others(&conv, me.id);
            let timeout = self.inner.config.fanout_timeout;
            self.inner.fanout.push(recipients, push, timeout).await;
        }
        Ok(Response::new(MarkReadResponse { read_seq }))
    }

    /// A group's name and avatar, by its owner or an admin; a direct chat has neither.
    async fn update_conversation(
        &self,
        req: Request<UpdateConversationRequest>,
    ) -> Result<Response<Conversation>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let req = req.get_ref();
        let id = validate::id(&req.conversation_id, "conversation_id")?;
        let patch = Patch {
            name: req.name.as_deref().map(validate::group_name).transpose()?,
            avatar_url: req
                .avatar_url
                .as_deref()
                .map(super::groups::avatar_url)
                .transpose()?,
            ..Patch::default()
        };
        let conv = self.member_view(id, me.id).await?;
        if conv.kind != "group" {
            return Err(LogicError::FailedPrecondition(
                "a direct chat has no name or avatar to change".into(),
            )
            .into());
        }
        Ok(Response::new(self.update_group_as(me.id, id, patch).await?))
    }

    /// Hidden from the caller's chat list until the conversation's next message.
    async fn hide_conversation(
        &self,
        req: Request<ConversationRef>,
    ) -> Result<Response<Empty>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let id = validate::id(&req.get_ref().conversation_id, "conversation_id")?;
        self.member_view(id, me.id).await?;
        self.inner
            .repo
            .conversations
            .clone()
            .set_hidden(MemberRef {
                conversation_id: id.to_owned(),
                user_id: me.id.to_owned(),
            })
            .await
            .map_err(not_found_as("conversation not found"))?;
        Ok(Response::new(Empty {}))
    }

    /// Members with their roles, for members of the conversation.
    async fn list_participants(
        &self,
        req: Request<ListParticipantsRequest>,
    ) -> Result<Response<ListParticipantsResponse>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let req = req.get_ref();
        let id = validate::id(&req.conversation_id, "conversation_id")?;
        let limit = page_limit(req.limit)?;
        let after = cursor(req.cursor.as_deref())?;
        self.member_view(id, me.id).await?;
        let (members, next_cursor) = self.members_page(id, limit, after).await?;
        Ok(Response::new(ListParticipantsResponse {
            members,
            next_cursor,
        }))
    }
}

impl crate::Logic {
    /// The conversation as `viewer` sees it (their read pointer, unread count).
    pub(crate) async fn fetch_for(
        &self,
        id: &str,
        viewer: &str,
    ) -> Result<Conversation, LogicError> {
        let conv = self
            .inner
            .repo
            .conversations
            .clone()
            .get_conversation(GetConversationRequest {
                conversation_id: id.to_owned(),
                viewer_id: viewer.to_owned(),
            })
            .await
            .map_err(not_found_as("conversation not found"))?
            .into_inner();
        Ok(convert::conversation(conv))
    }
}

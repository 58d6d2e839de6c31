use super::now_ms;
use crate::{Caller, LogicError, convert, validate};
use natter_proto::{
    bus::Push,
    json::{self, MessageJson},
    logic::{
        Empty, ListMessagesRequest, ListMessagesResponse, MessageType, SendMessageRequest,
        SendMessageResponse, SyncMessagesRequest, TypingRequest,
        message_service_server::MessageService,
    },
    repo::{self, AppendMessageRequest},
};
use std::collections::HashMap;
use tonic::{Code, Request, Response, Status};

const DEFAULT_PAGE: i32 = 50;
const MAX_PAGE: i32 = 100;

/// A page size the client asked for: 0 means the default; more than the maximum is an error
/// rather than a silent clamp, so the client learns the bound.
fn page(limit: i32) -> Result<i32, LogicError> {
    match limit {
        0 => Ok(DEFAULT_PAGE),
        1..=MAX_PAGE => Ok(limit),
        _ => Err(LogicError::invalid("limit must be between 1 and 100")),
    }
}

fn check_metadata(metadata: &HashMap<String, String>) -> Result<String, LogicError> {
    if metadata.len() > validate::MAX_METADATA_ENTRIES {
        return Err(LogicError::invalid("metadata has more than 32 entries"));
    }
    let size: usize = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > validate::MAX_METADATA_BYTES {
        return Err(LogicError::invalid("metadata is larger than 8 KiB"));
    }
    if metadata.is_empty() {
        return Ok(String::new());
    }
    serde_json::to_string(metadata).map_err(|e| LogicError::Internal(e.to_string()))
}

#[tonic::async_trait]
impl MessageService for crate::Logic {
    async fn send_message(
        &self,
        req: Request<SendMessageRequest>,
    ) -> Result<Response<SendMessageResponse>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let req = req.into_inner();
        let conversation_id = validate::id(&req.conversation_id, "conversation_id")?.to_owned();
        let kind = match req.r#type() {
            MessageType::System => {
                return Err(
                    LogicError::invalid("system messages are written by the server").into(),
                );
            }
            other => json::message_type_name(other),
        };
        if req.content.len() > validate::MAX_CONTENT_BYTES {
            return Err(LogicError::invalid("content is larger than 64 KiB").into());
        }
        if req.content.is_empty() && req.metadata.is_empty() {
            return Err(LogicError::invalid("content must not be empty").into());
        }
        if let Some(id) = &req.client_msg_id
            && (id.is_empty() || id.len() > validate::MAX_CLIENT_MSG_ID)
        {
            return Err(LogicError::invalid("client_msg_id must be 1 to 64 characters").into());
        }
        let metadata_json = check_metadata(&req.metadata)?;
        // Blocks (and, when configured, friendship) gate direct chats.
        self.check_direct_send(&conversation_id, me.id).await?;
        let append = AppendMessageRequest {
            message_id: convert::new_id(),
            conversation_id,
            sender_id: me.id.to_owned(),
            kind: kind.to_owned(),
            content: req.content,
            metadata_json,
            client_msg_id: req.client_msg_id,
            created_at: now_ms(),
        };
        let stored = self
            .inner
            .repo
            .messages
            .clone()
            .append_message(append)
            .await
            .map_err(|s| match s.code() {
                Code::NotFound => LogicError::NotFound("conversation not found"),
                Code::FailedPrecondition if s.message() == "not a member" => {
                    LogicError::PermissionDenied("not a member of this conversation")
                }
                Code::FailedPrecondition => LogicError::FailedPrecondition(s.message().to_owned()),
                _ => LogicError::upstream(s),
            })?
            .into_inner();
        let message = convert::message(stored.message.unwrap_or_default());
        if !stored.duplicate {
            let push = Push {
                frame: json::push_frame("message", &MessageJson(&message)).into(),
                exclude_connection_id: me.connection_id.to_owned(),
                conversation_id: message.conversation_id.clone(),
                seq: message.seq,
            };
            let timeout = self.inner.config.fanout_timeout;
            self.inner
                .fanout
                .push(stored.member_ids, push, timeout)
                .await;
        }
        Ok(Response::new(SendMessageResponse {
            message: Some(message),
            duplicate: stored.duplicate,
        }))
    }

    async fn list_messages(
        &self,
        req: Request<ListMessagesRequest>,
    ) -> Result<Response<ListMessagesResponse>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let req = req.get_ref();
        let id = validate::id(&req.conversation_id, "conversation_id")?;
        if req.before_seq < 0 {
            return Err(LogicError::invalid("before_seq must not be negative").into());
        }
        let limit = page(req.limit)?;
        self.member_view(id, me.id).await?;
        let out = self
            .inner
            .repo
            .messages
            .clone()
            .list_messages(repo::ListMessagesRequest {
                conversation_id: id.to_owned(),
                before_seq: req.before_seq,
                limit,
            })
            .await
            .map_err(LogicError::upstream)?
            .into_inner();
        Ok(Response::new(page_of(out)))
    }

    async fn sync_messages(
        &self,
        req: Request<SyncMessagesRequest>,
    ) -> Result<Response<ListMessagesResponse>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let req = req.get_ref();
        let id = validate::id(&req.conversation_id, "conversation_id")?;
        if req.after_seq < 0 {
            return Err(LogicError::invalid("after_seq must not be negative").into());
        }
        let limit = page(req.limit)?;
        self.member_view(id, me.id).await?;
        let out = self
            .inner
            .repo
            .messages
            .clone()
            .sync_messages(repo::SyncMessagesRequest {
                conversation_id: id.to_owned(),
                after_seq: req.after_seq,
                limit,
            })
            .await
            .map_err(LogicError::upstream)?
            .into_inner();
        Ok(Response::new(page_of(out)))
    }

    async fn send_typing(&self, req: Request<TypingRequest>) -> Result<Response<Empty>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let id = validate::id(&req.get_ref().conversation_id, "conversation_id")?;
        let conv = self.member_view(id, me.id).await?;
        let data = serde_json::json!({ "conversation_id": id, "user_id": me.id });
        let push = Push {
            frame: json::push_frame("typing", &data).into(),
            exclude_connection_id: String::new(),
            conversation_id: String::new(),
            seq: 0,
        };
        let timeout = self.inner.config.fanout_timeout;
        self.inner
            .fanout
            .push(Self::others(&conv, me.id), push, timeout)
            .await;
        Ok(Response::new(Empty {}))
    }
}

fn page_of(out: repo::ListMessagesResponse) -> ListMessagesResponse {
    ListMessagesResponse {
        messages: out.messages.into_iter().map(convert::message).collect(),
        has_more: out.has_more,
    }
}

use super::{not_found_as, now_ms};
use crate::{
    Caller, LogicError, convert,
    stream::{MessageStream, Scope, Start},
    validate,
};
use natter_proto::{
    bus::{Push, envelope::Event},
    json::{self, MessageJson},
    limits::MAX_SENDS_PER_CALL,
    logic::{
        Empty, ListMessagesRequest, ListMessagesResponse, Message, MessageRef, MessageStatus,
        MessageStatusResponse, MessageType, SendMessageRequest, SendMessageResponse,
        SendMessagesRequest, SendMessagesResponse, SendOutcome, StreamMessagesRequest,
        SyncMessagesRequest, TypingRequest, message_service_server::MessageService,
        stream_messages_request::From as StreamFrom,
    },
    repo::{self, AppendMessageRequest, GetMessageForRequest, GetMessageRequest, MessageFor},
};
use std::collections::HashMap;
use tonic::{Code, Request, Response, Status};

const DEFAULT_PAGE: i32 = 50;
const MAX_PAGE: i32 = 100;

/// A page size the client asked for: 0 means the default; more than the maximum is an error
/// rather than a silent clamp, so the client learns the bound.
fn page_size(limit: i32) -> Result<i32, LogicError> {
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
    for (key, value) in metadata {
        validate::no_nul(key, "a metadata key")?;
        validate::no_nul(value, "a metadata value")?;
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
        Ok(Response::new(self.send(&caller, req.into_inner()).await?))
    }

    async fn send_messages(
        &self,
        req: Request<SendMessagesRequest>,
    ) -> Result<Response<SendMessagesResponse>, Status> {
        Caller::of(&req).require_service()?;
        let sends = req.into_inner().sends;
        if sends.len() > MAX_SENDS_PER_CALL {
            return Err(LogicError::invalid(format!(
                "{} sends in one call: at most {MAX_SENDS_PER_CALL}",
                sends.len()
            ))
            .into());
        }
        // Joined, not spawned: each send queues its append on its first poll, in the call's
        // order, so they reach the repo together (and a user's sends keep their order).
        let outcomes = futures::future::join_all(sends.into_iter().map(|one| async move {
            let caller = Caller::service_for(&one.user_id, &one.session_id, &one.connection_id);
            let sent = match caller.refuse_revoked(&self.inner.revocations) {
                Ok(()) => self.send(&caller, one.send.unwrap_or_default()).await,
                Err(status) => Err(status),
            };
            SendOutcome::of(sent)
        }))
        .await;
        Ok(Response::new(SendMessagesResponse { outcomes }))
    }

    async fn list_messages(
        &self,
        req: Request<ListMessagesRequest>,
    ) -> Result<Response<ListMessagesResponse>, Status> {
        let caller = Caller::of(&req);
        let req = req.get_ref();
        let page = Page::History(req.before_seq);
        let out = self
            .page(&caller, &req.conversation_id, page, req.limit)
            .await?;
        Ok(Response::new(out))
    }

    async fn sync_messages(
        &self,
        req: Request<SyncMessagesRequest>,
    ) -> Result<Response<ListMessagesResponse>, Status> {
        let caller = Caller::of(&req);
        let req = req.get_ref();
        let page = Page::Sync(req.after_seq);
        let out = self
            .page(&caller, &req.conversation_id, page, req.limit)
            .await?;
        Ok(Response::new(out))
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

    /// By the sender, or by a group's admin or owner for any of its messages. The tombstone
    /// keeps its seq; the members get `message_deleted`. Deleting a tombstone answers it again
    /// and pushes nothing.
    async fn delete_message(&self, req: Request<MessageRef>) -> Result<Response<Message>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let (found, message) = self.message_for(req.get_ref(), me.id).await?;
        let admin = found.conversation_kind == "group"
            && matches!(found.viewer_role.as_str(), "admin" | "owner");
        if message.sender_id != me.id && !admin {
            return Err(
                LogicError::PermissionDenied(if found.conversation_kind == "group" {
                    "only the sender or a group admin can delete this message"
                } else {
                    "only the sender can delete this message"
                })
                .into(),
            );
        }
        if message.deleted {
            return Ok(Response::new(convert::message(message)));
        }
        let tombstone = self
            .inner
            .repo
            .messages
            .clone()
            .delete_message(GetMessageRequest {
                conversation_id: message.conversation_id.clone(),
                message_id: message.message_id.clone(),
            })
            .await
            .map_err(not_found_as("message not found"))?
            .into_inner();
        let tombstone = convert::message(tombstone);
        let conv = self.member_view(&tombstone.conversation_id, me.id).await?;
        let data = serde_json::json!({
            "conversation_id": tombstone.conversation_id,
            "message_id": tombstone.message_id,
            "seq": tombstone.seq,
        });
        let push = Push {
            frame: json::push_frame("message_deleted", &data).into(),
            exclude_connection_id: me.connection_id.to_owned(),
            conversation_id: String::new(),
            seq: 0,
        };
        let timeout = self.inner.config.fanout_timeout;
        self.inner.fanout.push(conv.member_ids, push, timeout).await;
        Ok(Response::new(tombstone))
    }

    /// SENT: stored. DELIVERED: at least one other member's read pointer reached it (there are
    /// no delivery receipts: a push is fire-and-forget, so the server cannot know a device got
    /// it, only that a member read up to it). READ: every other member's read pointer did.
    async fn get_message_status(
        &self,
        req: Request<MessageRef>,
    ) -> Result<Response<MessageStatusResponse>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let (found, message) = self.message_for(req.get_ref(), me.id).await?;
        let readers = found.read_by.len() as i64;
        let status = if found.others > 0 && readers >= found.others {
            MessageStatus::Read
        } else if readers > 0 {
            MessageStatus::Delivered
        } else {
            MessageStatus::Sent
        };
        Ok(Response::new(MessageStatusResponse {
            message_id: message.message_id,
            status: status as i32,
            read_by: found.read_by,
        }))
    }

    /// One conversation the caller is in (any conversation for the service credential), or with
    /// the service credential and no conversation_id every conversation: stored messages from
    /// `after_seq` or `since_time` on, then live ones (see `crate::stream`).
    async fn stream_messages(
        &self,
        req: Request<StreamMessagesRequest>,
    ) -> Result<Response<MessageStream>, Status> {
        let caller = Caller::of(&req);
        let req = req.into_inner();
        let start = match req.from {
            Some(StreamFrom::AfterSeq(seq)) if seq < 0 => {
                return Err(LogicError::invalid("after_seq must not be negative").into());
            }
            Some(StreamFrom::SinceTime(t)) if t < 0 => {
                return Err(LogicError::invalid("since_time must not be negative").into());
            }
            Some(StreamFrom::AfterSeq(seq)) => Start::AfterSeq(seq),
            Some(StreamFrom::SinceTime(t)) => Start::SinceTime(t),
            None => Start::Now,
        };
        let (scope, last_seq) = if req.conversation_id.is_empty() {
            if !caller.service {
                caller.user()?;
                return Err(LogicError::PermissionDenied(
                    "streaming every conversation needs the service credential",
                )
                .into());
            }
            if matches!(start, Start::AfterSeq(_)) {
                return Err(LogicError::invalid(
                    "after_seq needs a conversation_id; use since_time for every conversation",
                )
                .into());
            }
            (Scope::All, 0)
        } else {
            let id = validate::id(&req.conversation_id, "conversation_id")?;
            let conv = self.stream_view(&caller, id).await?;
            (Scope::One(id.to_owned()), conv.last_seq)
        };
        let store = self.inner.repo.messages.clone();
        let stream = self
            .inner
            .streams
            .open(store, scope, start, last_seq)
            .await?;
        Ok(Response::new(stream))
    }
}

impl crate::Logic {
    /// One user's send: what `SendMessage` answers, and each send of `SendMessages`.
    async fn send(
        &self,
        caller: &Caller,
        req: SendMessageRequest,
    ) -> Result<SendMessageResponse, Status> {
        let me = caller.user()?;
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
        validate::no_nul(&req.content, "content")?;
        if let Some(id) = &req.client_msg_id {
            if id.is_empty() || id.len() > validate::MAX_CLIENT_MSG_ID {
                return Err(LogicError::invalid("client_msg_id must be 1 to 64 characters").into());
            }
            validate::no_nul(id, "client_msg_id")?;
        }
        let metadata_json = check_metadata(&req.metadata)?;
        // Blocks (and, when configured, friendship) gate direct chats: the repo checks them
        // in the append's own transaction (see `append_refusal`).
        let append = AppendMessageRequest {
            message_id: convert::new_id(),
            conversation_id,
            sender_id: me.id.to_owned(),
            kind: kind.to_owned(),
            content: req.content,
            metadata_json,
            client_msg_id: req.client_msg_id,
            created_at: now_ms(),
            direct_requires_friendship: self.inner.config.direct_requires_friendship,
        };
        // Taken before storing, released once published: this instance publishes in seq order.
        let mut ticket = self.inner.sequencer.ticket(&append.conversation_id);
        let stored = (self.inner.appends.call(append).await).map_err(append_refusal)?;
        let message = convert::message(stored.message.unwrap_or_default());
        if !stored.duplicate {
            let push = Push {
                frame: json::push_frame("message", &MessageJson(&message)).into(),
                exclude_connection_id: me.connection_id.to_owned(),
                conversation_id: message.conversation_id.clone(),
                seq: message.seq,
            };
            let timeout = self.inner.config.fanout_timeout;
            let (logic, published) = (self.clone(), message.clone());
            // Stored is done: the reply does not wait for the bus (see `background`).
            let publish = async move {
                let fanout = &logic.inner.fanout;
                // Looked up before taking turns: only the publishing itself is in seq order.
                let route = fanout.route(stored.member_ids, timeout).await;
                ticket.turn(published.seq).await;
                tokio::join!(
                    fanout.deliver(route, Event::Push(push), timeout),
                    logic.inner.streams.publish(&published, timeout),
                );
                drop(ticket);
            };
            self.inner.background.spawn(publish).await;
        }
        Ok(SendMessageResponse {
            message: Some(message),
            duplicate: stored.duplicate,
        })
    }

    /// The message `r` names with the caller's place in its conversation: NOT_FOUND for an
    /// unknown conversation, PERMISSION_DENIED when the caller is not in it, then NOT_FOUND for
    /// an unknown message (so outsiders learn nothing about the messages).
    async fn message_for(
        &self,
        r: &MessageRef,
        viewer: &str,
    ) -> Result<(MessageFor, repo::Message), LogicError> {
        let req = GetMessageForRequest {
            conversation_id: validate::id(&r.conversation_id, "conversation_id")?.to_owned(),
            message_id: validate::id(&r.message_id, "message_id")?.to_owned(),
            viewer_id: viewer.to_owned(),
        };
        let mut found = self
            .inner
            .repo
            .messages
            .clone()
            .get_message_for(req)
            .await
            .map_err(not_found_as("conversation not found"))?
            .into_inner();
        if found.viewer_role.is_empty() {
            return Err(LogicError::PermissionDenied(
                "not a member of this conversation",
            ));
        }
        let message = found
            .message
            .take()
            .ok_or(LogicError::NotFound("message not found"))?;
        Ok((found, message))
    }

    /// The conversation a stream is for: an end user must be a member; the service credential
    /// without a user may stream any conversation.
    async fn stream_view(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<repo::Conversation, LogicError> {
        if caller.user_id.is_some() || !caller.service {
            let me = caller.user()?;
            return self.member_view(id, me.id).await;
        }
        let req = repo::GetConversationRequest {
            conversation_id: id.to_owned(),
            viewer_id: String::new(),
        };
        Ok(self
            .inner
            .repo
            .conversations
            .clone()
            .get_conversation(req)
            .await
            .map_err(not_found_as("conversation not found"))?
            .into_inner())
    }
}

/// What the client sees of a refused append. A stored client_msg_id answers before any of
/// these; then an unknown conversation, a sender outside it, and in a direct chat a block
/// either way (PERMISSION_DENIED "blocked", as when opening one) or, when friendship is
/// required, not being friends (FAILED_PRECONDITION "you are not friends").
fn append_refusal(s: Status) -> LogicError {
    match (s.code(), s.message()) {
        (Code::NotFound, _) => LogicError::NotFound("conversation not found"),
        (Code::FailedPrecondition, "not a member") => {
            LogicError::PermissionDenied("not a member of this conversation")
        }
        (Code::FailedPrecondition, "blocked") => LogicError::PermissionDenied("blocked"),
        (Code::FailedPrecondition, "not friends") => {
            LogicError::FailedPrecondition("you are not friends".into())
        }
        (Code::FailedPrecondition, message) => LogicError::FailedPrecondition(message.to_owned()),
        _ => LogicError::upstream(s),
    }
}

/// Which page of a conversation: history before a seq, or sync after one.
enum Page {
    History(i64),
    Sync(i64),
}

impl crate::Logic {
    /// One page of messages for a member: the checks history and sync share, then the repo call.
    async fn page(
        &self,
        caller: &Caller,
        conversation_id: &str,
        page: Page,
        limit: i32,
    ) -> Result<ListMessagesResponse, LogicError> {
        let me = caller.user()?;
        let id = validate::id(conversation_id, "conversation_id")?.to_owned();
        let (bound, name) = match page {
            Page::History(seq) => (seq, "before_seq"),
            Page::Sync(seq) => (seq, "after_seq"),
        };
        if bound < 0 {
            return Err(LogicError::invalid(format!("{name} must not be negative")));
        }
        let limit = page_size(limit)?;
        self.member_view(&id, me.id).await?;
        let mut messages = self.inner.repo.messages.clone();
        let out = match page {
            Page::History(before_seq) => {
                let req = repo::ListMessagesRequest {
                    conversation_id: id,
                    before_seq,
                    limit,
                };
                messages.list_messages(req).await
            }
            Page::Sync(after_seq) => {
                let req = repo::SyncMessagesRequest {
                    conversation_id: id,
                    after_seq,
                    limit,
                };
                messages.sync_messages(req).await
            }
        };
        Ok(page_of(out.map_err(LogicError::upstream)?.into_inner()))
    }
}

fn page_of(out: repo::ListMessagesResponse) -> ListMessagesResponse {
    ListMessagesResponse {
        messages: out.messages.into_iter().map(convert::message).collect(),
        has_more: out.has_more,
    }
}

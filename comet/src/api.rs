//! The calls REST routes and WebSocket methods share: one body type and one mapping to logic
//! per call, so `POST /v1/chats/{id}/message` and the `send` method cannot drift apart.

use crate::{AppState, error::ApiError, logic::Identity};
use natter_proto::{
    json::{self, MessageJson},
    logic::{
        self, MarkReadRequest, MessageType, SendMessageRequest, SyncMessagesRequest, TypingRequest,
    },
};
use serde::Deserialize;
use std::collections::HashMap;

/// `{content, type?, client_msg_id?, metadata?}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    pub content: String,
    #[serde(rename = "type")]
    #[schema(value_type = Option<crate::http::openapi::SendType>)]
    pub kind: Option<String>,
    pub client_msg_id: Option<String>,
    pub metadata: Option<HashMap<String, String>>,
}

pub async fn send(
    state: &AppState,
    who: &Identity,
    conversation_id: String,
    body: SendBody,
) -> Result<(logic::Message, bool), ApiError> {
    let kind = match body.kind.as_deref() {
        None => MessageType::Text,
        Some(name) => json::parse_message_type(name).ok_or_else(|| {
            ApiError::invalid(format!("type must be text, image or file, not {name:?}"))
        })?,
    };
    let req = SendMessageRequest {
        conversation_id,
        content: body.content,
        r#type: kind as i32,
        client_msg_id: body.client_msg_id,
        metadata: body.metadata.unwrap_or_default(),
    };
    let out = state.sends.call(crate::sends::send_as(who, req)).await?;
    let message = out
        .message
        .ok_or_else(|| ApiError::new(tonic::Code::Internal, "internal error"))?;
    Ok((message, out.duplicate))
}

/// `{messages: [Message] oldest first, has_more}` after `after_seq`.
pub async fn sync(
    state: &AppState,
    who: &Identity,
    conversation_id: String,
    after_seq: i64,
    limit: i32,
) -> Result<serde_json::Value, ApiError> {
    let req = SyncMessagesRequest {
        conversation_id,
        after_seq,
        limit,
    };
    let page = state
        .logic
        .messages
        .clone()
        .sync_messages(who.request(req))
        .await?
        .into_inner();
    Ok(messages_page(&page))
}

pub fn messages_page(page: &logic::ListMessagesResponse) -> serde_json::Value {
    let messages: Vec<_> = page.messages.iter().map(MessageJson).collect();
    serde_json::json!({ "messages": messages, "has_more": page.has_more })
}

pub async fn read(
    state: &AppState,
    who: &Identity,
    conversation_id: String,
    seq: i64,
) -> Result<i64, ApiError> {
    let req = MarkReadRequest {
        conversation_id,
        seq,
    };
    let out = state
        .logic
        .conversations
        .clone()
        .mark_read(who.request(req))
        .await?;
    Ok(out.into_inner().read_seq)
}

pub async fn typing(
    state: &AppState,
    who: &Identity,
    conversation_id: String,
) -> Result<(), ApiError> {
    let req = TypingRequest { conversation_id };
    state
        .logic
        .messages
        .clone()
        .send_typing(who.request(req))
        .await?;
    Ok(())
}

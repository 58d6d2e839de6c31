//! `/v1/chats/...`: direct chats, the chat list, messages, history, sync and read pointers.

use super::{Authed, Body, Params};
use crate::{AppState, api, error::ApiError};
use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{delete, get, patch, post},
};
use natter_proto::{
    json::{ConversationJson, MessageJson},
    logic::{
        ConversationRef, CreateDirectRequest, ListConversationsRequest, ListMessagesRequest,
        ListParticipantsRequest, MessageRef, UpdateConversationRequest,
    },
};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct DirectBody {
    participant_id: String,
}

#[derive(Deserialize)]
pub struct Page {
    #[serde(default)]
    limit: i32,
    cursor: Option<String>,
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    #[serde(default)]
    limit: i32,
    #[serde(default)]
    before_seq: i64,
}

#[derive(Deserialize)]
pub struct SyncQuery {
    #[serde(default)]
    limit: i32,
    #[serde(default)]
    after_seq: i64,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ReadBody {
    seq: i64,
}

/// 201 with the conversation when created, 200 with the same one when the pair already had it.
#[utoipa::path(
    post,
    path = "/v1/chats/direct",
    tag = "chats",
    operation_id = "chats_direct",
    request_body = DirectBody,
    responses(
        (status = 201, description = "the new direct chat", body = crate::http::openapi::Conversation),
        (status = 200, description = "the pair's existing direct chat", body = crate::http::openapi::Conversation),
        (status = 400, description = "INVALID_ARGUMENT: a bad body, or a chat with oneself", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND: no such user", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn direct(
    State(state): State<AppState>,
    Authed(who): Authed,
    Body(b): Body<DirectBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let req = CreateDirectRequest {
        participant_id: b.participant_id,
    };
    let out = state
        .logic
        .conversations
        .clone()
        .create_direct(who.request(req))
        .await?
        .into_inner();
    let status = if out.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let conv = out.conversation.unwrap_or_default();
    Ok((status, Json(json!(ConversationJson(&conv)))))
}

#[utoipa::path(
    get,
    path = "/v1/chats",
    tag = "chats",
    operation_id = "chats_list",
    params(
        ("limit" = Option<i32>, Query, minimum = 1, maximum = 200, description = "page size, 1-200, default 50"),
        ("cursor" = Option<String>, Query, description = "the `next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "the caller's chats, most recent activity first", body = crate::http::openapi::ChatsPage),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    Authed(who): Authed,
    Params(page): Params<Page>,
) -> Result<Json<Value>, ApiError> {
    let req = ListConversationsRequest {
        limit: page.limit,
        cursor: page.cursor,
    };
    let out = state
        .logic
        .conversations
        .clone()
        .list_conversations(who.request(req))
        .await?
        .into_inner();
    let chats: Vec<_> = out.conversations.iter().map(ConversationJson).collect();
    let mut body = json!({ "chats": chats, "total_unread": out.total_unread });
    if let Some(cursor) = out.next_cursor {
        body["next_cursor"] = json!(cursor);
    }
    Ok(Json(body))
}

#[utoipa::path(
    get,
    path = "/v1/chats/{conversation_id}",
    tag = "chats",
    operation_id = "chats_get_one",
    params(
        ("conversation_id" = String, Path, description = "the conversation"),
    ),
    responses(
        (status = 200, description = "the conversation", body = crate::http::openapi::Conversation),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn get_one(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(conversation_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let req = ConversationRef { conversation_id };
    let conv = state
        .logic
        .conversations
        .clone()
        .get_conversation(who.request(req))
        .await?
        .into_inner();
    Ok(Json(json!(ConversationJson(&conv))))
}

/// 201 with the stored message; a retry with the same `client_msg_id` answers the first one.
#[utoipa::path(
    post,
    path = "/v1/chats/{conversation_id}/message",
    tag = "chats",
    operation_id = "chats_send",
    params(
        ("conversation_id" = String, Path, description = "the conversation"),
    ),
    request_body = crate::api::SendBody,
    responses(
        (status = 201, description = "the stored message (the first one again for a retried client_msg_id)", body = crate::http::openapi::Message),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
        (status = 412, description = "FAILED_PRECONDITION: e.g. a client_msg_id reused in another conversation", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn send(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(conversation_id): Path<String>,
    Body(b): Body<api::SendBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (message, _) = api::send(&state, &who, conversation_id, b).await?;
    Ok((StatusCode::CREATED, Json(json!(MessageJson(&message)))))
}

/// Newest first, before `before_seq` (exclusive; omitted: from the newest).
#[utoipa::path(
    get,
    path = "/v1/chats/{conversation_id}/messages",
    tag = "chats",
    operation_id = "chats_history",
    params(
        ("conversation_id" = String, Path, description = "the conversation"),
        ("limit" = Option<i32>, Query, minimum = 1, maximum = 100, description = "page size, 1-100, default 50"),
        ("before_seq" = Option<i64>, Query, description = "exclusive; omitted or 0: from the newest"),
    ),
    responses(
        (status = 200, description = "messages newest first", body = crate::http::openapi::MessagesPage),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn history(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(conversation_id): Path<String>,
    Params(q): Params<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    let req = ListMessagesRequest {
        conversation_id,
        before_seq: q.before_seq,
        limit: q.limit,
    };
    let page = state
        .logic
        .messages
        .clone()
        .list_messages(who.request(req))
        .await?
        .into_inner();
    Ok(Json(api::messages_page(&page)))
}

/// Oldest first, after `after_seq`: the REST twin of the `sync` socket method.
#[utoipa::path(
    get,
    path = "/v1/chats/{conversation_id}/sync",
    tag = "chats",
    operation_id = "chats_sync",
    params(
        ("conversation_id" = String, Path, description = "the conversation"),
        ("after_seq" = Option<i64>, Query, description = "exclusive, default 0"),
        ("limit" = Option<i32>, Query, minimum = 1, maximum = 100, description = "page size, 1-100, default 50"),
    ),
    responses(
        (status = 200, description = "messages oldest first", body = crate::http::openapi::MessagesPage),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn sync(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(conversation_id): Path<String>,
    Params(q): Params<SyncQuery>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        api::sync(&state, &who, conversation_id, q.after_seq, q.limit).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/chats/{conversation_id}/read",
    tag = "chats",
    operation_id = "chats_read",
    params(
        ("conversation_id" = String, Path, description = "the conversation"),
    ),
    request_body = ReadBody,
    responses(
        (status = 204, description = "the read pointer moved (forward only, up to last_seq)"),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn read(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(conversation_id): Path<String>,
    Body(b): Body<ReadBody>,
) -> Result<StatusCode, ApiError> {
    api::read(&state, &who, conversation_id, b.seq).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/chats", get(list))
        .route("/v1/chats/direct", post(direct))
        .route("/v1/chats/{conversation_id}", get(get_one))
        .route("/v1/chats/{conversation_id}/message", post(send))
        .route("/v1/chats/{conversation_id}/messages", get(history))
        .route("/v1/chats/{conversation_id}/sync", get(sync))
        .route("/v1/chats/{conversation_id}/read", post(read))
        .route(
            "/v1/chats/{conversation_id}/messages/{message_id}",
            delete(delete_message),
        )
        .route(
            "/v1/chats/{conversation_id}/messages/{message_id}/status",
            get(message_status),
        )
        .route("/v1/chats/{conversation_id}", patch(update))
        .route("/v1/chats/{conversation_id}/hide", post(hide))
        .route(
            "/v1/chats/{conversation_id}/participants",
            get(participants),
        )
}

/// 200 with the tombstone (the message with empty content and metadata, `deleted: true`).
#[utoipa::path(
    delete,
    path = "/v1/chats/{conversation_id}/messages/{message_id}",
    tag = "chats",
    operation_id = "chats_delete_message",
    params(
        ("conversation_id" = String, Path, description = "the conversation"),
        ("message_id" = String, Path, description = "the message"),
    ),
    responses(
        (status = 200, description = "the tombstone: empty content and metadata, deleted: true", body = crate::http::openapi::Message),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
        (status = 412, description = "FAILED_PRECONDITION: valid, but the current state does not allow it", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn delete_message(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path((conversation_id, message_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let req = MessageRef {
        conversation_id,
        message_id,
    };
    let tombstone = state
        .logic
        .messages
        .clone()
        .delete_message(who.request(req))
        .await?
        .into_inner();
    Ok(Json(json!(MessageJson(&tombstone))))
}

/// `{message_id, status: "SENT"|"DELIVERED"|"READ", read_by}`.
#[utoipa::path(
    get,
    path = "/v1/chats/{conversation_id}/messages/{message_id}/status",
    tag = "chats",
    operation_id = "chats_message_status",
    params(
        ("conversation_id" = String, Path, description = "the conversation"),
        ("message_id" = String, Path, description = "the message"),
    ),
    responses(
        (status = 200, description = "the message's delivery status", body = crate::http::openapi::MessageStatus),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn message_status(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path((conversation_id, message_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let req = MessageRef {
        conversation_id,
        message_id,
    };
    let status = state
        .logic
        .messages
        .clone()
        .get_message_status(who.request(req))
        .await?
        .into_inner();
    Ok(Json(natter_proto::json::message_status(&status)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ChatUpdateBody)]
pub struct UpdateBody {
    name: Option<String>,
    avatar_url: Option<String>,
}

/// A group's name and avatar (owner or admin); 412 for a direct chat.
#[utoipa::path(
    patch,
    path = "/v1/chats/{conversation_id}",
    tag = "chats",
    operation_id = "chats_update",
    params(
        ("conversation_id" = String, Path, description = "the conversation"),
    ),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "the updated group", body = crate::http::openapi::Conversation),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
        (status = 412, description = "FAILED_PRECONDITION: a direct chat has no name or avatar", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn update(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(conversation_id): Path<String>,
    Body(b): Body<UpdateBody>,
) -> Result<Json<Value>, ApiError> {
    let req = UpdateConversationRequest {
        conversation_id,
        name: b.name,
        avatar_url: b.avatar_url,
    };
    let conv = state
        .logic
        .conversations
        .clone()
        .update_conversation(who.request(req))
        .await?;
    Ok(Json(json!(ConversationJson(conv.get_ref()))))
}

/// 204; the chat leaves the caller's list until its next message.
#[utoipa::path(
    post,
    path = "/v1/chats/{conversation_id}/hide",
    tag = "chats",
    operation_id = "chats_hide",
    params(
        ("conversation_id" = String, Path, description = "the conversation"),
    ),
    responses(
        (status = 204, description = "hidden from the caller's list until its next message"),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn hide(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(conversation_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let req = who.request(ConversationRef { conversation_id });
    state
        .logic
        .conversations
        .clone()
        .hide_conversation(req)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{members: [Member], next_cursor?}`: the members with their roles.
#[utoipa::path(
    get,
    path = "/v1/chats/{conversation_id}/participants",
    tag = "chats",
    operation_id = "chats_participants",
    params(
        ("conversation_id" = String, Path, description = "the conversation"),
        ("limit" = Option<i32>, Query, minimum = 1, maximum = 200, description = "page size, 1-200, default 50"),
        ("cursor" = Option<String>, Query, description = "the `next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "the members with their roles", body = crate::http::openapi::MembersPage),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn participants(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(conversation_id): Path<String>,
    Params(page): Params<Page>,
) -> Result<Json<Value>, ApiError> {
    let req = ListParticipantsRequest {
        conversation_id,
        limit: page.limit,
        cursor: page.cursor,
    };
    let out = state
        .logic
        .conversations
        .clone()
        .list_participants(who.request(req))
        .await?
        .into_inner();
    Ok(Json(super::groups::members_page(
        &out.members,
        out.next_cursor,
    )))
}

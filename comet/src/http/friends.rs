//! `/v1/friends...` and `/v1/blocks...`: friend requests, friends and blocks.

use super::{Authed, Body, Params};
use crate::{AppState, error::ApiError, logic::Identity};
use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{delete, get, post},
};
use natter_proto::{
    json,
    logic::{
        Empty, FriendRequestAction, FriendRequestStatus, ListFriendRequestsRequest,
        ListFriendsRequest, RequestDirection, SendFriendRequestRequest, UserRef,
        send_friend_request_request::Target,
    },
};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NicknameBody {
    nickname: String,
}

#[derive(Deserialize)]
pub struct RequestsQuery {
    direction: Option<String>,
}

#[derive(Deserialize)]
pub struct Page {
    #[serde(default)]
    limit: i32,
    cursor: Option<String>,
}

/// 201 with the new pending request; 200 with the other user's request, now ACCEPTED, when
/// they had already asked the caller.
async fn send(
    state: &AppState,
    who: &Identity,
    target: Target,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let req = SendFriendRequestRequest {
        target: Some(target),
    };
    let request = state
        .logic
        .friends
        .clone()
        .send_friend_request(who.request(req))
        .await?
        .into_inner();
    let status = match request.status() {
        FriendRequestStatus::Accepted => StatusCode::OK,
        _ => StatusCode::CREATED,
    };
    Ok((status, Json(json::friend_request(&request))))
}

#[utoipa::path(
    post,
    path = "/v1/friends/{user_id}/request",
    tag = "friends",
    operation_id = "friends_request_by_id",
    params(
        ("user_id" = String, Path, description = "the user to befriend"),
    ),
    responses(
        (status = 201, description = "the new pending request", body = crate::http::openapi::FriendRequest),
        (status = 200, description = "the other user's earlier request, now ACCEPTED", body = crate::http::openapi::FriendRequest),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "ALREADY_EXISTS", body = crate::http::openapi::ErrorBody),
        (status = 412, description = "FAILED_PRECONDITION: valid, but the current state does not allow it", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn request_by_id(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(user_id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    send(&state, &who, Target::UserId(user_id)).await
}

#[utoipa::path(
    post,
    path = "/v1/friends/request",
    tag = "friends",
    operation_id = "friends_request_by_nickname",
    request_body = NicknameBody,
    responses(
        (status = 201, description = "the new pending request", body = crate::http::openapi::FriendRequest),
        (status = 200, description = "the other user's earlier request, now ACCEPTED", body = crate::http::openapi::FriendRequest),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "ALREADY_EXISTS", body = crate::http::openapi::ErrorBody),
        (status = 412, description = "FAILED_PRECONDITION: valid, but the current state does not allow it", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn request_by_nickname(
    State(state): State<AppState>,
    Authed(who): Authed,
    Body(b): Body<NicknameBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    send(&state, &who, Target::Nickname(b.nickname)).await
}

/// Pending requests: incoming by default (as pinned), or `?direction=outgoing|all`.
#[utoipa::path(
    get,
    path = "/v1/friends/requests",
    tag = "friends",
    operation_id = "friends_requests",
    params(
        ("direction" = Option<String>, Query, description = "incoming (default), outgoing or all"),
    ),
    responses(
        (status = 200, description = "pending requests", body = crate::http::openapi::FriendRequests),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn requests(
    State(state): State<AppState>,
    Authed(who): Authed,
    Params(q): Params<RequestsQuery>,
) -> Result<Json<Value>, ApiError> {
    let direction = match q.direction.as_deref() {
        None | Some("incoming") => RequestDirection::Incoming,
        Some("outgoing") => RequestDirection::Outgoing,
        Some("all") => RequestDirection::Unspecified,
        Some(_) => {
            return Err(ApiError::invalid(
                "direction must be incoming, outgoing or all",
            ));
        }
    };
    let req = ListFriendRequestsRequest {
        direction: direction as i32,
    };
    let out = state
        .logic
        .friends
        .clone()
        .list_friend_requests(who.request(req))
        .await?
        .into_inner();
    let requests: Vec<_> = out.requests.iter().map(json::friend_request).collect();
    Ok(Json(json!({ "requests": requests })))
}

#[utoipa::path(
    post,
    path = "/v1/friends/requests/{request_id}/accept",
    tag = "friends",
    operation_id = "friends_accept",
    params(
        ("request_id" = String, Path, description = "the request"),
    ),
    responses(
        (status = 200, description = "the request, ACCEPTED", body = crate::http::openapi::FriendRequest),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
        (status = 412, description = "FAILED_PRECONDITION: valid, but the current state does not allow it", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn accept(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(request_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let req = who.request(FriendRequestAction { request_id });
    let out = state
        .logic
        .friends
        .clone()
        .accept_friend_request(req)
        .await?;
    Ok(Json(json::friend_request(&out.into_inner())))
}

#[utoipa::path(
    post,
    path = "/v1/friends/requests/{request_id}/decline",
    tag = "friends",
    operation_id = "friends_decline",
    params(
        ("request_id" = String, Path, description = "the request"),
    ),
    responses(
        (status = 200, description = "the request, DECLINED", body = crate::http::openapi::FriendRequest),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
        (status = 412, description = "FAILED_PRECONDITION: valid, but the current state does not allow it", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn decline(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(request_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let req = who.request(FriendRequestAction { request_id });
    let out = state
        .logic
        .friends
        .clone()
        .decline_friend_request(req)
        .await?;
    Ok(Json(json::friend_request(&out.into_inner())))
}

/// Friend ids in a stable order; `next_cursor` when more remain.
#[utoipa::path(
    get,
    path = "/v1/friends",
    tag = "friends",
    operation_id = "friends_list",
    params(
        ("limit" = Option<i32>, Query, minimum = 1, maximum = 200, description = "page size, 1-200, default 50"),
        ("cursor" = Option<String>, Query, description = "the `next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "friend ids in a stable order", body = crate::http::openapi::FriendsPage),
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
    let req = ListFriendsRequest {
        limit: page.limit,
        cursor: page.cursor,
    };
    let out = state
        .logic
        .friends
        .clone()
        .list_friends(who.request(req))
        .await?
        .into_inner();
    let mut body = json!({ "friend_user_ids": out.friend_user_ids });
    if let Some(cursor) = out.next_cursor {
        body["next_cursor"] = json!(cursor);
    }
    Ok(Json(body))
}

#[utoipa::path(
    delete,
    path = "/v1/friends/{user_id}",
    tag = "friends",
    operation_id = "friends_remove",
    params(
        ("user_id" = String, Path, description = "the friend"),
    ),
    responses(
        (status = 204, description = "no longer friends"),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn remove(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let req = who.request(UserRef { user_id });
    state.logic.friends.clone().remove_friend(req).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/v1/blocks/{user_id}",
    tag = "friends",
    operation_id = "friends_block",
    params(
        ("user_id" = String, Path, description = "the user to block"),
    ),
    responses(
        (status = 204, description = "blocked"),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "ALREADY_EXISTS", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn block(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let req = who.request(UserRef { user_id });
    state.logic.friends.clone().block_user(req).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/v1/blocks/{user_id}",
    tag = "friends",
    operation_id = "friends_unblock",
    params(
        ("user_id" = String, Path, description = "the user to unblock"),
    ),
    responses(
        (status = 204, description = "unblocked"),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn unblock(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let req = who.request(UserRef { user_id });
    state.logic.friends.clone().unblock_user(req).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/v1/blocks",
    tag = "friends",
    operation_id = "friends_blocked",
    responses(
        (status = 200, description = "the ids the caller blocked", body = crate::http::openapi::Blocked),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn blocked(
    State(state): State<AppState>,
    Authed(who): Authed,
) -> Result<Json<Value>, ApiError> {
    let out = state
        .logic
        .friends
        .clone()
        .list_blocked(who.request(Empty {}))
        .await?
        .into_inner();
    Ok(Json(json!({ "user_ids": out.user_ids })))
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/friends", get(list))
        .route("/v1/friends/request", post(request_by_nickname))
        .route("/v1/friends/requests", get(requests))
        .route("/v1/friends/requests/{request_id}/accept", post(accept))
        .route("/v1/friends/requests/{request_id}/decline", post(decline))
        .route("/v1/friends/{user_id}", delete(remove))
        .route("/v1/friends/{user_id}/request", post(request_by_id))
        .route("/v1/blocks", get(blocked))
        .route("/v1/blocks/{user_id}", post(block).delete(unblock))
}

//! `/v1/groups/...`: creating and managing groups, their members and roles.

use super::{Authed, Body, Params};
use crate::{AppState, error::ApiError};
use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{delete, get, post, put},
};
use natter_proto::{
    json::{self, ConversationJson},
    logic::{
        AddMembersRequest, CreateGroupRequest, GroupRef, ListMembersRequest, ListUserGroupsRequest,
        Member, MemberRole, RemoveMemberRequest, SetMemberRoleRequest, UpdateGroupRequest,
    },
};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateBody {
    name: String,
    #[serde(default)]
    member_ids: Vec<String>,
    max_members: Option<i32>,
    #[serde(default)]
    is_public: bool,
    avatar_url: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = GroupUpdateBody)]
pub struct UpdateBody {
    name: Option<String>,
    avatar_url: Option<String>,
    is_public: Option<bool>,
    max_members: Option<i32>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct AddBody {
    user_ids: Vec<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RoleBody {
    role: String,
}

#[derive(Deserialize)]
pub struct Page {
    #[serde(default)]
    limit: i32,
    cursor: Option<String>,
}

/// `{members: [Member], next_cursor?}`, the answer of both member lists.
pub fn members_page(members: &[Member], next_cursor: Option<String>) -> Value {
    let members: Vec<_> = members.iter().map(json::member).collect();
    let mut body = json!({ "members": members });
    if let Some(cursor) = next_cursor {
        body["next_cursor"] = json!(cursor);
    }
    body
}

/// 201 with the group; the caller is its owner and need not be listed.
#[utoipa::path(
    post,
    path = "/v1/groups",
    tag = "groups",
    operation_id = "groups_create",
    request_body = CreateBody,
    responses(
        (status = 201, description = "the new group; the caller owns it", body = crate::http::openapi::Conversation),
        (status = 400, description = "INVALID_ARGUMENT: a bad body, or a member that does not exist", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    Authed(who): Authed,
    Body(b): Body<CreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let req = CreateGroupRequest {
        name: b.name,
        member_ids: b.member_ids,
        max_members: b.max_members,
        is_public: b.is_public,
        avatar_url: b.avatar_url,
    };
    let conv = state
        .logic
        .groups
        .clone()
        .create_group(who.request(req))
        .await?
        .into_inner();
    Ok((StatusCode::CREATED, Json(json!(ConversationJson(&conv)))))
}

/// The caller's groups, by id.
#[utoipa::path(
    get,
    path = "/v1/groups",
    tag = "groups",
    operation_id = "groups_mine",
    params(
        ("limit" = Option<i32>, Query, minimum = 1, maximum = 200, description = "page size, 1-200, default 50"),
        ("cursor" = Option<String>, Query, description = "the `next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "the caller's groups", body = crate::http::openapi::GroupsPage),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn mine(
    State(state): State<AppState>,
    Authed(who): Authed,
    Params(page): Params<Page>,
) -> Result<Json<Value>, ApiError> {
    let req = ListUserGroupsRequest {
        user_id: String::new(),
        limit: page.limit,
        cursor: page.cursor,
    };
    let out = state
        .logic
        .groups
        .clone()
        .list_user_groups(who.request(req))
        .await?
        .into_inner();
    let groups: Vec<_> = out.groups.iter().map(ConversationJson).collect();
    let mut body = json!({ "groups": groups });
    if let Some(cursor) = out.next_cursor {
        body["next_cursor"] = json!(cursor);
    }
    Ok(Json(body))
}

#[utoipa::path(
    get,
    path = "/v1/groups/{group_id}",
    tag = "groups",
    operation_id = "groups_get_one",
    params(
        ("group_id" = String, Path, description = "the group (its conversation id)"),
    ),
    responses(
        (status = 200, description = "the group", body = crate::http::openapi::Conversation),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
        (status = 412, description = "FAILED_PRECONDITION: valid, but the current state does not allow it", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn get_one(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(group_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let req = who.request(GroupRef { group_id });
    let conv = state.logic.groups.clone().get_group(req).await?;
    Ok(Json(json!(ConversationJson(conv.get_ref()))))
}

#[utoipa::path(
    patch,
    path = "/v1/groups/{group_id}",
    tag = "groups",
    operation_id = "groups_update",
    params(
        ("group_id" = String, Path, description = "the group (its conversation id)"),
    ),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "the updated group", body = crate::http::openapi::Conversation),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
        (status = 412, description = "FAILED_PRECONDITION: valid, but the current state does not allow it", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn update(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(group_id): Path<String>,
    Body(b): Body<UpdateBody>,
) -> Result<Json<Value>, ApiError> {
    let req = UpdateGroupRequest {
        group_id,
        name: b.name,
        avatar_url: b.avatar_url,
        is_public: b.is_public,
        max_members: b.max_members,
    };
    let conv = state
        .logic
        .groups
        .clone()
        .update_group(who.request(req))
        .await?;
    Ok(Json(json!(ConversationJson(conv.get_ref()))))
}

/// 200 with the group (public groups only).
#[utoipa::path(
    post,
    path = "/v1/groups/{group_id}/join",
    tag = "groups",
    operation_id = "groups_join",
    params(
        ("group_id" = String, Path, description = "the group (its conversation id)"),
    ),
    responses(
        (status = 200, description = "the group, now with the caller", body = crate::http::openapi::Conversation),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "ALREADY_EXISTS", body = crate::http::openapi::ErrorBody),
        (status = 412, description = "FAILED_PRECONDITION: valid, but the current state does not allow it", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn join(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(group_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let req = who.request(GroupRef { group_id });
    let conv = state.logic.groups.clone().join_group(req).await?;
    Ok(Json(json!(ConversationJson(conv.get_ref()))))
}

#[utoipa::path(
    post,
    path = "/v1/groups/{group_id}/leave",
    tag = "groups",
    operation_id = "groups_leave",
    params(
        ("group_id" = String, Path, description = "the group (its conversation id)"),
    ),
    responses(
        (status = 204, description = "the caller left"),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
        (status = 412, description = "FAILED_PRECONDITION: valid, but the current state does not allow it", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn leave(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(group_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let req = who.request(GroupRef { group_id });
    state.logic.groups.clone().leave_group(req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// 200 with the group after the new members are in.
#[utoipa::path(
    post,
    path = "/v1/groups/{group_id}/members",
    tag = "groups",
    operation_id = "groups_add",
    params(
        ("group_id" = String, Path, description = "the group (its conversation id)"),
    ),
    request_body = AddBody,
    responses(
        (status = 200, description = "the group with the new members", body = crate::http::openapi::Conversation),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "ALREADY_EXISTS", body = crate::http::openapi::ErrorBody),
        (status = 412, description = "FAILED_PRECONDITION: valid, but the current state does not allow it", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn add(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(group_id): Path<String>,
    Body(b): Body<AddBody>,
) -> Result<Json<Value>, ApiError> {
    let req = AddMembersRequest {
        group_id,
        user_ids: b.user_ids,
    };
    let conv = state
        .logic
        .groups
        .clone()
        .add_members(who.request(req))
        .await?;
    Ok(Json(json!(ConversationJson(conv.get_ref()))))
}

#[utoipa::path(
    delete,
    path = "/v1/groups/{group_id}/members/{user_id}",
    tag = "groups",
    operation_id = "groups_remove",
    params(
        ("group_id" = String, Path, description = "the group (its conversation id)"),
        ("user_id" = String, Path, description = "the member"),
    ),
    responses(
        (status = 204, description = "the member was removed"),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
        (status = 412, description = "FAILED_PRECONDITION: valid, but the current state does not allow it", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn remove(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path((group_id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let req = who.request(RemoveMemberRequest { group_id, user_id });
    state.logic.groups.clone().remove_member(req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// 200 with the member after the change; "owner" transfers ownership.
#[utoipa::path(
    put,
    path = "/v1/groups/{group_id}/members/{user_id}/role",
    tag = "groups",
    operation_id = "groups_set_role",
    params(
        ("group_id" = String, Path, description = "the group (its conversation id)"),
        ("user_id" = String, Path, description = "the member"),
    ),
    request_body = RoleBody,
    responses(
        (status = 200, description = "the member after the change", body = crate::http::openapi::Member),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
        (status = 412, description = "FAILED_PRECONDITION: valid, but the current state does not allow it", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn set_role(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path((group_id, user_id)): Path<(String, String)>,
    Body(b): Body<RoleBody>,
) -> Result<Json<Value>, ApiError> {
    let role = match b.role.as_str() {
        "member" => MemberRole::Member,
        "admin" => MemberRole::Admin,
        "owner" => MemberRole::Owner,
        _ => {
            return Err(ApiError::invalid(
                "role must be \"member\", \"admin\" or \"owner\"",
            ));
        }
    };
    let req = SetMemberRoleRequest {
        group_id,
        user_id,
        role: role as i32,
    };
    let member = state
        .logic
        .groups
        .clone()
        .set_member_role(who.request(req))
        .await?;
    Ok(Json(json::member(member.get_ref())))
}

#[utoipa::path(
    get,
    path = "/v1/groups/{group_id}/members",
    tag = "groups",
    operation_id = "groups_members",
    params(
        ("group_id" = String, Path, description = "the group (its conversation id)"),
        ("limit" = Option<i32>, Query, minimum = 1, maximum = 200, description = "page size, 1-200, default 50"),
        ("cursor" = Option<String>, Query, description = "the `next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "the members with their roles", body = crate::http::openapi::MembersPage),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
        (status = 412, description = "FAILED_PRECONDITION: valid, but the current state does not allow it", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn members(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(group_id): Path<String>,
    Params(page): Params<Page>,
) -> Result<Json<Value>, ApiError> {
    let req = ListMembersRequest {
        group_id,
        limit: page.limit,
        cursor: page.cursor,
    };
    let out = state
        .logic
        .groups
        .clone()
        .list_members(who.request(req))
        .await?
        .into_inner();
    Ok(Json(members_page(&out.members, out.next_cursor)))
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/groups", post(create).get(mine))
        .route("/v1/groups/{group_id}", get(get_one).patch(update))
        .route("/v1/groups/{group_id}/join", post(join))
        .route("/v1/groups/{group_id}/leave", post(leave))
        .route("/v1/groups/{group_id}/members", post(add).get(members))
        .route("/v1/groups/{group_id}/members/{user_id}", delete(remove))
        .route(
            "/v1/groups/{group_id}/members/{user_id}/role",
            put(set_role),
        )
}

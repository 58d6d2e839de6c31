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

#[derive(Deserialize)]
pub struct CreateBody {
    name: String,
    #[serde(default)]
    member_ids: Vec<String>,
    max_members: Option<i32>,
    #[serde(default)]
    is_public: bool,
    avatar_url: Option<String>,
}

#[derive(Deserialize)]
pub struct UpdateBody {
    name: Option<String>,
    avatar_url: Option<String>,
    is_public: Option<bool>,
    max_members: Option<i32>,
}

#[derive(Deserialize)]
pub struct AddBody {
    user_ids: Vec<String>,
}

#[derive(Deserialize)]
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

pub async fn get_one(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(group_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let req = who.request(GroupRef { group_id });
    let conv = state.logic.groups.clone().get_group(req).await?;
    Ok(Json(json!(ConversationJson(conv.get_ref()))))
}

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
pub async fn join(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(group_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let req = who.request(GroupRef { group_id });
    let conv = state.logic.groups.clone().join_group(req).await?;
    Ok(Json(json!(ConversationJson(conv.get_ref()))))
}

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

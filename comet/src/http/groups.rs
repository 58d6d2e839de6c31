//! `POST /v1/groups`.

use super::{Authed, Body};
use crate::{AppState, error::ApiError};
use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
use natter_proto::{json::ConversationJson, logic::CreateGroupRequest};
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

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/groups", post(create))
}

//! `POST /v1/register`, `/v1/login`, `/v1/guest`, `/v1/refresh` (no token needed), and with a
//! token `POST /v1/logout` and `POST /v1/guest/upgrade`.

use super::{Authed, Body};
use crate::{AppState, error::ApiError};
use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
use natter_proto::{
    json,
    logic::{
        Empty, GuestLoginRequest, LoginRequest, RefreshRequest, RegisterRequest,
        UpgradeGuestRequest,
    },
};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
pub struct RegisterBody {
    email: String,
    password: String,
    nickname: Option<String>,
    device_id: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginBody {
    email: String,
    password: String,
    device_id: Option<String>,
}

#[derive(Deserialize)]
pub struct GuestBody {
    nickname: Option<String>,
    device_id: Option<String>,
}

#[derive(Deserialize)]
pub struct RefreshBody {
    refresh_token: String,
}

pub async fn register(
    State(state): State<AppState>,
    Body(b): Body<RegisterBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let req = RegisterRequest {
        email: b.email,
        password: b.password,
        nickname: b.nickname,
        device_id: b.device_id,
    };
    let tokens = state.logic.auth.clone().register(req).await?.into_inner();
    Ok((StatusCode::CREATED, Json(json::tokens(&tokens))))
}

pub async fn login(
    State(state): State<AppState>,
    Body(b): Body<LoginBody>,
) -> Result<Json<Value>, ApiError> {
    let req = LoginRequest {
        email: b.email,
        password: b.password,
        device_id: b.device_id,
    };
    let tokens = state.logic.auth.clone().login(req).await?.into_inner();
    Ok(Json(json::tokens(&tokens)))
}

/// The body is optional: `POST /v1/guest` with none gives a generated nickname.
pub async fn guest(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b: GuestBody = if body.iter().all(u8::is_ascii_whitespace) {
        GuestBody {
            nickname: None,
            device_id: None,
        }
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid(format!("malformed JSON: {e}")))?
    };
    let req = GuestLoginRequest {
        nickname: b.nickname,
        device_id: b.device_id,
    };
    let tokens = state
        .logic
        .auth
        .clone()
        .guest_login(req)
        .await?
        .into_inner();
    Ok((StatusCode::CREATED, Json(json::tokens(&tokens))))
}

pub async fn refresh(
    State(state): State<AppState>,
    Body(b): Body<RefreshBody>,
) -> Result<Json<Value>, ApiError> {
    let req = RefreshRequest {
        refresh_token: b.refresh_token,
    };
    let tokens = state.logic.auth.clone().refresh(req).await?.into_inner();
    Ok(Json(json::tokens(&tokens)))
}

/// 204: the session's tokens stop working and its sockets close with 4003 (logic kicks them).
pub async fn logout(
    State(state): State<AppState>,
    Authed(who): Authed,
) -> Result<StatusCode, ApiError> {
    state
        .logic
        .auth
        .clone()
        .logout(who.request(Empty {}))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpgradeBody {
    email: String,
    password: String,
}

/// 200 `Profile`: the guest keeps their id, nickname, chats and session.
pub async fn upgrade_guest(
    State(state): State<AppState>,
    Authed(who): Authed,
    Body(b): Body<UpgradeBody>,
) -> Result<Json<Value>, ApiError> {
    let req = UpgradeGuestRequest {
        email: b.email,
        password: b.password,
    };
    let profile = state
        .logic
        .auth
        .clone()
        .upgrade_guest(who.request(req))
        .await?
        .into_inner();
    Ok(Json(json::profile(&profile)))
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/register", post(register))
        .route("/v1/login", post(login))
        .route("/v1/guest", post(guest))
        .route("/v1/refresh", post(refresh))
        .route("/v1/logout", post(logout))
        .route("/v1/guest/upgrade", post(upgrade_guest))
}

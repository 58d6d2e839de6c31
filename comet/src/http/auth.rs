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

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RegisterBody {
    email: String,
    password: String,
    nickname: Option<String>,
    device_id: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginBody {
    email: String,
    password: String,
    device_id: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct GuestBody {
    nickname: Option<String>,
    device_id: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RefreshBody {
    refresh_token: String,
}

#[utoipa::path(
    post,
    path = "/v1/register",
    tag = "auth",
    operation_id = "auth_register",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "the new account's tokens", body = crate::http::openapi::Tokens),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "ALREADY_EXISTS: email already registered or nickname taken", body = crate::http::openapi::ErrorBody),
    ),
)]
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

#[utoipa::path(
    post,
    path = "/v1/login",
    tag = "auth",
    operation_id = "auth_login",
    request_body = LoginBody,
    responses(
        (status = 200, description = "a new session's tokens", body = crate::http::openapi::Tokens),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: wrong email or password", body = crate::http::openapi::ErrorBody),
    ),
)]
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
#[utoipa::path(
    post,
    path = "/v1/guest",
    tag = "auth",
    operation_id = "auth_guest",
    request_body = Option<GuestBody>,
    responses(
        (status = 201, description = "a new guest account's tokens", body = crate::http::openapi::Tokens),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "ALREADY_EXISTS: nickname taken", body = crate::http::openapi::ErrorBody),
    ),
)]
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

#[utoipa::path(
    post,
    path = "/v1/refresh",
    tag = "auth",
    operation_id = "auth_refresh",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "the session's next tokens; the old refresh token stops working", body = crate::http::openapi::Tokens),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: a bad, used or expired refresh token", body = crate::http::openapi::ErrorBody),
    ),
)]
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
#[utoipa::path(
    post,
    path = "/v1/logout",
    tag = "auth",
    operation_id = "auth_logout",
    responses(
        (status = 204, description = "the session ended; its sockets close with 4003"),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradeBody {
    email: String,
    password: String,
}

/// 200 `Profile`: the guest keeps their id, nickname, chats and session.
#[utoipa::path(
    post,
    path = "/v1/guest/upgrade",
    tag = "auth",
    operation_id = "auth_upgrade_guest",
    request_body = UpgradeBody,
    responses(
        (status = 200, description = "the upgraded profile, same id", body = crate::http::openapi::Profile),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "PERMISSION_DENIED: the caller may not do this", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "ALREADY_EXISTS: email already registered", body = crate::http::openapi::ErrorBody),
        (status = 412, description = "FAILED_PRECONDITION: the account is not a guest", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
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

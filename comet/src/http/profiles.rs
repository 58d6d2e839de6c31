//! `/v1/profile...`, `/v1/profiles/batch`, `/v1/users/search` and `/v1/account`: profiles, user
//! search and account deletion. Every route needs a token; the rules live in logic.

use super::{Authed, Body, Params};
use crate::{AppState, error::ApiError};
use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{delete, get, post},
};
use natter_proto::{
    json,
    logic::{
        BatchGetProfilesRequest, Empty, GetProfileRequest, SearchUsersRequest, UpdateProfileRequest,
    },
};
use serde::Deserialize;
use serde_json::{Value, json};

/// `GET /v1/profile/{user_id}`: anyone's profile (a deleted account says `deleted: true`).
#[utoipa::path(
    get,
    path = "/v1/profile/{user_id}",
    tag = "profiles",
    operation_id = "profiles_get_profile",
    params(
        ("user_id" = String, Path, description = "the user"),
    ),
    responses(
        (status = 200, description = "the profile (deleted: true for a deleted account)", body = crate::http::openapi::Profile),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn get_profile(
    State(state): State<AppState>,
    Authed(who): Authed,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let req = who.request(GetProfileRequest { user_id });
    let profile = state
        .logic
        .users
        .clone()
        .get_profile(req)
        .await?
        .into_inner();
    Ok(Json(json::profile(&profile)))
}

/// `GET /v1/profile`: the caller's own.
#[utoipa::path(
    get,
    path = "/v1/profile",
    tag = "profiles",
    operation_id = "profiles_own_profile",
    responses(
        (status = 200, description = "the caller's profile", body = crate::http::openapi::Profile),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn own_profile(
    State(state): State<AppState>,
    Authed(who): Authed,
) -> Result<Json<Value>, ApiError> {
    let req = who.request(GetProfileRequest {
        user_id: who.user_id.clone(),
    });
    let profile = state
        .logic
        .users
        .clone()
        .get_profile(req)
        .await?
        .into_inner();
    Ok(Json(json::profile(&profile)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    nickname: Option<String>,
    bio: Option<String>,
    avatar_url: Option<String>,
}

/// `PATCH /v1/profile`: the fields given change, the others stay.
#[utoipa::path(
    patch,
    path = "/v1/profile",
    tag = "profiles",
    operation_id = "profiles_update_profile",
    request_body = ProfilePatch,
    responses(
        (status = 200, description = "the updated profile", body = crate::http::openapi::Profile),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "ALREADY_EXISTS: nickname taken", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn update_profile(
    State(state): State<AppState>,
    Authed(who): Authed,
    Body(b): Body<ProfilePatch>,
) -> Result<Json<Value>, ApiError> {
    let req = who.request(UpdateProfileRequest {
        nickname: b.nickname,
        bio: b.bio,
        avatar_url: b.avatar_url,
    });
    let profile = state
        .logic
        .users
        .clone()
        .update_profile(req)
        .await?
        .into_inner();
    Ok(Json(json::profile(&profile)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    user_ids: Vec<String>,
}

/// `POST /v1/profiles/batch`: up to 100 profiles in the order asked; unknown ids left out.
#[utoipa::path(
    post,
    path = "/v1/profiles/batch",
    tag = "profiles",
    operation_id = "profiles_batch",
    request_body = BatchBody,
    responses(
        (status = 200, description = "up to 100 profiles in the order asked; unknown ids left out", body = crate::http::openapi::Profiles),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn batch(
    State(state): State<AppState>,
    Authed(who): Authed,
    Body(b): Body<BatchBody>,
) -> Result<Json<Value>, ApiError> {
    let req = who.request(BatchGetProfilesRequest {
        user_ids: b.user_ids,
    });
    let out = state
        .logic
        .users
        .clone()
        .batch_get_profiles(req)
        .await?
        .into_inner();
    let profiles: Vec<Value> = out.profiles.iter().map(json::profile).collect();
    Ok(Json(json!({ "profiles": profiles })))
}

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    query: String,
    #[serde(default)]
    limit: i32,
    cursor: Option<String>,
}

/// `GET /v1/users/search?query=&limit=&cursor=`: nickname prefix, ordered by nickname.
#[utoipa::path(
    get,
    path = "/v1/users/search",
    tag = "profiles",
    operation_id = "profiles_search",
    params(
        ("query" = String, Query, description = "a nickname prefix: 1-20 of a-z 0-9 _, case-insensitive"),
        ("limit" = Option<i32>, Query, minimum = 1, maximum = 50, description = "page size, 1-50, default 20"),
        ("cursor" = Option<String>, Query, description = "the `next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "profiles whose nickname starts with the query, by nickname", body = crate::http::openapi::SearchPage),
        (status = 400, description = "INVALID_ARGUMENT: malformed JSON, a wrong type or a value out of bounds", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn search(
    State(state): State<AppState>,
    Authed(who): Authed,
    Params(q): Params<SearchQuery>,
) -> Result<Json<Value>, ApiError> {
    let req = who.request(SearchUsersRequest {
        query: q.query,
        limit: q.limit,
        cursor: q.cursor,
    });
    let out = state
        .logic
        .users
        .clone()
        .search_users(req)
        .await?
        .into_inner();
    let results: Vec<Value> = out.results.iter().map(json::profile).collect();
    let mut body = json!({ "results": results });
    if let Some(cursor) = out.next_cursor {
        body["next_cursor"] = Value::String(cursor);
    }
    Ok(Json(body))
}

/// `DELETE /v1/account`: 204; messages stay, every session ends, sockets close with 4003.
#[utoipa::path(
    delete,
    path = "/v1/account",
    tag = "profiles",
    operation_id = "profiles_delete_account",
    responses(
        (status = 204, description = "the account is deleted; every session ends"),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "NOT_FOUND", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn delete_account(
    State(state): State<AppState>,
    Authed(who): Authed,
) -> Result<StatusCode, ApiError> {
    let req = who.request(Empty {});
    state.logic.users.clone().delete_account(req).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/profile", get(own_profile).patch(update_profile))
        .route("/v1/profile/{user_id}", get(get_profile))
        .route("/v1/profiles/batch", post(batch))
        .route("/v1/users/search", get(search))
        .route("/v1/account", delete(delete_account))
}

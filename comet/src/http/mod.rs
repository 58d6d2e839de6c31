//! The public REST API (PROTOCOL.md) and the WebSocket endpoint, on one router. Handlers parse
//! with the extractors below, which turn every malformed request into the protocol's JSON error.

mod auth;
mod chats;
mod friends;
mod groups;
pub(crate) mod openapi;
mod presence;
mod profiles;

use crate::{AppState, error::ApiError, logic::Identity, ws};
use axum::{
    Router,
    extract::{
        DefaultBodyLimit, FromRequest, FromRequestParts, Query, Request, rejection::QueryRejection,
    },
    http::{HeaderMap, header::AUTHORIZATION, request::Parts},
    routing::get,
};
use bytes::Bytes;
use serde::de::DeserializeOwned;

/// `extra` (the logic tier's gRPC routes, in the embedded mode) is served on the same port.
pub fn router(state: AppState, extra: Option<Router>) -> Router {
    let max_body = state.config.max_body_bytes;
    // Each module registers its own routes, so a domain's routes live beside its handlers.
    let api = Router::new()
        .merge(auth::routes())
        .merge(chats::routes())
        .merge(groups::routes())
        .merge(profiles::routes())
        .merge(friends::routes())
        .merge(presence::routes())
        .merge(openapi::routes())
        .route("/v1/ws", get(ws::upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state);
    // Merged before the fallback is set: axum refuses to merge two routers that both have one.
    api.merge(extra.unwrap_or_default())
        .fallback(|| async { ApiError::new(tonic::Code::NotFound, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::invalid("this route does not take that method")
        })
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// A caller whose access token verified. comet checks the signature itself: no call to logic.
pub struct Authed(pub Identity);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or_else(|| {
            ApiError::unauthenticated("missing Authorization: Bearer <access_token>")
        })?;
        let claims = state
            .verifier
            .verify(token)
            .map_err(|_| ApiError::unauthenticated("invalid or expired access token"))?;
        Ok(Authed(Identity {
            user_id: claims.sub,
            session_id: claims.sid,
            connection_id: None,
        }))
    }
}

/// A JSON body; anything else is a 400 that says what was wrong with it. The Content-Type is
/// not checked: every body of this API is JSON, and `curl -d` without a header should just work.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status().as_u16() == 413 {
                ApiError::invalid(format!(
                    "request body is larger than {} KiB",
                    state.config.max_body_bytes / 1024
                ))
            } else {
                ApiError::invalid(rejection.body_text())
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::invalid("expected a JSON body"));
        }
        serde_json::from_slice(&bytes).map(Body).map_err(|e| {
            if e.is_data() {
                ApiError::invalid(format!("invalid body: {e}"))
            } else {
                ApiError::invalid(format!("malformed JSON: {e}"))
            }
        })
    }
}

/// Query parameters; a malformed one is a 400 that names it.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Params(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::invalid(e.body_text()))
            }
            Err(other) => Err(ApiError::invalid(other.body_text())),
        }
    }
}

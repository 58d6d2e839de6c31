//! `GET /v1/presence`: whether users are online now, in one batch. Anyone signed in may ask
//! about anyone, as with logic's `GetOnlineStatus` (online status is no secret among users who
//! can already search each other); the `presence` pushes go to friends and fellow members only.

use super::{Authed, Params};
use crate::{AppState, error::ApiError};
use axum::{Json, Router, extract::State, routing::get};
use natter_proto::logic::GetOnlineStatusRequest;
use serde::Deserialize;
use serde_json::{Value, json};

/// Users one request may ask about.
const MAX_USERS: usize = 100;

#[derive(Deserialize)]
pub struct PresenceQuery {
    #[serde(default)]
    user_ids: String,
}

/// `GET /v1/presence?user_ids=a,b,c`: each user's status, in the order asked.
#[utoipa::path(
    get,
    path = "/v1/presence",
    tag = "presence",
    operation_id = "presence_batch",
    params(
        ("user_ids" = String, Query, description = "1-100 user ids, comma-separated"),
    ),
    responses(
        (status = 200, description = "each user's status, in the order asked (unknown ids are offline)", body = crate::http::openapi::Statuses),
        (status = 400, description = "INVALID_ARGUMENT: no user_ids, an empty id, or more than 100", body = crate::http::openapi::ErrorBody),
        (status = 401, description = "UNAUTHENTICATED: no token, or a bad or expired one", body = crate::http::openapi::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn batch(
    State(state): State<AppState>,
    Authed(who): Authed,
    Params(q): Params<PresenceQuery>,
) -> Result<Json<Value>, ApiError> {
    let user_ids = parse_ids(&q.user_ids)?;
    let req = who.request(GetOnlineStatusRequest { user_ids });
    let out = state
        .logic
        .presence
        .clone()
        .get_online_status(req)
        .await?
        .into_inner();
    let statuses: Vec<Value> = out
        .statuses
        .iter()
        .map(|s| json!({ "user_id": s.user_id, "online": s.online }))
        .collect();
    Ok(Json(json!({ "statuses": statuses })))
}

/// `a,b,c` into ids: 1 to [`MAX_USERS`], none empty.
fn parse_ids(list: &str) -> Result<Vec<String>, ApiError> {
    if list.trim().is_empty() {
        return Err(ApiError::invalid(
            "user_ids is required: 1-100 user ids, comma-separated",
        ));
    }
    let ids: Vec<String> = list.split(',').map(|id| id.trim().to_owned()).collect();
    if ids.len() > MAX_USERS {
        return Err(ApiError::invalid(format!(
            "at most {MAX_USERS} user_ids per request ({} given)",
            ids.len()
        )));
    }
    if ids.iter().any(String::is_empty) {
        return Err(ApiError::invalid("user_ids contains an empty id"));
    }
    Ok(ids)
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/presence", get(batch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_split_on_commas_and_bounded() {
        assert_eq!(parse_ids("a, b,c").unwrap(), ["a", "b", "c"]);
        assert!(parse_ids("").is_err());
        assert!(parse_ids("a,,b").is_err());
        let hundred = vec!["x"; 100].join(",");
        assert_eq!(parse_ids(&hundred).unwrap().len(), 100);
        assert!(parse_ids(&format!("{hundred},y")).is_err());
    }
}

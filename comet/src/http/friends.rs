//! `/v1/friends...`: friend requests, friends and blocks.

use crate::AppState;
use axum::Router;

pub fn routes() -> Router<AppState> {
    Router::new()
}

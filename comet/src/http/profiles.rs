//! `/v1/profile...` and `/v1/users/...`: profiles and user search.

use crate::AppState;
use axum::Router;

pub fn routes() -> Router<AppState> {
    Router::new()
}

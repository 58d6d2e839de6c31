//! `GET /v1/ws`: the WebSocket endpoint. A socket authenticates (first frame, or a bearer token
//! on the upgrade request), then runs as two halves joined by `select!`: the reader answers
//! requests, the writer drains the socket's bounded queue and pings.

mod frames;
mod methods;
mod pace;
mod session;

use crate::{AppState, http::bearer};
use axum::{
    extract::{State, WebSocketUpgrade},
    http::HeaderMap,
    response::Response,
};
use session::GOING_AWAY;

pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // A token on the upgrade request (non-browser clients) authenticates up front; a bad one is
    // still upgraded so the client gets the protocol's 4001 rather than a bare HTTP error.
    let preauth = bearer(&headers).map(|t| state.verifier.verify(t).map_err(|_| ()));
    let max = state.config.max_frame_bytes;
    ws.max_frame_size(max)
        .max_message_size(max)
        // Small buffers: most sockets are idle most of the time, and the read buffer is paid
        // per socket (a larger frame reserves its own length as it arrives). Writes collect up
        // to 8 KiB so that a burst of queued frames goes out in one write call (see
        // `session::write`); an idle socket's write buffer stays empty.
        .read_buffer_size(1024)
        .write_buffer_size(8 * 1024)
        .on_upgrade(move |socket| session::run(socket, state, preauth))
}

/// Once the node stops, asks every socket to close with 1001 ("going away"). A socket that
/// registers after this pass sees the shutdown itself (`session::run`).
pub(crate) fn close_on_shutdown(state: AppState) {
    let tasks = state.tasks.clone();
    tasks.spawn(async move {
        state.shutdown.cancelled().await;
        state.registry.for_all(|c| c.close_with(GOING_AWAY));
    });
}

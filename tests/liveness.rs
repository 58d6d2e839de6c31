//! Sockets that go quiet are closed; sockets that answer pings stay; shutdown says 1001.

mod common;

use common::{Backend, Stack};
use natter_testkit::Socket;
use serde_json::json;
use std::time::Duration;

on_both_backends!(
    a_socket_silent_for_two_heartbeats_is_closed_with_4008,
    a_socket_that_answers_pings_stays_open,
    shutting_down_closes_sockets_with_1001,
    a_socket_may_authenticate_with_a_bearer_header_instead,
    json_bodies_are_accepted_without_a_content_type,
);

async fn a_socket_silent_for_two_heartbeats_is_closed_with_4008(backend: Backend) {
    let stack = Stack::start_with(backend, 1, |c| c.heartbeat = Duration::from_millis(300)).await;
    let user = stack.api(0).new_user().await.unwrap();
    let (mut s, auth) = Socket::open(&stack.ws(0), &user.access_token, "web")
        .await
        .unwrap();
    assert_eq!(auth["heartbeat_ms"], 300);
    // Not reading means not answering the server's pings: the socket looks dead.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(s.closed().await.unwrap(), 4008);
}

async fn a_socket_that_answers_pings_stays_open(backend: Backend) {
    let stack = Stack::start_with(backend, 1, |c| c.heartbeat = Duration::from_millis(300)).await;
    let user = stack.api(0).new_user().await.unwrap();
    let (mut s, _) = Socket::open(&stack.ws(0), &user.access_token, "web")
        .await
        .unwrap();
    // Reading lets the client library answer each ping with a pong.
    assert!(s.push_within(Duration::from_millis(1_200)).await.is_none());
    assert_eq!(s.request("ping", json!({})).await.unwrap(), json!({}));
}

async fn shutting_down_closes_sockets_with_1001(backend: Backend) {
    let mut stack = Stack::start(backend, 1).await;
    let user = stack.api(0).new_user().await.unwrap();
    let (mut s, _) = Socket::open(&stack.ws(0), &user.access_token, "web")
        .await
        .unwrap();
    let stopping = tokio::spawn(async move {
        stack.stop().await;
    });
    assert_eq!(s.closed().await.unwrap(), 1001);
    stopping.await.unwrap();
}

async fn a_socket_may_authenticate_with_a_bearer_header_instead(backend: Backend) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (a, b) = (api.new_user().await.unwrap(), api.new_user().await.unwrap());
    let chat = api.direct(&a.access_token, &b.user_id).await.unwrap();
    let mut req = format!("{}/v1/ws", stack.ws(0))
        .into_client_request()
        .unwrap();
    let bearer = format!("Bearer {}", b.access_token).parse().unwrap();
    req.headers_mut().insert("authorization", bearer);
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    api.send(&a.access_token, &chat, "to a header-authenticated socket")
        .await
        .unwrap();
    use futures::StreamExt;
    let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let push: serde_json::Value = serde_json::from_str(frame.to_text().unwrap()).unwrap();
    assert_eq!(push["push"], "message");
    assert_eq!(push["data"]["content"], "to a header-authenticated socket");
}

async fn json_bodies_are_accepted_without_a_content_type(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let res = reqwest::Client::new()
        .post(format!("{}/v1/register", stack.api(0).base))
        .body(r#"{"email":"plain@example.org","password":"long enough","nickname":"plain"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
}

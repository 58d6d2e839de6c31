//! Bad input gets the right status and a message that says what was wrong, on both backends.

mod common;

use common::{Backend, Stack};
use natter_testkit::Socket;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    a_wrong_password_is_401,
    a_bad_email_or_nickname_or_password_is_400,
    a_duplicate_email_or_nickname_is_409,
    an_outsider_can_neither_read_nor_post_in_a_chat,
    malformed_json_and_wrong_types_are_400,
    requests_without_a_valid_token_are_401,
    an_oversized_frame_closes_the_socket_with_1009,
    a_bad_token_closes_the_socket_with_4001,
    a_socket_that_does_not_authenticate_in_time_is_closed_with_4001,
    bad_socket_requests_get_error_replies_and_the_socket_stays_open,
    text_with_a_nul_character_is_400_and_nothing_is_stored,
);

fn assert_error(status: StatusCode, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status.as_u16(), want_status, "{body}");
    assert_eq!(body["error"]["code"], want_code, "{body}");
    assert!(
        !body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{body}"
    );
}

async fn a_wrong_password_is_401(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    api.register("ann@example.org", "right password", "ann")
        .await
        .unwrap();
    let body = json!({ "email": "ann@example.org", "password": "wrong password" });
    let (status, v) = api
        .call(Method::POST, "/v1/login", None, Some(body))
        .await
        .unwrap();
    assert_error(status, &v, 401, "UNAUTHENTICATED");
    let body = json!({ "email": "nobody@example.org", "password": "right password" });
    let (status, v2) = api
        .call(Method::POST, "/v1/login", None, Some(body))
        .await
        .unwrap();
    assert_error(status, &v2, 401, "UNAUTHENTICATED");
    assert_eq!(
        v["error"]["message"], v2["error"]["message"],
        "no hint which one was wrong"
    );
    let body = json!({ "email": "ANN@example.org", "password": "right password" });
    let (status, v) = api
        .call(Method::POST, "/v1/login", None, Some(body))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "emails are case-insensitive: {v}");
}

async fn a_bad_email_or_nickname_or_password_is_400(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let cases = [
        json!({ "email": "not-an-email", "password": "long enough", "nickname": "bob" }),
        json!({ "email": "bob@example.org", "password": "long enough", "nickname": "Bob!" }),
        json!({ "email": "bob@example.org", "password": "long enough", "nickname": "b" }),
        json!({ "email": "bob@example.org", "password": "short", "nickname": "bob" }),
        json!({ "email": format!("{}@example.org", "x".repeat(250)), "password": "long enough" }),
    ];
    for body in cases {
        let (status, v) = api
            .call(Method::POST, "/v1/register", None, Some(body.clone()))
            .await
            .unwrap();
        assert_error(status, &v, 400, "INVALID_ARGUMENT");
    }
    let (status, v) = api
        .call(
            Method::POST,
            "/v1/guest",
            None,
            Some(json!({ "nickname": "NO" })),
        )
        .await
        .unwrap();
    assert_error(status, &v, 400, "INVALID_ARGUMENT");
}

async fn a_duplicate_email_or_nickname_is_409(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    api.register("cat@example.org", "long enough", "cat")
        .await
        .unwrap();
    let again =
        json!({ "email": "Cat@Example.org", "password": "long enough", "nickname": "cat2" });
    let (status, v) = api
        .call(Method::POST, "/v1/register", None, Some(again))
        .await
        .unwrap();
    assert_error(status, &v, 409, "ALREADY_EXISTS");
    let same_nick =
        json!({ "email": "other@example.org", "password": "long enough", "nickname": "cat" });
    let (status, v) = api
        .call(Method::POST, "/v1/register", None, Some(same_nick))
        .await
        .unwrap();
    assert_error(status, &v, 409, "ALREADY_EXISTS");
    let guest = json!({ "nickname": "cat" });
    let (status, v) = api
        .call(Method::POST, "/v1/guest", None, Some(guest))
        .await
        .unwrap();
    assert_error(status, &v, 409, "ALREADY_EXISTS");
}

async fn an_outsider_can_neither_read_nor_post_in_a_chat(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (a, b, eve) = (
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
    );
    let chat = api.direct(&a.access_token, &b.user_id).await.unwrap();
    api.send(&a.access_token, &chat, "private").await.unwrap();
    let path = format!("/v1/chats/{chat}/messages");
    let (status, v) = api
        .call(Method::GET, &path, Some(&eve.access_token), None)
        .await
        .unwrap();
    assert_error(status, &v, 403, "PERMISSION_DENIED");
    let post = format!("/v1/chats/{chat}/message");
    let body = json!({ "content": "let me in" });
    let (status, v) = api
        .call(Method::POST, &post, Some(&eve.access_token), Some(body))
        .await
        .unwrap();
    assert_error(status, &v, 403, "PERMISSION_DENIED");
    let (mut s, _) = Socket::open(&stack.ws(0), &eve.access_token, "web")
        .await
        .unwrap();
    let reply = s
        .call("sync", json!({ "conversation_id": chat, "after_seq": 0 }))
        .await
        .unwrap();
    assert_eq!(reply["error"]["code"], "PERMISSION_DENIED");
    let (status, v) = api
        .call(
            Method::GET,
            "/v1/chats/no-such-chat/messages",
            Some(&eve.access_token),
            None,
        )
        .await
        .unwrap();
    assert_error(status, &v, 404, "NOT_FOUND");
    // Opening a direct chat with nobody, or with oneself.
    let body = json!({ "participant_id": "no-such-user" });
    let (status, v) = api
        .call(
            Method::POST,
            "/v1/chats/direct",
            Some(&a.access_token),
            Some(body),
        )
        .await
        .unwrap();
    assert_error(status, &v, 404, "NOT_FOUND");
    let body = json!({ "participant_id": a.user_id });
    let (status, v) = api
        .call(
            Method::POST,
            "/v1/chats/direct",
            Some(&a.access_token),
            Some(body),
        )
        .await
        .unwrap();
    assert_error(status, &v, 400, "INVALID_ARGUMENT");
    // The first open is 201, the same pair again 200 with the same chat.
    let body = json!({ "participant_id": a.user_id });
    let (status, v) = api
        .call(
            Method::POST,
            "/v1/chats/direct",
            Some(&b.access_token),
            Some(body),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["conversation_id"], chat.as_str());
}

async fn malformed_json_and_wrong_types_are_400(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (status, v) = api.post_raw("/v1/register", "{\"email\": ").await.unwrap();
    assert_error(status, &v, 400, "INVALID_ARGUMENT");
    let (status, v) = api.post_raw("/v1/login", "[1, 2]").await.unwrap();
    assert_error(status, &v, 400, "INVALID_ARGUMENT");
    let a = api.new_user().await.unwrap();
    let b = api.new_user().await.unwrap();
    let chat = api.direct(&a.access_token, &b.user_id).await.unwrap();
    let path = format!("/v1/chats/{chat}/message");
    let bad = [
        json!({ "content": 42 }),
        json!({ "content": "x", "type": "video" }),
        json!({ "content": "x", "type": "system" }),
        json!({ "content": "x", "metadata": { "k": 1 } }),
        json!({ "content": "x".repeat(70 * 1024) }),
        json!({ "content": "" }),
    ];
    for body in bad {
        let (status, v) = api
            .call(Method::POST, &path, Some(&a.access_token), Some(body))
            .await
            .unwrap();
        assert_error(status, &v, 400, "INVALID_ARGUMENT");
    }
    let path = format!("/v1/chats/{chat}/messages?limit=lots");
    let (status, v) = api
        .call(Method::GET, &path, Some(&a.access_token), None)
        .await
        .unwrap();
    assert_error(status, &v, 400, "INVALID_ARGUMENT");
    let path = format!("/v1/chats/{chat}/messages?limit=1000");
    let (status, v) = api
        .call(Method::GET, &path, Some(&a.access_token), None)
        .await
        .unwrap();
    assert_error(status, &v, 400, "INVALID_ARGUMENT");
    let (status, v) = api
        .call(Method::GET, "/v1/nowhere", None, None)
        .await
        .unwrap();
    assert_error(status, &v, 404, "NOT_FOUND");
}

async fn requests_without_a_valid_token_are_401(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (status, v) = api
        .call(Method::GET, "/v1/chats", None, None)
        .await
        .unwrap();
    assert_error(status, &v, 401, "UNAUTHENTICATED");
    let (status, v) = api
        .call(Method::GET, "/v1/chats", Some("not.a.jwt"), None)
        .await
        .unwrap();
    assert_error(status, &v, 401, "UNAUTHENTICATED");
    let user = api.new_user().await.unwrap();
    let mut forged = user.access_token.clone();
    forged.truncate(forged.len() - 4);
    forged.push_str("AAAA");
    let (status, v) = api
        .call(Method::GET, "/v1/chats", Some(&forged), None)
        .await
        .unwrap();
    assert_error(status, &v, 401, "UNAUTHENTICATED");
    let body = json!({ "refresh_token": "made-up" });
    let (status, v) = api
        .call(Method::POST, "/v1/refresh", None, Some(body))
        .await
        .unwrap();
    assert_error(status, &v, 401, "UNAUTHENTICATED");
}

async fn an_oversized_frame_closes_the_socket_with_1009(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let user = stack.api(0).new_user().await.unwrap();
    let (mut s, _) = Socket::open(&stack.ws(0), &user.access_token, "web")
        .await
        .unwrap();
    let huge = format!(
        "{{\"id\":9,\"method\":\"ping\",\"params\":{{\"pad\":\"{}\"}}}}",
        "x".repeat(1024 * 1024 + 10)
    );
    let _ = s.send_text(huge).await;
    assert_eq!(s.closed().await.unwrap(), 1009);
}

async fn a_bad_token_closes_the_socket_with_4001(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let mut s = Socket::connect(&stack.ws(0)).await.unwrap();
    let auth =
        json!({ "id": 1, "method": "auth", "params": { "token": "forged", "device_id": "x" } });
    s.send_text(auth.to_string()).await.unwrap();
    assert_eq!(s.closed().await.unwrap(), 4001);
    // A first frame that is not auth is refused the same way.
    let mut s = Socket::connect(&stack.ws(0)).await.unwrap();
    s.send_text(json!({ "id": 1, "method": "ping", "params": {} }).to_string())
        .await
        .unwrap();
    assert_eq!(s.closed().await.unwrap(), 4001);
}

async fn a_socket_that_does_not_authenticate_in_time_is_closed_with_4001(backend: Backend) {
    let stack =
        Stack::start_with(backend, 1, |c| c.auth_timeout = Duration::from_millis(300)).await;
    let mut s = Socket::connect(&stack.ws(0)).await.unwrap();
    assert_eq!(s.closed().await.unwrap(), 4001);
}

async fn bad_socket_requests_get_error_replies_and_the_socket_stays_open(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let user = stack.api(0).new_user().await.unwrap();
    let (mut s, _) = Socket::open(&stack.ws(0), &user.access_token, "web")
        .await
        .unwrap();
    let reply = s.call("fly", json!({})).await.unwrap();
    assert_eq!(reply["error"]["code"], "INVALID_ARGUMENT");
    let reply = s
        .call("send", json!({ "content": "no conversation" }))
        .await
        .unwrap();
    assert_eq!(reply["error"]["code"], "INVALID_ARGUMENT");
    let reply = s
        .call("sync", json!({ "conversation_id": "nope", "after_seq": 0 }))
        .await
        .unwrap();
    assert_eq!(reply["error"]["code"], "NOT_FOUND");
    s.send_text("{oops".into()).await.unwrap();
    assert_eq!(s.request("ping", json!({})).await.unwrap(), json!({}));
}

/// U+0000 is valid JSON but no text PostgreSQL can store: it is refused with a message that
/// names it, the same on both backends, and nothing of the request is stored (the next
/// message still takes seq 1, the bio is still empty, the caller is in no group).
async fn text_with_a_nul_character_is_400_and_nothing_is_stored(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let a = api.new_user().await.unwrap();
    let b = api.new_user().await.unwrap();
    let chat = api.direct(&a.access_token, &b.user_id).await.unwrap();
    let send = format!("/v1/chats/{chat}/message");
    let bad = [
        (Method::POST, send.as_str(), json!({ "content": "a\u{0}b" })),
        (
            Method::POST,
            &send,
            json!({ "content": "x", "client_msg_id": "k\u{0}" }),
        ),
        (
            Method::POST,
            &send,
            json!({ "content": "x", "metadata": { "k\u{0}": "v" } }),
        ),
        (
            Method::POST,
            &send,
            json!({ "content": "x", "metadata": { "k": "v\u{0}" } }),
        ),
        (
            Method::POST,
            "/v1/chats/x%00y/message",
            json!({ "content": "x" }),
        ),
        (
            Method::PATCH,
            "/v1/profile",
            json!({ "bio": "nul\u{0}bio" }),
        ),
        (
            Method::POST,
            "/v1/groups",
            json!({ "name": "g\u{0}", "member_ids": [b.user_id] }),
        ),
    ];
    for (method, path, body) in bad {
        let (status, v) = api
            .call(
                method.clone(),
                path,
                Some(&a.access_token),
                Some(body.clone()),
            )
            .await
            .unwrap();
        assert_error(status, &v, 400, "INVALID_ARGUMENT");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("U+0000"), "{method} {path} {body}: {v}");
    }
    let sent = api.send(&a.access_token, &chat, "after").await.unwrap();
    assert_eq!(sent["seq"], 1, "nothing was stored before: {sent}");
    let (_, profile) = api
        .call(Method::GET, "/v1/profile", Some(&a.access_token), None)
        .await
        .unwrap();
    assert_eq!(profile["bio"], "", "{profile}");
    let (_, chats) = api
        .call(Method::GET, "/v1/chats", Some(&a.access_token), None)
        .await
        .unwrap();
    assert_eq!(chats["chats"].as_array().map(Vec::len), Some(1), "{chats}");
}

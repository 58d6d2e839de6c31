//! Blocks as a client sees them: a blocked user can neither message nor befriend the blocker, a
//! block ends a friendship and pending requests; and the switch that makes direct chats
//! friends-only.

mod common;
mod social;

use common::{Backend, Stack};
use natter_logic::LogicConfig;
use natter_testkit::Socket;
use reqwest::{Method, StatusCode};
use serde_json::json;
use social::{assert_error, befriend, call, friends, post};
use std::time::Duration;

on_both_backends!(
    a_blocked_user_can_neither_message_nor_befriend,
    blocking_a_friend_ends_the_friendship_and_pending_requests,
    with_friendship_required_only_friends_open_and_write_direct_chats,
);

async fn a_blocked_user_can_neither_message_nor_befriend(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (a, b) = (api.new_user().await.unwrap(), api.new_user().await.unwrap());
    let chat = api.direct(&a.access_token, &b.user_id).await.unwrap();
    api.send(&b.access_token, &chat, "before").await.unwrap();

    let block = format!("/v1/blocks/{}", b.user_id);
    assert_eq!(
        call(&api, &a, Method::POST, &block).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&api, &a, Method::POST, &block).await.0,
        StatusCode::NO_CONTENT
    );
    let (_, listed) = call(&api, &a, Method::GET, "/v1/blocks").await;
    assert_eq!(listed, json!({ "user_ids": [b.user_id] }));

    let path = format!("/v1/chats/{chat}/message");
    for who in [&b, &a] {
        let refused = post(&api, who, &path, json!({ "content": "hi" })).await;
        assert_error(&refused, 403, "PERMISSION_DENIED");
        assert_eq!(refused.1["error"]["message"], "blocked");
    }
    let (mut sb, _) = Socket::open(&stack.ws(0), &b.access_token, "b")
        .await
        .unwrap();
    let ws = sb
        .call("send", json!({ "conversation_id": chat, "content": "hi" }))
        .await
        .unwrap();
    assert_eq!(ws["error"]["code"], "PERMISSION_DENIED", "{ws}");
    let request = call(
        &api,
        &b,
        Method::POST,
        &format!("/v1/friends/{}/request", a.user_id),
    )
    .await;
    assert_error(&request, 403, "PERMISSION_DENIED");
    let open = post(
        &api,
        &b,
        "/v1/chats/direct",
        json!({ "participant_id": a.user_id }),
    )
    .await;
    assert_error(&open, 403, "PERMISSION_DENIED");

    let own = format!("/v1/blocks/{}", a.user_id);
    assert_error(
        &call(&api, &a, Method::POST, &own).await,
        400,
        "INVALID_ARGUMENT",
    );
    assert_error(
        &call(&api, &a, Method::POST, "/v1/blocks/nobody").await,
        404,
        "NOT_FOUND",
    );

    assert_eq!(
        call(&api, &a, Method::DELETE, &block).await.0,
        StatusCode::NO_CONTENT
    );
    assert_error(
        &call(&api, &a, Method::DELETE, &block).await,
        404,
        "NOT_FOUND",
    );
    assert_eq!(
        post(&api, &b, &path, json!({ "content": "hi" })).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        call(&api, &a, Method::GET, "/v1/blocks").await.1,
        json!({ "user_ids": [] })
    );
}

async fn blocking_a_friend_ends_the_friendship_and_pending_requests(backend: Backend) {
    let stack = Stack::start(backend, 2).await;
    let api = stack.api(0);
    let (a, b, c) = (
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
    );
    befriend(&api, &a, &b).await;
    let (status, _) = call(
        &api,
        &c,
        Method::POST,
        &format!("/v1/friends/{}/request", a.user_id),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (mut sb, _) = Socket::open(&stack.ws(1), &b.access_token, "b")
        .await
        .unwrap();
    let (mut sc, _) = Socket::open(&stack.ws(1), &c.access_token, "c")
        .await
        .unwrap();

    assert_eq!(
        call(&api, &a, Method::POST, &format!("/v1/blocks/{}", b.user_id))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let push = sb.push().await.unwrap();
    assert_eq!(
        push,
        json!({ "push": "friend_removed", "data": { "user_id": a.user_id } })
    );
    assert_eq!(friends(&api, &a).await, json!([]));
    assert_eq!(friends(&api, &b).await, json!([]));

    assert_eq!(
        call(&api, &a, Method::POST, &format!("/v1/blocks/{}", c.user_id))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (_, incoming) = call(&api, &a, Method::GET, "/v1/friends/requests").await;
    assert_eq!(incoming["requests"], json!([]));
    let (_, outgoing) = call(
        &api,
        &c,
        Method::GET,
        "/v1/friends/requests?direction=outgoing",
    )
    .await;
    assert_eq!(outgoing["requests"], json!([]));
    assert!(
        sc.push_within(Duration::from_millis(200)).await.is_none(),
        "not friends: no push"
    );
}

async fn with_friendship_required_only_friends_open_and_write_direct_chats(backend: Backend) {
    let config = LogicConfig {
        direct_requires_friendship: true,
        ..LogicConfig::default()
    };
    let stack = Stack::start_with_logic(backend, 1, config).await;
    let api = stack.api(0);
    let (a, b) = (api.new_user().await.unwrap(), api.new_user().await.unwrap());
    let open = || {
        let body = json!({ "participant_id": b.user_id });
        api.call(
            Method::POST,
            "/v1/chats/direct",
            Some(&a.access_token),
            Some(body),
        )
    };
    let refused = open().await.unwrap();
    assert_error(&refused, 412, "FAILED_PRECONDITION");
    assert_eq!(refused.1["error"]["message"], "you are not friends");

    befriend(&api, &a, &b).await;
    let (status, chat) = open().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{chat}");
    let chat = chat["conversation_id"].as_str().unwrap().to_owned();
    api.send(&b.access_token, &chat, "now we can")
        .await
        .unwrap();

    let (status, _) = call(
        &api,
        &a,
        Method::DELETE,
        &format!("/v1/friends/{}", b.user_id),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let path = format!("/v1/chats/{chat}/message");
    let late = api
        .call(
            Method::POST,
            &path,
            Some(&b.access_token),
            Some(json!({ "content": "still?" })),
        )
        .await
        .unwrap();
    assert_error(&late, 412, "FAILED_PRECONDITION");
    // Groups are not affected by the switch.
    let body = json!({ "name": "g", "member_ids": [b.user_id] });
    let (status, g) = api
        .call(
            Method::POST,
            "/v1/groups",
            Some(&a.access_token),
            Some(body),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED, "{g}");
    let group = g["conversation_id"].as_str().unwrap();
    api.send(&b.access_token, group, "in a group")
        .await
        .unwrap();
}

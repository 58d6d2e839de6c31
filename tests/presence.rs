//! Presence as a client sees it: `presence` pushes to friends and fellow members once a user's
//! state has settled (online with the first device anywhere, offline after the last), nothing
//! for a connection that flaps, nothing for strangers; and `GET /v1/presence` in batches.

mod common;
mod social;

use common::{Backend, Stack};
use natter_logic::LogicConfig;
use natter_testkit::{Socket, Tokens};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use social::{assert_error, befriend, call, post};
use std::time::Duration;

on_both_backends!(
    a_friend_sees_the_first_device_come_online_and_the_last_one_leave,
    a_connection_that_flaps_within_the_settle_period_pushes_nothing,
    fellow_members_are_told_and_strangers_are_not,
    the_rest_route_answers_each_status_and_bounds_the_batch,
);

/// Two comet nodes (one on the embedded backend), presence settling after `settle`.
async fn stack(backend: Backend, settle: Duration) -> Stack {
    let logic = LogicConfig {
        presence_settle: settle,
        ..LogicConfig::default()
    };
    Stack::start_with_logic(backend, 2, logic).await
}

async fn open(stack: &Stack, node: usize, who: &Tokens, device: &str) -> Socket {
    Socket::open(&stack.ws(node), &who.access_token, device)
        .await
        .unwrap()
        .0
}

fn presence(user: &Tokens, online: bool) -> Value {
    json!({ "push": "presence", "data": { "user_id": user.user_id, "online": online } })
}

async fn a_friend_sees_the_first_device_come_online_and_the_last_one_leave(backend: Backend) {
    let settle = Duration::from_millis(300);
    let quiet = settle * 4;
    let stack = stack(backend, settle).await;
    let api = stack.api(0);
    let (a, b) = (api.new_user().await.unwrap(), api.new_user().await.unwrap());
    befriend(&api, &a, &b).await;
    let mut watcher = open(&stack, 1, &b, "b").await;

    let phone = open(&stack, 0, &a, "phone").await;
    assert_eq!(watcher.presence().await.unwrap(), presence(&a, true));
    // A second device, on another node: still the same online user, nothing to tell.
    let laptop = open(&stack, 1, &a, "laptop").await;
    assert_eq!(watcher.presence_within(quiet).await, None);
    // The first device leaving does not make the user offline.
    drop(phone);
    assert_eq!(watcher.presence_within(quiet).await, None);
    drop(laptop);
    assert_eq!(watcher.presence().await.unwrap(), presence(&a, false));
    assert_eq!(watcher.presence_within(quiet).await, None);
}

async fn a_connection_that_flaps_within_the_settle_period_pushes_nothing(backend: Backend) {
    let settle = Duration::from_millis(1_500);
    let stack = stack(backend, settle).await;
    let api = stack.api(0);
    let (a, b) = (api.new_user().await.unwrap(), api.new_user().await.unwrap());
    befriend(&api, &a, &b).await;
    let mut watcher = open(&stack, 0, &b, "b").await;

    // Three short connections, on both nodes, all over well within one settle period.
    for i in 0..3 {
        let s = open(&stack, i, &a, "flaky").await;
        drop(s);
    }
    assert_eq!(watcher.presence_within(settle * 3).await, None);

    // Once it holds still, one push says so, and a flap of a second device adds nothing.
    let _steady = open(&stack, 1, &a, "steady").await;
    for i in 0..3 {
        drop(open(&stack, i, &a, "flaky").await);
    }
    assert_eq!(watcher.presence().await.unwrap(), presence(&a, true));
    assert_eq!(watcher.presence_within(settle * 3).await, None);
}

async fn fellow_members_are_told_and_strangers_are_not(backend: Backend) {
    let settle = Duration::from_millis(300);
    let stack = stack(backend, settle).await;
    let api = stack.api(0);
    let a = api.new_user().await.unwrap();
    let member = api.new_user().await.unwrap();
    let partner = api.new_user().await.unwrap();
    let stranger = api.new_user().await.unwrap();
    let group = json!({ "name": "crew", "member_ids": [member.user_id] });
    let (status, v) = post(&api, &a, "/v1/groups", group).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    api.direct(&partner.access_token, &a.user_id).await.unwrap();
    let mut sm = open(&stack, 0, &member, "m").await;
    let mut sp = open(&stack, 1, &partner, "p").await;
    let mut ss = open(&stack, 1, &stranger, "s").await;

    let sa = open(&stack, 0, &a, "a").await;
    assert_eq!(sm.presence().await.unwrap(), presence(&a, true));
    assert_eq!(sp.presence().await.unwrap(), presence(&a, true));
    drop(sa);
    assert_eq!(sm.presence().await.unwrap(), presence(&a, false));
    assert_eq!(sp.presence().await.unwrap(), presence(&a, false));
    // Not a friend, in no conversation with `a`: told nothing, of `a` or of the others.
    assert_eq!(ss.presence_within(settle * 4).await, None);
}

async fn the_rest_route_answers_each_status_and_bounds_the_batch(backend: Backend) {
    let stack = stack(backend, Duration::from_millis(300)).await;
    let api = stack.api(0);
    let (a, b) = (api.new_user().await.unwrap(), api.new_user().await.unwrap());
    let _sa = open(&stack, 1, &a, "a").await;

    let path = format!("/v1/presence?user_ids={},{}", a.user_id, b.user_id);
    let (status, v) = call(&api, &b, Method::GET, &path).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({ "statuses": [
            { "user_id": a.user_id, "online": true },
            { "user_id": b.user_id, "online": false },
        ] })
    );
    // b is online once connected (on the other node).
    let _sb = open(&stack, 0, &b, "b").await;
    let path = format!("/v1/presence?user_ids={}", b.user_id);
    let (_, v) = call(&api, &a, Method::GET, &path).await;
    assert_eq!(
        v["statuses"],
        json!([{ "user_id": b.user_id, "online": true }])
    );

    let hundred: Vec<String> = (0..100).map(|i| format!("u{i}")).collect();
    let path = format!("/v1/presence?user_ids={}", hundred.join(","));
    let (status, v) = call(&api, &a, Method::GET, &path).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["statuses"].as_array().unwrap().len(), 100);
    let path = format!("/v1/presence?user_ids={},u100", hundred.join(","));
    let too_many = call(&api, &a, Method::GET, &path).await;
    assert_error(&too_many, 400, "INVALID_ARGUMENT");
    assert!(
        too_many.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 100"),
        "{}",
        too_many.1
    );
    assert_error(
        &call(&api, &a, Method::GET, "/v1/presence?user_ids=").await,
        400,
        "INVALID_ARGUMENT",
    );
    assert_error(
        &call(&api, &a, Method::GET, "/v1/presence").await,
        400,
        "INVALID_ARGUMENT",
    );
    let (status, _) = api
        .call(Method::GET, "/v1/presence?user_ids=x", None, None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

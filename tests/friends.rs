//! Friends as a client sees them: requests by id or nickname, answered once by their recipient
//! and pushed to the other side; friend lists in pages. Blocks are in `blocks.rs`.

mod common;
mod social;

use common::{Backend, Stack};
use natter_testkit::Socket;
use reqwest::{Method, StatusCode};
use serde_json::json;
use social::{assert_error, befriend, call, friends};

on_both_backends!(
    a_request_by_id_is_pushed_accepted_and_listed_on_both_sides,
    a_request_by_nickname_and_a_crossing_request_make_friends,
    friend_request_errors_say_what_was_wrong,
    only_the_recipient_answers_a_request_and_only_once,
    removing_a_friend_tells_the_other_side,
    friends_are_listed_in_pages,
);

async fn a_request_by_id_is_pushed_accepted_and_listed_on_both_sides(backend: Backend) {
    let stack = Stack::start(backend, 2).await;
    let (a, b) = (
        stack.api(0).new_user().await.unwrap(),
        stack.api(1).new_user().await.unwrap(),
    );
    let (mut sa, _) = Socket::open(&stack.ws(0), &a.access_token, "a")
        .await
        .unwrap();
    let (mut sb, _) = Socket::open(&stack.ws(1), &b.access_token, "b")
        .await
        .unwrap();
    let api = stack.api(0);

    let (status, sent) = call(
        &api,
        &a,
        Method::POST,
        &format!("/v1/friends/{}/request", b.user_id),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["from_user_id"], a.user_id.as_str());
    assert_eq!(sent["to_user_id"], b.user_id.as_str());
    assert_eq!(sent["status"], "PENDING");
    assert!(sent["created_at"].as_i64().unwrap() > 0);
    let push = sb.push().await.unwrap();
    assert_eq!(push["push"], "friend_request");
    assert_eq!(push["data"]["request"], sent);

    // The pinned list is the incoming one; ?direction= picks others.
    let (_, incoming) = call(&api, &b, Method::GET, "/v1/friends/requests").await;
    assert_eq!(incoming["requests"], json!([sent]));
    let (_, a_incoming) = call(&api, &a, Method::GET, "/v1/friends/requests").await;
    assert_eq!(a_incoming["requests"], json!([]));
    let (_, outgoing) = call(
        &api,
        &a,
        Method::GET,
        "/v1/friends/requests?direction=outgoing",
    )
    .await;
    assert_eq!(outgoing["requests"], json!([sent]));
    let (_, all) = call(&api, &b, Method::GET, "/v1/friends/requests?direction=all").await;
    assert_eq!(all["requests"], json!([sent]));

    let path = format!(
        "/v1/friends/requests/{}/accept",
        sent["request_id"].as_str().unwrap()
    );
    let (status, accepted) = call(&stack.api(1), &b, Method::POST, &path).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["status"], "ACCEPTED");
    assert_eq!(accepted["request_id"], sent["request_id"]);
    let push = sa.push().await.unwrap();
    assert_eq!(push["push"], "friend_accepted");
    assert_eq!(push["data"]["request"], accepted);

    assert_eq!(friends(&api, &a).await, json!([b.user_id]));
    assert_eq!(friends(&api, &b).await, json!([a.user_id]));
    let (_, incoming) = call(&api, &b, Method::GET, "/v1/friends/requests").await;
    assert_eq!(
        incoming["requests"],
        json!([]),
        "an answered request is not pending"
    );
}

async fn a_request_by_nickname_and_a_crossing_request_make_friends(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let nick = format!("n_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let a = api
        .register(&format!("{nick}@example.org"), "correct horse", &nick)
        .await
        .unwrap();
    let b = api.new_user().await.unwrap();
    let (mut sb, _) = Socket::open(&stack.ws(0), &b.access_token, "b")
        .await
        .unwrap();

    let body = json!({ "nickname": nick });
    let (status, sent) = api
        .call(
            Method::POST,
            "/v1/friends/request",
            Some(&b.access_token),
            Some(body),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["to_user_id"], a.user_id.as_str());

    // a asks b back while b's request is pending: that accepts b's request (200, not 201).
    let (status, crossing) = call(
        &api,
        &a,
        Method::POST,
        &format!("/v1/friends/{}/request", b.user_id),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{crossing}");
    assert_eq!(crossing["request_id"], sent["request_id"]);
    assert_eq!(crossing["status"], "ACCEPTED");
    let push = sb.push().await.unwrap();
    assert_eq!(push["push"], "friend_accepted");
    assert_eq!(push["data"]["request"], crossing);
    assert_eq!(friends(&api, &b).await, json!([a.user_id]));
}

async fn friend_request_errors_say_what_was_wrong(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (a, b) = (api.new_user().await.unwrap(), api.new_user().await.unwrap());
    let to = |u: &str| format!("/v1/friends/{u}/request");

    assert_error(
        &call(&api, &a, Method::POST, &to(&a.user_id)).await,
        400,
        "INVALID_ARGUMENT",
    );
    assert_error(
        &call(&api, &a, Method::POST, &to("nobody")).await,
        404,
        "NOT_FOUND",
    );
    let by_nick = |nick: &str| {
        let body = json!({ "nickname": nick });
        api.call(
            Method::POST,
            "/v1/friends/request",
            Some(&a.access_token),
            Some(body),
        )
    };
    assert_error(&by_nick("no_such_user").await.unwrap(), 404, "NOT_FOUND");
    assert_error(
        &by_nick("Not A Nickname").await.unwrap(),
        400,
        "INVALID_ARGUMENT",
    );
    let no_body = api
        .call(
            Method::POST,
            "/v1/friends/request",
            Some(&a.access_token),
            Some(json!({})),
        )
        .await
        .unwrap();
    assert_error(&no_body, 400, "INVALID_ARGUMENT");
    let anonymous = api
        .call(Method::POST, &to(&b.user_id), None, None)
        .await
        .unwrap();
    assert_error(&anonymous, 401, "UNAUTHENTICATED");

    assert_eq!(
        call(&api, &a, Method::POST, &to(&b.user_id)).await.0,
        StatusCode::CREATED
    );
    let twice = call(&api, &a, Method::POST, &to(&b.user_id)).await;
    assert_error(&twice, 409, "ALREADY_EXISTS");
    assert!(
        twice.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pending")
    );

    let c = api.new_user().await.unwrap();
    befriend(&api, &a, &c).await;
    let friends_already = call(&api, &c, Method::POST, &to(&a.user_id)).await;
    assert_error(&friends_already, 409, "ALREADY_EXISTS");
    assert!(
        friends_already.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already friends")
    );
    let bad = call(
        &api,
        &a,
        Method::GET,
        "/v1/friends/requests?direction=sideways",
    )
    .await;
    assert_error(&bad, 400, "INVALID_ARGUMENT");
}

async fn only_the_recipient_answers_a_request_and_only_once(backend: Backend) {
    let stack = Stack::start(backend, 2).await;
    let api = stack.api(0);
    let (a, b, c) = (
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
    );
    let (mut sa, _) = Socket::open(&stack.ws(1), &a.access_token, "a")
        .await
        .unwrap();
    let (_, r) = call(
        &api,
        &a,
        Method::POST,
        &format!("/v1/friends/{}/request", b.user_id),
    )
    .await;
    let id = r["request_id"].as_str().unwrap();
    let action = |verb: &str| format!("/v1/friends/requests/{id}/{verb}");

    assert_error(
        &call(&api, &a, Method::POST, &action("accept")).await,
        403,
        "PERMISSION_DENIED",
    );
    assert_error(
        &call(&api, &c, Method::POST, &action("accept")).await,
        404,
        "NOT_FOUND",
    );
    assert_error(
        &call(&api, &c, Method::POST, &action("decline")).await,
        404,
        "NOT_FOUND",
    );
    let unknown = call(&api, &b, Method::POST, "/v1/friends/requests/nope/accept").await;
    assert_error(&unknown, 404, "NOT_FOUND");

    let (status, declined) = call(&api, &b, Method::POST, &action("decline")).await;
    assert_eq!(status, StatusCode::OK, "{declined}");
    assert_eq!(declined["status"], "DECLINED");
    let push = sa.push().await.unwrap();
    assert_eq!(push["push"], "friend_declined");
    assert_eq!(push["data"]["request"], declined);

    let late = call(&api, &b, Method::POST, &action("accept")).await;
    assert_error(&late, 412, "FAILED_PRECONDITION");
    assert!(
        late.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("declined")
    );
    assert_eq!(friends(&api, &a).await, json!([]));
}

async fn removing_a_friend_tells_the_other_side(backend: Backend) {
    let stack = Stack::start(backend, 2).await;
    let api = stack.api(0);
    let (a, b) = (api.new_user().await.unwrap(), api.new_user().await.unwrap());
    befriend(&api, &a, &b).await;
    let (mut sb, _) = Socket::open(&stack.ws(1), &b.access_token, "b")
        .await
        .unwrap();

    let path = format!("/v1/friends/{}", b.user_id);
    let (status, _) = call(&api, &a, Method::DELETE, &path).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let push = sb.push().await.unwrap();
    assert_eq!(
        push,
        json!({ "push": "friend_removed", "data": { "user_id": a.user_id } })
    );
    assert_eq!(friends(&api, &a).await, json!([]));
    assert_eq!(friends(&api, &b).await, json!([]));
    assert_error(
        &call(&api, &a, Method::DELETE, &path).await,
        404,
        "NOT_FOUND",
    );
}

async fn friends_are_listed_in_pages(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let me = api.new_user().await.unwrap();
    let mut expected = Vec::new();
    for _ in 0..3 {
        let f = api.new_user().await.unwrap();
        befriend(&api, &f, &me).await;
        expected.push(f.user_id);
    }
    expected.sort();
    let (status, first) = call(&api, &me, Method::GET, "/v1/friends?limit=2").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["friend_user_ids"], json!(expected[..2]));
    let cursor = first["next_cursor"].as_str().expect("a next_cursor");
    let (_, second) = call(
        &api,
        &me,
        Method::GET,
        &format!("/v1/friends?limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(second["friend_user_ids"], json!(expected[2..]));
    assert!(second.get("next_cursor").is_none(), "{second}");
    assert_eq!(friends(&api, &me).await, json!(expected));
    for bad in [
        "/v1/friends?limit=201",
        "/v1/friends?limit=-1",
        "/v1/friends?limit=x",
    ] {
        assert_error(
            &call(&api, &me, Method::GET, bad).await,
            400,
            "INVALID_ARGUMENT",
        );
    }
}

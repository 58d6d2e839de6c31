//! Joining, adding, leaving, removing: who may, the limits, and the system messages.

use crate::common::{Backend, Stack};
use crate::{add, all_messages, call, create, group, refused, set_role};
use natter_testkit::Socket;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// (seq, event, user_id) of a `message` push carrying a system message.
fn system_event(push: &Value) -> (i64, String, String) {
    assert_eq!(push["push"], "message", "{push}");
    let m = &push["data"];
    assert_eq!(m["type"], "system", "{push}");
    (
        m["seq"].as_i64().unwrap(),
        m["metadata"]["event"].as_str().unwrap().to_owned(),
        m["metadata"]["user_id"].as_str().unwrap().to_owned(),
    )
}

pub async fn a_new_group_begins_with_a_created_system_message_pushed_to_its_members(
    backend: Backend,
) {
    let stack = Stack::start(backend, 2).await;
    let api = stack.api(0);
    let (owner, member) = (api.new_user().await.unwrap(), api.new_user().await.unwrap());
    let (mut socket, _) = Socket::open(&stack.ws(1), &member.access_token, "web")
        .await
        .unwrap();
    let gid = create(&api, &owner, &[&member], json!({})).await;
    let push = socket.push().await.unwrap();
    assert_eq!(
        system_event(&push),
        (1, "created".to_owned(), owner.user_id.clone())
    );
    assert_eq!(push["data"]["conversation_id"], gid.as_str());
    assert_eq!(push["data"]["sender_id"], owner.user_id.as_str());
    assert_eq!(push["data"]["metadata"]["by"], owner.user_id.as_str());
    assert!(
        push["data"]["content"]
            .as_str()
            .unwrap()
            .contains("created the group")
    );
    let seen = group(&api, &gid, &member).await;
    assert_eq!(
        (seen["last_seq"].as_i64(), seen["unread_count"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(seen["last_message"]["type"], "system");
    let first = api.send(&member.access_token, &gid, "hi").await.unwrap();
    assert_eq!(
        first["seq"], 2,
        "the first user message follows the system one"
    );
}

pub async fn membership_changes_are_system_messages_pushed_to_members_in_seq_order(
    backend: Backend,
) {
    let stack = Stack::start(backend, 2).await;
    let api = stack.api(0);
    let mut users = Vec::new();
    for _ in 0..4 {
        users.push(api.new_user().await.unwrap());
    }
    let (owner, ann, bob, cid) = (&users[0], &users[1], &users[2], &users[3]);
    let gid = create(&api, owner, &[ann], json!({})).await;
    let (mut watcher, _) = Socket::open(&stack.ws(1), &ann.access_token, "web")
        .await
        .unwrap();
    add(&api, &gid, owner, &[bob, cid]).await;
    let (mut cids, _) = Socket::open(&stack.ws(0), &cid.access_token, "web")
        .await
        .unwrap();
    let (status, member) = set_role(&api, &gid, owner, ann, "admin").await;
    assert_eq!(
        (status, member["role"].clone()),
        (StatusCode::OK, json!("admin"))
    );
    let path = format!("/v1/groups/{gid}");
    let (status, renamed) = call(
        &api,
        Method::PATCH,
        &path,
        owner,
        Some(json!({"name": "new crew"})),
    )
    .await;
    assert_eq!(
        (status, renamed["name"].clone()),
        (StatusCode::OK, json!("new crew"))
    );
    let leave = format!("/v1/groups/{gid}/leave");
    let (status, _) = call(&api, Method::POST, &leave, bob, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let remove = format!("/v1/groups/{gid}/members/{}", cid.user_id);
    let (status, _) = call(&api, Method::DELETE, &remove, ann, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let expected = [
        (2, "added", &bob.user_id),
        (3, "added", &cid.user_id),
        (4, "role_changed", &ann.user_id),
        (5, "renamed", &owner.user_id),
        (6, "left", &bob.user_id),
        (7, "removed", &cid.user_id),
    ];
    for (seq, event, user) in expected {
        let push = watcher.push().await.unwrap();
        assert_eq!(system_event(&push), (seq, event.to_owned(), user.clone()));
    }
    // The removed member was told too, in the same order, from when their socket opened.
    for (seq, event) in [
        (4, "role_changed"),
        (5, "renamed"),
        (6, "left"),
        (7, "removed"),
    ] {
        let (got_seq, got_event, _) = system_event(&cids.push().await.unwrap());
        assert_eq!((got_seq, got_event.as_str()), (seq, event));
    }
    let history = all_messages(&api, &gid, ann).await;
    let seqs: Vec<i64> = history.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>(), "no gaps, nothing twice");
    assert_eq!(history[3]["metadata"]["role"], "admin");
    assert_eq!(history[4]["metadata"]["name"], "new crew");
    let members = group(&api, &gid, owner).await["member_ids"].clone();
    assert_eq!(members.as_array().unwrap().len(), 2);
}

pub async fn public_groups_can_be_seen_and_joined_private_ones_cannot(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (owner, outsider) = (api.new_user().await.unwrap(), api.new_user().await.unwrap());
    let public = create(&api, &owner, &[], json!({"is_public": true})).await;
    let private = create(&api, &owner, &[], json!({})).await;

    let seen = group(&api, &public, &outsider).await;
    assert_eq!(
        (seen["is_public"].clone(), seen["read_seq"].clone()),
        (json!(true), json!(0))
    );
    let path = format!("/v1/groups/{public}/members");
    assert_eq!(
        call(&api, Method::GET, &path, &outsider, None).await.0,
        StatusCode::OK
    );
    let join = format!("/v1/groups/{public}/join");
    let (status, joined) = call(&api, Method::POST, &join, &outsider, None).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert!(
        joined["member_ids"]
            .as_array()
            .unwrap()
            .contains(&json!(outsider.user_id))
    );
    assert_eq!(joined["last_message"]["metadata"]["event"], "joined");
    let (status, again) = call(&api, Method::POST, &join, &outsider, None).await;
    assert_eq!(
        (status, again["last_seq"].clone()),
        (StatusCode::OK, json!(2)),
        "idempotent"
    );

    let get = format!("/v1/groups/{private}");
    refused(
        call(&api, Method::GET, &get, &outsider, None).await,
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
    );
    let join = format!("/v1/groups/{private}/join");
    refused(
        call(&api, Method::POST, &join, &outsider, None).await,
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
    );
    let members = format!("/v1/groups/{private}/members");
    refused(
        call(&api, Method::GET, &members, &outsider, None).await,
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
    );

    let unknown = format!("/v1/groups/{}", uuid::Uuid::new_v4());
    refused(
        call(&api, Method::GET, &unknown, &owner, None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    let chat = api
        .direct(&owner.access_token, &outsider.user_id)
        .await
        .unwrap();
    let direct = format!("/v1/groups/{chat}");
    refused(
        call(&api, Method::GET, &direct, &owner, None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    let (status, _) = api.call(Method::GET, &get, None, None).await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

pub async fn max_members_is_enforced_when_adding_joining_and_updating(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let mut u = Vec::new();
    for _ in 0..5 {
        u.push(api.new_user().await.unwrap());
    }
    let gid = create(
        &api,
        &u[0],
        &[&u[1]],
        json!({"max_members": 3, "is_public": true}),
    )
    .await;
    add(&api, &gid, &u[0], &[&u[2]]).await;
    let path = format!("/v1/groups/{gid}/members");
    let body = json!({ "user_ids": [u[3].user_id] });
    let full = call(&api, Method::POST, &path, &u[0], Some(body)).await;
    assert_eq!(full.1["error"]["message"], "group is full");
    refused(full, StatusCode::PRECONDITION_FAILED, "FAILED_PRECONDITION");
    let join = format!("/v1/groups/{gid}/join");
    refused(
        call(&api, Method::POST, &join, &u[4], None).await,
        StatusCode::PRECONDITION_FAILED,
        "FAILED_PRECONDITION",
    );
    let patch = format!("/v1/groups/{gid}");
    let below = call(
        &api,
        Method::PATCH,
        &patch,
        &u[0],
        Some(json!({"max_members": 2})),
    )
    .await;
    refused(
        below,
        StatusCode::PRECONDITION_FAILED,
        "FAILED_PRECONDITION",
    );
    let bad = call(
        &api,
        Method::PATCH,
        &patch,
        &u[0],
        Some(json!({"max_members": 1})),
    )
    .await;
    refused(bad, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    let (status, raised) = call(
        &api,
        Method::PATCH,
        &patch,
        &u[0],
        Some(json!({"max_members": 4})),
    )
    .await;
    assert_eq!(
        (status, raised["max_members"].clone()),
        (StatusCode::OK, json!(4))
    );
    let (status, _) = call(&api, Method::POST, &join, &u[4], None).await;
    assert_eq!(status, StatusCode::OK);

    let too_many = json!({"name": "x", "member_ids": [u[1].user_id], "max_members": 1});
    let created = call(&api, Method::POST, "/v1/groups", &u[0], Some(too_many)).await;
    refused(created, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    let unknown = json!({ "user_ids": [uuid::Uuid::new_v4().to_string()] });
    refused(
        call(&api, Method::POST, &path, &u[0], Some(unknown)).await,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
    );
    let empty = json!({ "user_ids": [] });
    refused(
        call(&api, Method::POST, &path, &u[0], Some(empty)).await,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
    );
}

pub async fn a_user_cannot_read_or_post_in_a_group_they_are_not_in(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (owner, eve) = (api.new_user().await.unwrap(), api.new_user().await.unwrap());
    // Public or not, reading and posting need membership.
    let gid = create(&api, &owner, &[&eve], json!({"is_public": true})).await;
    let remove = format!("/v1/groups/{gid}/members/{}", eve.user_id);
    let (status, _) = call(&api, Method::DELETE, &remove, &owner, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let denied = |answer| refused(answer, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let send = format!("/v1/chats/{gid}/message");
    denied(
        call(
            &api,
            Method::POST,
            &send,
            &eve,
            Some(json!({"content": "hi"})),
        )
        .await,
    );
    denied(
        call(
            &api,
            Method::GET,
            &format!("/v1/chats/{gid}/messages"),
            &eve,
            None,
        )
        .await,
    );
    denied(
        call(
            &api,
            Method::GET,
            &format!("/v1/chats/{gid}/sync"),
            &eve,
            None,
        )
        .await,
    );
    denied(
        call(
            &api,
            Method::GET,
            &format!("/v1/chats/{gid}/participants"),
            &eve,
            None,
        )
        .await,
    );
    denied(
        call(
            &api,
            Method::POST,
            &format!("/v1/groups/{gid}/leave"),
            &eve,
            None,
        )
        .await,
    );
    let (mut socket, _) = Socket::open(&stack.ws(0), &eve.access_token, "web")
        .await
        .unwrap();
    let reply = socket
        .call("send", json!({"conversation_id": gid, "content": "hi"}))
        .await
        .unwrap();
    assert_eq!(reply["error"]["code"], "PERMISSION_DENIED");
    api.send(&owner.access_token, &gid, "members only")
        .await
        .unwrap();
    assert!(
        socket
            .push_within(std::time::Duration::from_millis(300))
            .await
            .is_none(),
        "a removed member gets no more pushes"
    );
}

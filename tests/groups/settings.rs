//! Group settings, the chat routes that go with groups (rename, hide, participants), and the
//! paged lists of members and of one's groups.

use crate::common::{Backend, Stack};
use crate::{all_messages, call, create, refused, set_role};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub async fn group_settings_are_changed_by_the_owner_or_an_admin_only(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (owner, admin, member) = (
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
    );
    let gid = create(&api, &owner, &[&admin, &member], json!({})).await;
    set_role(&api, &gid, &owner, &admin, "admin").await;
    let path = format!("/v1/groups/{gid}");
    let patch = json!({
        "name": "renamed", "avatar_url": "https://example.org/g.png",
        "is_public": true, "max_members": 50,
    });
    let by_member = call(&api, Method::PATCH, &path, &member, Some(patch.clone())).await;
    refused(by_member, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let (status, g) = call(&api, Method::PATCH, &path, &admin, Some(patch)).await;
    assert_eq!(status, StatusCode::OK, "{g}");
    assert_eq!(
        (
            &g["name"],
            &g["avatar_url"],
            &g["is_public"],
            &g["max_members"]
        ),
        (
            &json!("renamed"),
            &json!("https://example.org/g.png"),
            &json!(true),
            &json!(50)
        )
    );
    // Seq 2 made the admin; the rename is seq 3, the other settings write no message.
    assert_eq!(g["last_seq"], 3);
    assert_eq!(g["last_message"]["metadata"]["event"], "renamed");
    assert_eq!(g["last_message"]["metadata"]["by"], admin.user_id.as_str());
    for bad in [
        json!({"name": ""}),
        json!({"name": "x".repeat(65)}),
        json!({"avatar_url": "a b"}),
    ] {
        let answer = call(&api, Method::PATCH, &path, &owner, Some(bad)).await;
        refused(answer, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    }
    let wrong_type = call(
        &api,
        Method::PATCH,
        &path,
        &owner,
        Some(json!({"is_public": "yes"})),
    )
    .await;
    refused(wrong_type, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
}

pub async fn a_group_is_renamed_through_its_chat_but_a_direct_chat_cannot_be(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (owner, member, other) = (
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
    );
    let gid = create(&api, &owner, &[&member], json!({})).await;
    let path = format!("/v1/chats/{gid}");
    let body = json!({"name": "via chats", "avatar_url": "https://example.org/c.png"});
    let (status, chat) = call(&api, Method::PATCH, &path, &owner, Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{chat}");
    assert_eq!(
        (&chat["name"], &chat["type"]),
        (&json!("via chats"), &json!("group"))
    );
    let history = all_messages(&api, &gid, &member).await;
    assert_eq!(history.last().unwrap()["metadata"]["event"], "renamed");
    let by_member = call(&api, Method::PATCH, &path, &member, Some(body.clone())).await;
    refused(by_member, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let by_outsider = call(&api, Method::PATCH, &path, &other, Some(body.clone())).await;
    refused(by_outsider, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let dm = api
        .direct(&owner.access_token, &other.user_id)
        .await
        .unwrap();
    let direct = call(
        &api,
        Method::PATCH,
        &format!("/v1/chats/{dm}"),
        &owner,
        Some(body),
    )
    .await;
    refused(
        direct,
        StatusCode::PRECONDITION_FAILED,
        "FAILED_PRECONDITION",
    );
    // The route's GET is untouched.
    assert_eq!(
        call(&api, Method::GET, &path, &owner, None).await.0,
        StatusCode::OK
    );
}

/// The ids of `who`'s chat list.
async fn chat_ids(api: &natter_testkit::Api, who: &natter_testkit::Tokens) -> Vec<Value> {
    let (status, list) = call(api, Method::GET, "/v1/chats", who, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversation_id"].clone())
        .collect()
}

pub async fn a_hidden_chat_leaves_the_list_until_its_next_message(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (ann, bob, eve) = (
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
    );
    let dm = api.direct(&ann.access_token, &bob.user_id).await.unwrap();
    let gid = create(&api, &ann, &[&bob], json!({})).await;
    let hide = format!("/v1/chats/{dm}/hide");
    let (status, _) = call(&api, Method::POST, &hide, &ann, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(chat_ids(&api, &ann).await, [json!(gid)]);
    assert_eq!(
        chat_ids(&api, &bob).await.len(),
        2,
        "hidden for the caller only"
    );
    api.send(&bob.access_token, &dm, "back").await.unwrap();
    assert_eq!(chat_ids(&api, &ann).await, [json!(dm), json!(gid)]);
    refused(
        call(&api, Method::POST, &hide, &eve, None).await,
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
    );
    let unknown = format!("/v1/chats/{}/hide", uuid::Uuid::new_v4());
    refused(
        call(&api, Method::POST, &unknown, &ann, None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
}

/// Follows `next_cursor` through `path` (which has a `?limit=`); every member seen, in order.
async fn walk(api: &natter_testkit::Api, path: &str, who: &natter_testkit::Tokens) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page_path = match &next {
            Some(cursor) => format!("{path}&cursor={cursor}"),
            None => path.to_owned(),
        };
        let (status, page) = call(api, Method::GET, &page_path, who, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let members = page["members"].as_array().unwrap();
        assert!(members.len() <= 2);
        seen.extend(members.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => next = Some(cursor.to_owned()),
            None => return seen,
        }
    }
}

pub async fn members_and_participants_are_paged_with_their_roles(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let mut u = Vec::new();
    for _ in 0..5 {
        u.push(api.new_user().await.unwrap());
    }
    let refs: Vec<_> = u[1..].iter().collect();
    let gid = create(&api, &u[0], &refs, json!({})).await;
    set_role(&api, &gid, &u[0], &u[1], "admin").await;
    let members = walk(&api, &format!("/v1/groups/{gid}/members?limit=2"), &u[2]).await;
    let participants = walk(
        &api,
        &format!("/v1/chats/{gid}/participants?limit=2"),
        &u[2],
    )
    .await;
    assert_eq!(members, participants);
    let mut ids: Vec<String> = u.iter().map(|t| t.user_id.clone()).collect();
    ids.sort();
    let seen: Vec<_> = members
        .iter()
        .map(|m| m["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(seen, ids, "each member once, by id");
    let role = |id: &str| members.iter().find(|m| m["user_id"] == id).unwrap()["role"].clone();
    assert_eq!(
        (
            role(&u[0].user_id),
            role(&u[1].user_id),
            role(&u[2].user_id)
        ),
        (json!("owner"), json!("admin"), json!("member"))
    );

    let dm = api.direct(&u[0].access_token, &u[1].user_id).await.unwrap();
    let pair = walk(&api, &format!("/v1/chats/{dm}/participants?limit=2"), &u[0]).await;
    assert!(pair.iter().all(|m| m["role"] == "member"));
    assert_eq!(pair.len(), 2);
    let too_big = format!("/v1/groups/{gid}/members?limit=201");
    refused(
        call(&api, Method::GET, &too_big, &u[0], None).await,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
    );
    let not_number = format!("/v1/chats/{gid}/participants?limit=many");
    refused(
        call(&api, Method::GET, &not_number, &u[0], None).await,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
    );
}

pub async fn my_groups_are_listed_page_by_page(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (me, other) = (api.new_user().await.unwrap(), api.new_user().await.unwrap());
    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(json!(create(&api, &me, &[], json!({})).await));
    }
    mine.push(json!(create(&api, &other, &[&me], json!({})).await));
    create(&api, &other, &[], json!({"is_public": true})).await;
    api.direct(&me.access_token, &other.user_id).await.unwrap();
    let (status, first) = call(&api, Method::GET, "/v1/groups?limit=3", &me, None).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, rest) = call(
        &api,
        Method::GET,
        &format!("/v1/groups?limit=3&cursor={cursor}"),
        &me,
        None,
    )
    .await;
    assert!(rest.get("next_cursor").is_none(), "{rest}");
    let mut listed: Vec<Value> = first["groups"].as_array().unwrap().clone();
    listed.extend(rest["groups"].as_array().unwrap().iter().cloned());
    assert!(listed.iter().all(|g| g["type"] == "group"));
    let mut ids: Vec<Value> = listed
        .iter()
        .map(|g| g["conversation_id"].clone())
        .collect();
    ids.sort_by_key(|v| v.as_str().unwrap().to_owned());
    mine.sort_by_key(|v| v.as_str().unwrap().to_owned());
    assert_eq!(ids, mine);
    let bad = call(&api, Method::GET, "/v1/groups?limit=0&cursor=x", &me, None).await;
    assert_eq!(
        bad.0,
        StatusCode::OK,
        "an unknown cursor is only a position"
    );
    refused(
        call(&api, Method::GET, "/v1/groups?limit=500", &me, None).await,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
    );
}

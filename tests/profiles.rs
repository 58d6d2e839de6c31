//! Profiles as a client sees them: reading anyone's, changing one's own (with the protocol's
//! bounds), finding people by nickname prefix page by page, fetching many at once, and deleting
//! one's account, after which its messages stay and its profile says it is gone.

mod common;

use common::{Backend, Stack};
use natter_testkit::{Api, Socket, Tokens};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    a_user_reads_profiles_and_changes_their_own,
    a_profile_update_with_a_taken_nickname_is_409_and_bad_fields_are_400,
    search_pages_through_nicknames_by_prefix_in_order,
    batch_returns_known_profiles_in_the_order_asked_up_to_100,
    a_deleted_account_keeps_its_messages_and_shows_as_deleted,
);

fn assert_error(status: StatusCode, body: &Value, want: u16, code: &str) {
    assert_eq!(status.as_u16(), want, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        !body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "errors say what was wrong: {body}"
    );
}

async fn named(api: &Api, nickname: &str) -> Tokens {
    api.register(
        &format!("{nickname}@example.org"),
        "correct horse battery",
        nickname,
    )
    .await
    .unwrap()
}

async fn patch(api: &Api, token: &str, body: Value) -> (StatusCode, Value) {
    api.call(Method::PATCH, "/v1/profile", Some(token), Some(body))
        .await
        .unwrap()
}

async fn a_user_reads_profiles_and_changes_their_own(backend: Backend) {
    let stack = Stack::start(backend, 2).await;
    let api = stack.api(0);
    let ann = named(&api, "ann").await;
    let bob = named(&api, "bob").await;

    let (status, own) = api
        .call(Method::GET, "/v1/profile", Some(&ann.access_token), None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{own}");
    assert_eq!(own["user_id"], ann.user_id.as_str());
    assert_eq!(own["nickname"], "ann");
    assert_eq!(
        (own["bio"].as_str(), own["avatar_url"].as_str()),
        (Some(""), Some(""))
    );
    assert!(own["created_at"].as_i64().unwrap() > 0);
    assert_eq!(own["deleted"], false);

    let body =
        json!({ "nickname": "ann_b", "bio": "hello", "avatar_url": "https://example.org/a.png" });
    let (status, changed) = patch(&api, &ann.access_token, body).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["nickname"], "ann_b");
    assert_eq!(changed["bio"], "hello");
    // Fields left out stay as they were.
    let (status, changed) = patch(&api, &ann.access_token, json!({ "bio": "" })).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (changed["nickname"].as_str(), changed["bio"].as_str()),
        (Some("ann_b"), Some(""))
    );
    assert_eq!(changed["avatar_url"], "https://example.org/a.png");
    let (status, same) = patch(&api, &ann.access_token, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same, changed);

    // Anyone signed in sees it, through either node.
    let path = format!("/v1/profile/{}", ann.user_id);
    let (status, seen) = stack
        .api(1)
        .call(Method::GET, &path, Some(&bob.access_token), None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen, changed);
    let (status, body) = api.call(Method::GET, &path, None, None).await.unwrap();
    assert_error(status, &body, 401, "UNAUTHENTICATED");
    let (status, body) = api
        .call(
            Method::GET,
            "/v1/profile/no-such-user",
            Some(&bob.access_token),
            None,
        )
        .await
        .unwrap();
    assert_error(status, &body, 404, "NOT_FOUND");
}

async fn a_profile_update_with_a_taken_nickname_is_409_and_bad_fields_are_400(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let ann = named(&api, "ann").await;
    named(&api, "bob").await;
    let (status, body) = patch(&api, &ann.access_token, json!({ "nickname": "bob" })).await;
    assert_error(status, &body, 409, "ALREADY_EXISTS");
    let long_url = format!("https://example.org/{}", "a".repeat(2048));
    for bad in [
        json!({ "nickname": "Bob" }),
        json!({ "nickname": "ab" }),
        json!({ "nickname": "deleted_1234" }),
        json!({ "bio": "x".repeat(501) }),
        json!({ "avatar_url": "javascript:alert(1)" }),
        json!({ "avatar_url": "ftp://example.org/a.png" }),
        json!({ "avatar_url": long_url }),
        json!({ "nickname": 7 }),
        json!({ "email": "x@example.org" }),
    ] {
        let (status, body) = patch(&api, &ann.access_token, bad.clone()).await;
        assert_error(status, &body, 400, "INVALID_ARGUMENT");
    }
    let (status, own) = api
        .call(Method::GET, "/v1/profile", Some(&ann.access_token), None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (own["nickname"].as_str(), own["bio"].as_str()),
        (Some("ann"), Some(""))
    );
}

async fn search(api: &Api, token: &str, query: &str) -> (StatusCode, Value) {
    api.call(
        Method::GET,
        &format!("/v1/users/search?{query}"),
        Some(token),
        None,
    )
    .await
    .unwrap()
}

fn nicknames(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["nickname"].as_str().unwrap().to_owned())
        .collect()
}

async fn search_pages_through_nicknames_by_prefix_in_order(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let me = named(&api, "searcher").await;
    for nick in ["zed_3", "zed_1", "zeta", "zed_2", "zz_top", "zea"] {
        named(&api, nick).await;
    }
    let (status, all) = search(&api, &me.access_token, "query=zed").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(nicknames(&all), ["zed_1", "zed_2", "zed_3"]);
    assert!(all.get("next_cursor").is_none(), "last page: {all}");
    assert!(all["results"][0]["user_id"].is_string());

    let mut seen = Vec::new();
    let mut query = "query=ZE&limit=2".to_owned();
    loop {
        let (status, page) = search(&api, &me.access_token, &query).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(nicknames(&page).len() <= 2);
        seen.extend(nicknames(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("query=ze&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["zea", "zed_1", "zed_2", "zed_3", "zeta"],
        "each once, in order"
    );

    let (status, none) = search(&api, &me.access_token, "query=nobody").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(nicknames(&none), Vec::<String>::new());
    for bad in [
        "query=",
        "limit=5",
        "query=z&limit=51",
        "query=z&limit=-1",
        "query=a-b",
        "query=z&cursor=NOT+A+NICK",
        "query=z&limit=x",
    ] {
        let (status, body) = search(&api, &me.access_token, bad).await;
        assert_error(status, &body, 400, "INVALID_ARGUMENT");
    }
    let (status, body) = api
        .call(Method::GET, "/v1/users/search?query=z", None, None)
        .await
        .unwrap();
    assert_error(status, &body, 401, "UNAUTHENTICATED");
}

async fn batch_returns_known_profiles_in_the_order_asked_up_to_100(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (ann, bob) = (named(&api, "ann").await, named(&api, "bob").await);
    let batch = |ids: Value| {
        api.call(
            Method::POST,
            "/v1/profiles/batch",
            Some(&ann.access_token),
            Some(json!({ "user_ids": ids })),
        )
    };
    let ids = json!([bob.user_id, "no-such-user", ann.user_id, bob.user_id]);
    let (status, out) = batch(ids).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{out}");
    let got: Vec<_> = out["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["nickname"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        ["bob", "ann"],
        "unknown left out, each once, in the order asked"
    );
    let (status, out) = batch(json!([])).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(out["profiles"], json!([]));
    let too_many: Vec<String> = (0..101).map(|i| format!("id-{i}")).collect();
    let (status, body) = batch(json!(too_many)).await.unwrap();
    assert_error(status, &body, 400, "INVALID_ARGUMENT");
    let (status, body) = batch(json!([""])).await.unwrap();
    assert_error(status, &body, 400, "INVALID_ARGUMENT");
}

async fn a_deleted_account_keeps_its_messages_and_shows_as_deleted(backend: Backend) {
    let stack = Stack::start(backend, 2).await;
    let api = stack.api(0);
    let (ann, bob) = (named(&api, "ann").await, named(&api, "bob").await);
    let chat = api.direct(&ann.access_token, &bob.user_id).await.unwrap();
    api.send(&ann.access_token, &chat, "goodbye").await.unwrap();
    let (mut s0, _) = Socket::open(&stack.ws(0), &ann.access_token, "laptop")
        .await
        .unwrap();
    let (mut s1, _) = Socket::open(&stack.ws(1), &ann.access_token, "phone")
        .await
        .unwrap();

    let (status, body) = stack
        .api(1)
        .call(Method::DELETE, "/v1/account", Some(&ann.access_token), None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(s0.closed().await.unwrap(), 4003);
    assert_eq!(s1.closed().await.unwrap(), 4003);

    // Her tokens are dead and her credentials log in no more.
    let (status, body) = api
        .call(Method::GET, "/v1/profile", Some(&ann.access_token), None)
        .await
        .unwrap();
    assert_error(status, &body, 401, "UNAUTHENTICATED");
    let refresh = json!({ "refresh_token": ann.refresh_token });
    let (status, body) = api
        .call(Method::POST, "/v1/refresh", None, Some(refresh))
        .await
        .unwrap();
    assert_error(status, &body, 401, "UNAUTHENTICATED");
    let login = json!({ "email": "ann@example.org", "password": "correct horse battery" });
    let (status, body) = api
        .call(Method::POST, "/v1/login", None, Some(login))
        .await
        .unwrap();
    assert_error(status, &body, 401, "UNAUTHENTICATED");

    // Her message stays, under her id; her profile says she is gone.
    let path = format!("/v1/chats/{chat}/messages");
    let (status, history) = api
        .call(Method::GET, &path, Some(&bob.access_token), None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{history}");
    assert_eq!(history["messages"][0]["sender_id"], ann.user_id.as_str());
    assert_eq!(history["messages"][0]["content"], "goodbye");
    let (status, gone) = api
        .call(
            Method::GET,
            &format!("/v1/profile/{}", ann.user_id),
            Some(&bob.access_token),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{gone}");
    assert_eq!(gone["deleted"], true);
    assert!(
        gone["nickname"].as_str().unwrap().starts_with("deleted_"),
        "{gone}"
    );
    let (status, found) = search(&api, &bob.access_token, "query=deleted").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        nicknames(&found),
        Vec::<String>::new(),
        "deleted accounts are not found"
    );
    // Her nickname and email are free again.
    let (status, mine) = patch(&api, &bob.access_token, json!({ "nickname": "ann" })).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    api.register("ann@example.org", "correct horse battery", "ann_again")
        .await
        .unwrap();
}

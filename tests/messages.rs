//! Deleting messages and asking for their status, as a client sees it: a deleted message stays
//! in history and sync as a tombstone at its seq, the members hear `message_deleted`, and only
//! the sender (or, in a group, an admin or the owner) may delete.

mod common;

use common::{Backend, Stack};
use natter_testkit::{Api, Socket, Tokens};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    the_sender_deletes_a_message_and_history_and_sync_keep_its_seq_as_a_tombstone,
    a_member_who_did_not_send_it_cannot_delete_in_a_direct_chat,
    a_group_owner_deletes_any_message_and_a_plain_member_cannot,
    message_status_goes_from_sent_to_delivered_to_read_as_members_read,
    message_status_is_only_for_members_and_known_messages,
);

async fn delete(api: &Api, token: &str, chat: &str, message_id: &str) -> (StatusCode, Value) {
    let path = format!("/v1/chats/{chat}/messages/{message_id}");
    api.call(Method::DELETE, &path, Some(token), None)
        .await
        .unwrap()
}

async fn status(api: &Api, token: &str, chat: &str, message_id: &str) -> (StatusCode, Value) {
    let path = format!("/v1/chats/{chat}/messages/{message_id}/status");
    api.call(Method::GET, &path, Some(token), None)
        .await
        .unwrap()
}

async fn read(api: &Api, token: &str, chat: &str, seq: i64) {
    let path = format!("/v1/chats/{chat}/read");
    let (code, body) = api
        .call(
            Method::POST,
            &path,
            Some(token),
            Some(json!({ "seq": seq })),
        )
        .await
        .unwrap();
    assert_eq!(code, StatusCode::NO_CONTENT, "{body}");
}

async fn group(api: &Api, owner: &Tokens, members: &[&Tokens]) -> String {
    let ids: Vec<&str> = members.iter().map(|m| m.user_id.as_str()).collect();
    let body = json!({ "name": "crew", "member_ids": ids });
    let (code, group) = api
        .call(
            Method::POST,
            "/v1/groups",
            Some(&owner.access_token),
            Some(body),
        )
        .await
        .unwrap();
    assert_eq!(code, StatusCode::CREATED, "{group}");
    group["conversation_id"].as_str().unwrap().to_owned()
}

fn seqs_and_deleted(page: &Value) -> Vec<(i64, bool)> {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["seq"].as_i64().unwrap(), m["deleted"] == true))
        .collect()
}

async fn the_sender_deletes_a_message_and_history_and_sync_keep_its_seq_as_a_tombstone(
    backend: Backend,
) {
    let stack = Stack::start(backend, 2).await;
    let api = stack.api(0);
    let (a, b) = (api.new_user().await.unwrap(), api.new_user().await.unwrap());
    let chat = api.direct(&a.access_token, &b.user_id).await.unwrap();
    let mut sent = Vec::new();
    for i in 1..=3 {
        let path = format!("/v1/chats/{chat}/message");
        let body = json!({ "content": format!("m{i}"), "metadata": { "k": "v" } });
        let (_, m) = api
            .call(Method::POST, &path, Some(&a.access_token), Some(body))
            .await
            .unwrap();
        sent.push(m);
    }
    let (mut sb, _) = Socket::open(&stack.ws(1), &b.access_token, "phone")
        .await
        .unwrap();
    let target = sent[1]["message_id"].as_str().unwrap();

    let (code, tombstone) = delete(&api, &a.access_token, &chat, target).await;
    assert_eq!(code, StatusCode::OK, "{tombstone}");
    assert_eq!(tombstone["message_id"], target);
    assert_eq!(tombstone["seq"], 2);
    assert_eq!(tombstone["content"], "");
    assert_eq!(tombstone["metadata"], json!({}));
    assert_eq!(tombstone["deleted"], true);

    let push = sb.push().await.unwrap();
    assert_eq!(push["push"], "message_deleted");
    assert_eq!(
        push["data"],
        json!({ "conversation_id": chat, "message_id": target, "seq": 2 })
    );

    let path = format!("/v1/chats/{chat}/messages");
    let (_, history) = api
        .call(Method::GET, &path, Some(&b.access_token), None)
        .await
        .unwrap();
    assert_eq!(
        seqs_and_deleted(&history),
        vec![(3, false), (2, true), (1, false)]
    );
    assert_eq!(history["messages"][1], tombstone, "read back as deleted");
    let synced = sb
        .request("sync", json!({ "conversation_id": chat, "after_seq": 0 }))
        .await
        .unwrap();
    assert_eq!(
        seqs_and_deleted(&synced),
        vec![(1, false), (2, true), (3, false)]
    );
    assert_eq!(synced["messages"][1], tombstone);

    let (code, again) = delete(&api, &a.access_token, &chat, target).await;
    assert_eq!((code, &again), (StatusCode::OK, &tombstone), "idempotent");
    let next = api.send(&a.access_token, &chat, "m4").await.unwrap();
    assert_eq!(next["seq"], 4, "a deletion takes no seq and frees none");
}

async fn a_member_who_did_not_send_it_cannot_delete_in_a_direct_chat(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (a, b, eve) = (
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
    );
    let chat = api.direct(&a.access_token, &b.user_id).await.unwrap();
    let m = api.send(&a.access_token, &chat, "mine").await.unwrap();
    let id = m["message_id"].as_str().unwrap();

    let (code, err) = delete(&api, &b.access_token, &chat, id).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{err}");
    assert_eq!(err["error"]["code"], "PERMISSION_DENIED");
    assert!(err["error"]["message"].as_str().unwrap().contains("sender"));
    let (code, err) = delete(&api, &eve.access_token, &chat, id).await;
    assert_eq!(
        (code, &err["error"]["code"]),
        (StatusCode::FORBIDDEN, &json!("PERMISSION_DENIED"))
    );
    let (code, err) = delete(&api, &a.access_token, &chat, "no-such-message").await;
    assert_eq!(
        (code, &err["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("NOT_FOUND"))
    );
    let (code, _) = delete(&api, &a.access_token, "no-such-chat", id).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = api
        .call(
            Method::DELETE,
            &format!("/v1/chats/{chat}/messages/{id}"),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(code, StatusCode::UNAUTHORIZED);

    let path = format!("/v1/chats/{chat}/messages");
    let (_, history) = api
        .call(Method::GET, &path, Some(&b.access_token), None)
        .await
        .unwrap();
    assert_eq!(history["messages"][0]["content"], "mine", "still there");
}

async fn a_group_owner_deletes_any_message_and_a_plain_member_cannot(backend: Backend) {
    let stack = Stack::start(backend, 2).await;
    let api = stack.api(0);
    let owner = api.new_user().await.unwrap();
    let (m1, m2) = (api.new_user().await.unwrap(), api.new_user().await.unwrap());
    let chat = group(&api, &owner, &[&m1, &m2]).await;
    let (mut s1, _) = Socket::open(&stack.ws(0), &m1.access_token, "web")
        .await
        .unwrap();
    let (mut s2, _) = Socket::open(&stack.ws(1), &m2.access_token, "web")
        .await
        .unwrap();
    let first = s1
        .request("send", json!({ "conversation_id": chat, "content": "one" }))
        .await
        .unwrap();
    let second = s1
        .request("send", json!({ "conversation_id": chat, "content": "two" }))
        .await
        .unwrap();
    for _ in 0..2 {
        assert_eq!(s2.push().await.unwrap()["push"], "message");
    }

    let params = json!({ "conversation_id": chat, "message_id": first["message_id"] });
    let refused = s2.call("delete", params.clone()).await.unwrap();
    assert_eq!(refused["error"]["code"], "PERMISSION_DENIED", "{refused}");
    let (code, tombstone) = delete(
        &api,
        &owner.access_token,
        &chat,
        first["message_id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{tombstone}");
    assert_eq!(
        (&tombstone["seq"], &tombstone["deleted"]),
        (&first["seq"], &json!(true))
    );
    for socket in [&mut s1, &mut s2] {
        let push = socket.push().await.unwrap();
        assert_eq!(push["push"], "message_deleted");
        assert_eq!(push["data"]["seq"], first["seq"]);
    }

    // The sender deletes their own over the socket; the other member hears it.
    let params = json!({ "conversation_id": chat, "message_id": second["message_id"] });
    let own = s1.request("delete", params).await.unwrap();
    assert_eq!(
        (&own["deleted"], &own["content"]),
        (&json!(true), &json!(""))
    );
    let push = s2.push().await.unwrap();
    assert_eq!(push["data"]["message_id"], second["message_id"]);
}

async fn message_status_goes_from_sent_to_delivered_to_read_as_members_read(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let owner = api.new_user().await.unwrap();
    let (m1, m2) = (api.new_user().await.unwrap(), api.new_user().await.unwrap());
    let chat = group(&api, &owner, &[&m1, &m2]).await;
    let m = api.send(&owner.access_token, &chat, "hello").await.unwrap();
    let (id, seq) = (
        m["message_id"].as_str().unwrap(),
        m["seq"].as_i64().unwrap(),
    );

    let (code, s) = status(&api, &owner.access_token, &chat, id).await;
    assert_eq!(code, StatusCode::OK, "{s}");
    assert_eq!(
        s,
        json!({ "message_id": id, "status": "SENT", "read_by": [] })
    );
    read(&api, &m1.access_token, &chat, seq).await;
    let (_, s) = status(&api, &m2.access_token, &chat, id).await;
    assert_eq!(
        (&s["status"], &s["read_by"]),
        (&json!("DELIVERED"), &json!([m1.user_id]))
    );
    read(&api, &m2.access_token, &chat, seq).await;
    let (_, s) = status(&api, &owner.access_token, &chat, id).await;
    assert_eq!(s["status"], "READ");
    let mut expected = vec![m1.user_id.clone(), m2.user_id.clone()];
    expected.sort();
    assert_eq!(s["read_by"], json!(expected));

    // A direct chat has one other member: SENT until they read, then READ.
    let chat = api.direct(&m1.access_token, &m2.user_id).await.unwrap();
    let m = api.send(&m1.access_token, &chat, "hi").await.unwrap();
    let id = m["message_id"].as_str().unwrap();
    assert_eq!(
        status(&api, &m1.access_token, &chat, id).await.1["status"],
        "SENT"
    );
    read(&api, &m2.access_token, &chat, 1).await;
    let (_, s) = status(&api, &m1.access_token, &chat, id).await;
    assert_eq!(
        (&s["status"], &s["read_by"]),
        (&json!("READ"), &json!([m2.user_id]))
    );
}

async fn message_status_is_only_for_members_and_known_messages(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (a, b, eve) = (
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
    );
    let chat = api.direct(&a.access_token, &b.user_id).await.unwrap();
    let m = api.send(&a.access_token, &chat, "hi").await.unwrap();
    let id = m["message_id"].as_str().unwrap();
    let (code, err) = status(&api, &eve.access_token, &chat, id).await;
    assert_eq!(
        (code, &err["error"]["code"]),
        (StatusCode::FORBIDDEN, &json!("PERMISSION_DENIED"))
    );
    let (code, err) = status(&api, &b.access_token, &chat, "nope").await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{err}");
    assert_eq!(err["error"]["message"], "message not found");
    let (code, err) = status(&api, &b.access_token, "nope", id).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(err["error"]["message"], "conversation not found");
    let long = "x".repeat(65);
    let (code, err) = status(&api, &b.access_token, &chat, &long).await;
    assert_eq!(
        (code, &err["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("INVALID_ARGUMENT"))
    );
}

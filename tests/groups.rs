//! Groups as clients see them: creating, joining, leaving, adding and removing members, roles,
//! settings, and the system messages that record each change in the conversation (with their
//! own seq, pushed like any message). Also the conversation routes that go with them: rename,
//! hide, participants. Every scenario runs on both backends.

mod common;

// Cargo would compile files directly in tests/ as test crates of their own: the scenarios live
// in a folder of this crate's name instead.
#[path = "groups/membership.rs"]
mod membership;
#[path = "groups/roles.rs"]
mod roles;
#[path = "groups/settings.rs"]
mod settings;

use membership::*;
use natter_testkit::{Api, Tokens};
use reqwest::{Method, StatusCode};
use roles::*;
use serde_json::{Value, json};
use settings::*;

on_both_backends!(
    a_new_group_begins_with_a_created_system_message_pushed_to_its_members,
    membership_changes_are_system_messages_pushed_to_members_in_seq_order,
    public_groups_can_be_seen_and_joined_private_ones_cannot,
    max_members_is_enforced_when_adding_joining_and_updating,
    a_user_cannot_read_or_post_in_a_group_they_are_not_in,
    members_cannot_remove_anyone_and_admins_cannot_remove_admins_or_the_owner,
    only_the_owner_changes_roles_and_an_admin_cannot_change_the_owner,
    making_someone_owner_transfers_ownership_and_the_old_owner_becomes_admin,
    an_owner_leaving_hands_over_to_the_oldest_admin_else_the_oldest_member,
    group_settings_are_changed_by_the_owner_or_an_admin_only,
    a_group_is_renamed_through_its_chat_but_a_direct_chat_cannot_be,
    a_hidden_chat_leaves_the_list_until_its_next_message,
    members_and_participants_are_paged_with_their_roles,
    my_groups_are_listed_page_by_page,
);

/// `method path` as `who`, with an optional JSON body.
pub async fn call(
    api: &Api,
    method: Method,
    path: &str,
    who: &Tokens,
    body: Option<Value>,
) -> (StatusCode, Value) {
    api.call(method, path, Some(&who.access_token), body)
        .await
        .unwrap()
}

/// Asserts an error answer: HTTP status and protocol code.
pub fn refused(answer: (StatusCode, Value), status: StatusCode, code: &str) {
    let (got, body) = answer;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        !body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "the error says what was wrong: {body}"
    );
}

/// Creates a group of `owner` with `members` (and extra fields); returns its id.
pub async fn create(api: &Api, owner: &Tokens, members: &[&Tokens], extra: Value) -> String {
    let mut body = json!({
        "name": "crew",
        "member_ids": members.iter().map(|m| m.user_id.clone()).collect::<Vec<_>>(),
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let (status, group) = call(api, Method::POST, "/v1/groups", owner, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    group["conversation_id"].as_str().unwrap().to_owned()
}

/// Adds `users` as `by`; asserts it worked.
pub async fn add(api: &Api, gid: &str, by: &Tokens, users: &[&Tokens]) {
    let ids: Vec<_> = users.iter().map(|u| u.user_id.clone()).collect();
    let path = format!("/v1/groups/{gid}/members");
    let (status, body) = call(
        api,
        Method::POST,
        &path,
        by,
        Some(json!({ "user_ids": ids })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Sets `user`'s role as `by`; returns the answer.
pub async fn set_role(
    api: &Api,
    gid: &str,
    by: &Tokens,
    user: &Tokens,
    role: &str,
) -> (StatusCode, Value) {
    let path = format!("/v1/groups/{gid}/members/{}/role", user.user_id);
    call(api, Method::PUT, &path, by, Some(json!({ "role": role }))).await
}

/// The group as `who` sees it.
pub async fn group(api: &Api, gid: &str, who: &Tokens) -> Value {
    let (status, body) = call(api, Method::GET, &format!("/v1/groups/{gid}"), who, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Every message of the conversation, oldest first, as `who` syncs it.
pub async fn all_messages(api: &Api, gid: &str, who: &Tokens) -> Vec<Value> {
    let path = format!("/v1/chats/{gid}/sync?after_seq=0&limit=100");
    let (status, body) = call(api, Method::GET, &path, who, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["messages"].as_array().unwrap().clone()
}

/// `{user_id: role}` of every member, as `who` lists them.
pub async fn roles_of(
    api: &Api,
    gid: &str,
    who: &Tokens,
) -> std::collections::HashMap<String, String> {
    let path = format!("/v1/groups/{gid}/members?limit=200");
    let (status, body) = call(api, Method::GET, &path, who, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user_id"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

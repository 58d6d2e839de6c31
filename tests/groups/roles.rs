//! Owner > admin > member: who may remove whom, who changes roles, and who inherits the group.

use crate::common::{Backend, Stack};
use crate::{add, call, create, group, refused, roles_of, set_role};
use natter_testkit::Tokens;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

fn denied(answer: (StatusCode, serde_json::Value)) {
    refused(answer, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
}

fn member_path(gid: &str, user: &Tokens) -> String {
    format!("/v1/groups/{gid}/members/{}", user.user_id)
}

pub async fn members_cannot_remove_anyone_and_admins_cannot_remove_admins_or_the_owner(
    backend: Backend,
) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let mut u = Vec::new();
    for _ in 0..5 {
        u.push(api.new_user().await.unwrap());
    }
    let (owner, admin, admin2, member, member2) = (&u[0], &u[1], &u[2], &u[3], &u[4]);
    let gid = create(&api, owner, &[admin, admin2, member, member2], json!({})).await;
    for a in [admin, admin2] {
        assert_eq!(
            set_role(&api, &gid, owner, a, "admin").await.0,
            StatusCode::OK
        );
    }
    let delete = |by: &Tokens, user: &Tokens| {
        let path = member_path(&gid, user);
        let api = api.clone();
        let by = by.clone();
        async move { call(&api, Method::DELETE, &path, &by, None).await }
    };
    denied(delete(member, member2).await);
    denied(delete(member, admin).await);
    denied(delete(admin, admin2).await);
    denied(delete(admin, owner).await);
    assert_eq!(delete(admin, member2).await.0, StatusCode::NO_CONTENT);
    assert_eq!(delete(owner, admin2).await.0, StatusCode::NO_CONTENT);
    let gone = delete(owner, admin2).await;
    refused(gone, StatusCode::NOT_FOUND, "NOT_FOUND");
    // Removing oneself is leaving.
    assert_eq!(delete(member, member).await.0, StatusCode::NO_CONTENT);
    let left: Vec<_> = group(&api, &gid, owner).await["member_ids"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(left, {
        let mut ids = vec![json!(owner.user_id), json!(admin.user_id)];
        ids.sort_by_key(|v| v.as_str().unwrap().to_owned());
        ids
    });
}

pub async fn only_the_owner_changes_roles_and_an_admin_cannot_change_the_owner(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (owner, admin, member, outsider) = (
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
        api.new_user().await.unwrap(),
    );
    let gid = create(&api, &owner, &[&admin, &member], json!({})).await;
    let (status, m) = set_role(&api, &gid, &owner, &admin, "admin").await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(
        (m["user_id"].clone(), m["role"].clone()),
        (json!(admin.user_id), json!("admin"))
    );
    assert!(m["joined_at"].as_i64().unwrap() > 0);
    assert_eq!(m["read_seq"], 0);
    denied(set_role(&api, &gid, &admin, &owner, "member").await);
    denied(set_role(&api, &gid, &admin, &owner, "admin").await);
    denied(set_role(&api, &gid, &admin, &member, "admin").await);
    denied(set_role(&api, &gid, &admin, &admin, "owner").await);
    denied(set_role(&api, &gid, &member, &member, "admin").await);
    denied(set_role(&api, &gid, &outsider, &member, "admin").await);
    let bad = set_role(&api, &gid, &owner, &member, "king").await;
    refused(bad, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    let missing = set_role(&api, &gid, &owner, &outsider, "admin").await;
    refused(missing, StatusCode::NOT_FOUND, "NOT_FOUND");
    let own = set_role(&api, &gid, &owner, &owner, "member").await;
    refused(own, StatusCode::PRECONDITION_FAILED, "FAILED_PRECONDITION");
    let (status, back) = set_role(&api, &gid, &owner, &admin, "member").await;
    assert_eq!(
        (status, back["role"].clone()),
        (StatusCode::OK, json!("member"))
    );
    let roles = roles_of(&api, &gid, &owner).await;
    assert_eq!(roles[&owner.user_id], "owner");
    assert_eq!(roles[&admin.user_id], "member");
}

pub async fn making_someone_owner_transfers_ownership_and_the_old_owner_becomes_admin(
    backend: Backend,
) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let (owner, heir) = (api.new_user().await.unwrap(), api.new_user().await.unwrap());
    let gid = create(&api, &owner, &[&heir], json!({})).await;
    let (status, m) = set_role(&api, &gid, &owner, &heir, "owner").await;
    assert_eq!(
        (status, m["role"].clone()),
        (StatusCode::OK, json!("owner"))
    );
    assert_eq!(
        group(&api, &gid, &owner).await["owner_id"],
        heir.user_id.as_str()
    );
    let roles = roles_of(&api, &gid, &heir).await;
    assert_eq!(
        (
            roles[&owner.user_id].as_str(),
            roles[&heir.user_id].as_str()
        ),
        ("admin", "owner")
    );
    // The old owner is an admin now: roles are no longer theirs to change.
    denied(set_role(&api, &gid, &owner, &heir, "member").await);
}

pub async fn an_owner_leaving_hands_over_to_the_oldest_admin_else_the_oldest_member(
    backend: Backend,
) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let mut u = Vec::new();
    for _ in 0..4 {
        u.push(api.new_user().await.unwrap());
    }
    let (owner, first, second, third) = (&u[0], &u[1], &u[2], &u[3]);
    let gid = create(&api, owner, &[first], json!({})).await;
    // Join times are milliseconds: keep them apart.
    tokio::time::sleep(Duration::from_millis(5)).await;
    add(&api, &gid, owner, &[second]).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    add(&api, &gid, owner, &[third]).await;
    assert_eq!(
        set_role(&api, &gid, owner, third, "admin").await.0,
        StatusCode::OK
    );
    let leave = format!("/v1/groups/{gid}/leave");
    assert_eq!(
        call(&api, Method::POST, &leave, owner, None).await.0,
        StatusCode::NO_CONTENT
    );
    let after = group(&api, &gid, first).await;
    assert_eq!(
        after["owner_id"],
        third.user_id.as_str(),
        "the admin, though the newest"
    );
    assert_eq!(after["last_message"]["metadata"]["event"], "role_changed");
    assert_eq!(after["last_message"]["metadata"]["role"], "owner");
    // No admin: the oldest member inherits.
    assert_eq!(
        call(&api, Method::POST, &leave, third, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        group(&api, &gid, first).await["owner_id"],
        first.user_id.as_str()
    );
    let roles = roles_of(&api, &gid, second).await;
    assert_eq!(roles.len(), 2);
    assert_eq!(
        (
            roles[&first.user_id].as_str(),
            roles[&second.user_id].as_str()
        ),
        ("owner", "member")
    );
}

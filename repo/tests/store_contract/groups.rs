//! Group changes: membership, roles, settings, each recorded by system messages that take seqs.

use crate::{T0, direct, group, id, send, sorted, user};
use natter_proto::repo::{
    AddMembersRequest, GroupChange, Message, RemoveMemberRequest, SetMemberRoleRequest,
    SyncMessagesRequest, UpdateConversationRequest,
};
use natter_repo::store::{StoreError, prelude::*};
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) async fn add(
    store: &dyn Store,
    gid: &str,
    by: &str,
    ids: &[&str],
    at: i64,
) -> GroupChange {
    try_add(store, gid, by, ids, at).await.unwrap()
}

async fn try_add(
    store: &dyn Store,
    gid: &str,
    by: &str,
    ids: &[&str],
    at: i64,
) -> Result<GroupChange, StoreError> {
    store
        .add_members(AddMembersRequest {
            conversation_id: gid.to_owned(),
            user_ids: ids.iter().map(|s| s.to_string()).collect(),
            now: T0 + at,
            by: by.to_owned(),
        })
        .await
}

async fn remove(
    store: &dyn Store,
    gid: &str,
    by: &str,
    user_id: &str,
) -> Result<GroupChange, StoreError> {
    store
        .remove_member(RemoveMemberRequest {
            conversation_id: gid.to_owned(),
            user_id: user_id.to_owned(),
            by: by.to_owned(),
            now: T0 + 100,
        })
        .await
}

async fn set_role(
    store: &dyn Store,
    gid: &str,
    by: &str,
    user_id: &str,
    role: &str,
) -> Result<GroupChange, StoreError> {
    store
        .set_member_role(SetMemberRoleRequest {
            conversation_id: gid.to_owned(),
            user_id: user_id.to_owned(),
            role: role.to_owned(),
            by: by.to_owned(),
            now: T0 + 50,
        })
        .await
}

fn meta(m: &Message) -> HashMap<String, String> {
    serde_json::from_str(&m.metadata_json).unwrap()
}

/// (event, user_id, by) of each system message.
fn events(change: &GroupChange) -> Vec<(String, String, String)> {
    change
        .system_messages
        .iter()
        .map(|m| {
            assert_eq!(m.kind, "system");
            let meta = meta(m);
            (
                meta["event"].clone(),
                meta["user_id"].clone(),
                meta["by"].clone(),
            )
        })
        .collect()
}

fn ev(event: &str, user_id: &str, by: &str) -> (String, String, String) {
    (event.to_owned(), user_id.to_owned(), by.to_owned())
}

async fn role(store: &dyn Store, gid: &str, user_id: &str) -> String {
    store.get_member(gid, user_id).await.unwrap().role
}

pub async fn creating_a_group_writes_a_created_system_message_as_seq_1(store: Arc<dyn Store>) {
    let (o, b) = (user(&*store, "olga").await, user(&*store, "bob").await);
    let g = group(&*store, &o, &[&b], 0).await;
    let created = g.last_message.clone().unwrap();
    assert_eq!((created.seq, created.kind.as_str()), (1, "system"));
    assert_eq!(created.sender_id, o);
    assert_eq!(created.content, "olga created the group \"the group\"");
    assert_eq!(meta(&created)["event"], "created");
    assert_eq!(meta(&created)["by"], o);
    let next = send(&*store, &g.conversation_id, &b, "hi", None, 1)
        .await
        .unwrap();
    assert_eq!(next.message.unwrap().seq, 2, "users' messages follow it");
}

pub async fn adding_members_writes_one_system_message_each_and_respects_max_members(
    store: Arc<dyn Store>,
) {
    let (o, a, b, c) = (
        user(&*store, "olga").await,
        user(&*store, "ann").await,
        user(&*store, "bob").await,
        user(&*store, "cid").await,
    );
    let g = group(&*store, &o, &[], 0).await;
    let gid = g.conversation_id.as_str();
    let change = add(&*store, gid, &o, &[&a, &b, &a], 1).await;
    assert_eq!(events(&change), [ev("added", &a, &o), ev("added", &b, &o)]);
    let seqs: Vec<i64> = change.system_messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [2, 3]);
    assert_eq!(change.system_messages[0].content, "olga added ann");
    assert_eq!(
        sorted(&change.recipient_ids),
        sorted(&[o.clone(), a.clone(), b.clone()])
    );
    // Already a member: nothing happens, no seq is taken.
    let again = add(&*store, gid, &o, &[&a], 2).await;
    assert!(again.system_messages.is_empty());
    assert_eq!(again.conversation.unwrap().last_seq, 3);
    // Joining oneself reads "joined".
    let joined = add(&*store, gid, &c, &[&c], 3).await;
    assert_eq!(events(&joined), [ev("joined", &c, &c)]);
    assert_eq!(joined.system_messages[0].content, "cid joined");
    assert_eq!(role(&*store, gid, &c).await, "member");

    let unknown = try_add(&*store, gid, &o, &[&id()], 4).await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound("user"))),
        "{unknown:?}"
    );
    let direct_chat = direct(&*store, &a, &b).await.0;
    let not_group = try_add(&*store, &direct_chat.conversation_id, &a, &[&c], 4).await;
    assert!(
        matches!(not_group, Err(StoreError::FailedPrecondition(_))),
        "{not_group:?}"
    );
    let missing = try_add(&*store, &id(), &o, &[&c], 4).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );

    // max_members 5 with 4 in: two more is all-or-nothing.
    store
        .update_group(UpdateConversationRequest {
            conversation_id: gid.to_owned(),
            max_members: Some(5),
            by: o.clone(),
            now: T0 + 5,
            ..Default::default()
        })
        .await
        .unwrap();
    let (d, e) = (user(&*store, "dan").await, user(&*store, "eve").await);
    let full = try_add(&*store, gid, &o, &[&d, &e], 6).await;
    match full {
        Err(StoreError::FailedPrecondition(msg)) => assert_eq!(msg, "group is full"),
        other => panic!("{other:?}"),
    }
    assert!(store.get_member(gid, &d).await.is_err(), "none was added");
    assert_eq!(
        add(&*store, gid, &o, &[&d], 7).await.system_messages.len(),
        1
    );
    let full = try_add(&*store, gid, &e, &[&e], 8).await;
    assert!(
        matches!(full, Err(StoreError::FailedPrecondition(_))),
        "{full:?}"
    );
}

pub async fn an_owner_leaving_hands_over_to_the_oldest_admin_else_the_oldest_member(
    store: Arc<dyn Store>,
) {
    let (o, a, b, c) = (
        user(&*store, "olga").await,
        user(&*store, "ann").await,
        user(&*store, "bob").await,
        user(&*store, "cid").await,
    );
    let g = group(&*store, &o, &[&a], 0).await;
    let gid = g.conversation_id.as_str();
    add(&*store, gid, &o, &[&b], 10).await;
    add(&*store, gid, &o, &[&c], 20).await;
    set_role(&*store, gid, &o, &c, "admin").await.unwrap();
    set_role(&*store, gid, &o, &b, "admin").await.unwrap();
    // Admins b (joined at 10) and c (20): b is the oldest admin, though a is older.
    let left = remove(&*store, gid, &o, &o).await.unwrap();
    assert_eq!(
        events(&left),
        [ev("left", &o, &o), ev("role_changed", &b, &o)]
    );
    assert_eq!(left.system_messages[1].content, "bob is now the owner");
    assert!(left.recipient_ids.contains(&o), "the leaver is told too");
    assert_eq!(left.conversation.unwrap().owner_id, b);
    assert_eq!(role(&*store, gid, &b).await, "owner");
    // No admin left besides the owner: the oldest member, a, inherits.
    remove(&*store, gid, &b, &c).await.unwrap();
    let left = remove(&*store, gid, &b, &b).await.unwrap();
    assert_eq!(events(&left)[1], ev("role_changed", &a, &b));
    assert_eq!(role(&*store, gid, &a).await, "owner");
    // The last member leaving leaves an empty group without an owner...
    let left = remove(&*store, gid, &a, &a).await.unwrap();
    assert_eq!(events(&left), [ev("left", &a, &a)]);
    let empty = left.conversation.unwrap();
    assert!(empty.member_ids.is_empty());
    assert_eq!(empty.owner_id, "");
    // ...whose next member takes it.
    add(&*store, gid, &c, &[&c], 200).await;
    assert_eq!(role(&*store, gid, &c).await, "owner");
    let all = store
        .sync_messages(SyncMessagesRequest {
            conversation_id: gid.to_owned(),
            after_seq: 0,
            limit: 100,
        })
        .await
        .unwrap();
    let seqs: Vec<i64> = all.messages.iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        (1..=12).collect::<Vec<_>>(),
        "every change took a seq"
    );
}

pub async fn the_owner_cannot_be_removed_and_a_removed_member_is_told(store: Arc<dyn Store>) {
    let (o, a, b) = (
        user(&*store, "olga").await,
        user(&*store, "ann").await,
        user(&*store, "bob").await,
    );
    let g = group(&*store, &o, &[&a, &b], 0).await;
    let gid = g.conversation_id.as_str();
    let owner = remove(&*store, gid, &a, &o).await;
    assert!(
        matches!(owner, Err(StoreError::FailedPrecondition(_))),
        "{owner:?}"
    );
    let removed = remove(&*store, gid, &o, &b).await.unwrap();
    assert_eq!(events(&removed), [ev("removed", &b, &o)]);
    assert_eq!(removed.system_messages[0].content, "olga removed bob");
    assert_eq!(
        sorted(&removed.recipient_ids),
        sorted(&[o.clone(), a.clone(), b.clone()])
    );
    assert_eq!(removed.conversation.unwrap().member_ids.len(), 2);
    let again = remove(&*store, gid, &o, &b).await;
    assert!(
        matches!(again, Err(StoreError::NotFound("member"))),
        "{again:?}"
    );
    let outsider = send(&*store, gid, &b, "still here?", None, 1).await;
    assert!(
        matches!(outsider, Err(StoreError::NotMember)),
        "{outsider:?}"
    );
}

pub async fn making_someone_owner_transfers_ownership_and_the_old_owner_becomes_admin(
    store: Arc<dyn Store>,
) {
    let (o, a) = (user(&*store, "olga").await, user(&*store, "ann").await);
    let g = group(&*store, &o, &[&a], 0).await;
    let gid = g.conversation_id.as_str();
    let change = set_role(&*store, gid, &o, &a, "admin").await.unwrap();
    assert_eq!(change.member.unwrap().role, "admin");
    assert_eq!(change.system_messages[0].content, "ann is now an admin");
    assert_eq!(meta(&change.system_messages[0])["role"], "admin");
    let same = set_role(&*store, gid, &o, &a, "admin").await.unwrap();
    assert!(same.system_messages.is_empty(), "no change, no message");
    let own = set_role(&*store, gid, &o, &o, "member").await;
    assert!(
        matches!(own, Err(StoreError::FailedPrecondition(_))),
        "{own:?}"
    );
    let transfer = set_role(&*store, gid, &o, &a, "owner").await.unwrap();
    assert_eq!(events(&transfer), [ev("role_changed", &a, &o)]);
    assert_eq!(transfer.conversation.unwrap().owner_id, a);
    assert_eq!(
        (role(&*store, gid, &a).await, role(&*store, gid, &o).await),
        ("owner".to_owned(), "admin".to_owned())
    );
    let bad = set_role(&*store, gid, &a, &o, "king").await;
    assert!(
        matches!(bad, Err(StoreError::FailedPrecondition(_))),
        "{bad:?}"
    );
    let outsider = set_role(&*store, gid, &a, &id(), "admin").await;
    assert!(
        matches!(outsider, Err(StoreError::NotFound("member"))),
        "{outsider:?}"
    );
}

pub async fn updating_a_group_renames_it_with_a_system_message(store: Arc<dyn Store>) {
    let (o, a) = (user(&*store, "olga").await, user(&*store, "ann").await);
    let g = group(&*store, &o, &[&a], 0).await;
    let gid = g.conversation_id.as_str();
    let patch = |name: Option<&str>, max: Option<i32>| UpdateConversationRequest {
        conversation_id: gid.to_owned(),
        name: name.map(str::to_owned),
        avatar_url: Some(String::new()),
        is_public: Some(false),
        max_members: max,
        now: T0 + 9,
        by: o.clone(),
    };
    let change = store.update_group(patch(Some("crew"), None)).await.unwrap();
    assert_eq!(
        change.system_messages[0].content,
        "olga renamed the group to \"crew\""
    );
    assert_eq!(meta(&change.system_messages[0])["name"], "crew");
    let conv = change.conversation.unwrap();
    assert_eq!(
        (
            conv.name.as_str(),
            conv.avatar_url.as_str(),
            conv.is_public,
            conv.last_seq
        ),
        ("crew", "", false, 2)
    );
    assert_eq!(conv.updated_at, T0 + 9);
    // The same name again, or no name: no message.
    let same = store
        .update_group(patch(Some("crew"), Some(2)))
        .await
        .unwrap();
    assert!(same.system_messages.is_empty());
    assert_eq!(same.conversation.unwrap().max_members, 2);
    let below = store.update_group(patch(None, Some(1))).await;
    assert!(
        matches!(below, Err(StoreError::FailedPrecondition(_))),
        "{below:?}"
    );
    let d = direct(&*store, &o, &a).await.0;
    let mut on_direct = patch(Some("x"), None);
    on_direct.conversation_id = d.conversation_id;
    let refused = store.update_group(on_direct).await;
    assert!(
        matches!(refused, Err(StoreError::FailedPrecondition(_))),
        "{refused:?}"
    );
}

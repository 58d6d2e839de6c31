//! Reading groups: member pages, hiding a conversation, another user's groups.

use crate::groups::add;
use crate::{T0, direct, group, id, sorted, user};
use natter_proto::repo::{
    ListConversationsRequest, ListConversationsResponse, ListMembersRequest, ListUserGroupsRequest,
    UpdateConversationRequest,
};
use natter_repo::store::{StoreError, prelude::*};
use std::sync::Arc;

pub async fn members_page_by_user_id_with_their_roles(store: Arc<dyn Store>) {
    let o = user(&*store, "olga").await;
    let mut others = Vec::new();
    for i in 0..4 {
        others.push(user(&*store, &format!("m{i}")).await);
    }
    let refs: Vec<&str> = others.iter().map(String::as_str).collect();
    let g = group(&*store, &o, &refs, 0).await;
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_members(ListMembersRequest {
                conversation_id: g.conversation_id.clone(),
                limit: 2,
                after_user_id: after.take(),
            })
            .await
            .unwrap();
        assert!(page.members.len() <= 2);
        seen.extend(page.members);
        match page.next_cursor {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let ids: Vec<String> = seen.iter().map(|m| m.user_id.clone()).collect();
    let mut all = others.clone();
    all.push(o.clone());
    assert_eq!(ids, sorted(&all), "each member once, by id");
    let owner = seen.iter().find(|m| m.user_id == o).unwrap();
    assert_eq!((owner.role.as_str(), owner.joined_at), ("owner", T0));
    let missing = store.get_member(&g.conversation_id, &id()).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound("member"))),
        "{missing:?}"
    );
}

pub async fn a_hidden_conversation_comes_back_with_the_next_message(store: Arc<dyn Store>) {
    let (o, a, b) = (
        user(&*store, "olga").await,
        user(&*store, "ann").await,
        user(&*store, "bob").await,
    );
    let g = group(&*store, &o, &[&a], 0).await;
    let gid = g.conversation_id.as_str();
    let listed = |user: String| {
        let store = store.clone();
        async move {
            let page = store
                .list_conversations(ListConversationsRequest {
                    user_id: user,
                    limit: 10,
                    cursor: None,
                    groups_only: false,
                })
                .await
                .unwrap();
            page.conversations.len()
        }
    };
    store.set_hidden(gid, &a).await.unwrap();
    assert_eq!(listed(a.clone()).await, 0);
    assert_eq!(listed(o.clone()).await, 1);
    // A system message is a message too.
    add(&*store, gid, &o, &[&b], 1).await;
    assert_eq!(listed(a.clone()).await, 1);
    let outsider = store.set_hidden(gid, &id()).await;
    assert!(
        matches!(outsider, Err(StoreError::NotFound("member"))),
        "{outsider:?}"
    );
}

pub async fn another_users_groups_are_listed_only_when_public_or_shared(store: Arc<dyn Store>) {
    let (u, v, w) = (
        user(&*store, "ulla").await,
        user(&*store, "vic").await,
        user(&*store, "wes").await,
    );
    let public = group(&*store, &w, &[&u], 0).await.conversation_id;
    let private = group(&*store, &w, &[&u], 1).await.conversation_id;
    let shared = group(&*store, &w, &[&u, &v], 2).await.conversation_id;
    let _direct = direct(&*store, &u, &v).await;
    for id in [&private, &shared] {
        store
            .update_group(UpdateConversationRequest {
                conversation_id: id.clone(),
                is_public: Some(false),
                by: w.clone(),
                now: T0 + 3,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let list = |user: &str, viewer: &str, after: Option<String>| ListUserGroupsRequest {
        user_id: user.to_owned(),
        viewer_id: viewer.to_owned(),
        limit: 2,
        after_id: after,
    };
    let ids = |page: &ListConversationsResponse| -> Vec<String> {
        page.conversations
            .iter()
            .map(|c| c.conversation_id.clone())
            .collect()
    };
    let first = store.list_user_groups(list(&u, &u, None)).await.unwrap();
    let rest = store
        .list_user_groups(list(&u, &u, first.next_cursor.clone()))
        .await
        .unwrap();
    let mut own = ids(&first);
    own.extend(ids(&rest));
    assert_eq!(
        own,
        sorted(&[public.clone(), private.clone(), shared.clone()])
    );
    assert!(rest.next_cursor.is_none());
    let seen_by_v = store.list_user_groups(list(&u, &v, None)).await.unwrap();
    let mut expected = vec![public.clone(), shared.clone()];
    expected.sort();
    assert_eq!(ids(&seen_by_v), expected);
    let shared_view = seen_by_v
        .conversations
        .iter()
        .find(|c| c.conversation_id == shared)
        .unwrap();
    assert_eq!(shared_view.member_ids.len(), 3);
}

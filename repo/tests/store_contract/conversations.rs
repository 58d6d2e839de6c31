//! Conversations: direct and group creation, membership, listing, read pointers.

use crate::harness::Fixture;
use crate::{T0, direct, group, id, send, sorted, user};
use natter_proto::repo::{GetOrCreateDirectRequest, ListConversationsRequest};
use natter_repo::store::{StoreError, prelude::*};
use std::collections::HashSet;
use std::sync::Arc;

pub async fn direct_conversation_is_one_per_pair_in_either_order(store: Arc<dyn Store>) {
    let (a, b, c) = (
        user(&*store, "a").await,
        user(&*store, "b").await,
        user(&*store, "c").await,
    );
    let (first, created) = direct(&*store, &a, &b).await;
    assert!(created);
    assert_eq!(first.kind, "direct");
    assert_eq!(first.last_seq, 0);
    assert!(first.last_message.is_none());
    assert_eq!(sorted(&first.member_ids), sorted(&[a.clone(), b.clone()]));

    let (again, created) = direct(&*store, &b, &a).await;
    assert!(!created);
    assert_eq!(again.conversation_id, first.conversation_id);
    let (other, created) = direct(&*store, &a, &c).await;
    assert!(created);
    assert_ne!(other.conversation_id, first.conversation_id);

    let unknown = store
        .get_or_create_direct(GetOrCreateDirectRequest {
            conversation_id: id(),
            user_id: a.clone(),
            other_user_id: id(),
            now: T0,
        })
        .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound("user"))),
        "{unknown:?}"
    );
}

pub async fn direct_conversation_is_one_per_pair_under_concurrent_creation(store: Arc<dyn Store>) {
    let (a, b) = (user(&*store, "a").await, user(&*store, "b").await);
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let (store, a, b) = (store.clone(), a.clone(), b.clone());
            tokio::spawn(async move {
                if i % 2 == 0 {
                    direct(&*store, &a, &b).await
                } else {
                    direct(&*store, &b, &a).await
                }
            })
        })
        .collect();
    let mut ids = HashSet::new();
    let mut created = 0;
    for t in tasks {
        let (conv, c) = t.await.unwrap();
        assert_eq!(conv.member_ids.len(), 2);
        ids.insert(conv.conversation_id);
        created += usize::from(c);
    }
    assert_eq!(ids.len(), 1, "one conversation for the pair");
    assert_eq!(created, 1, "exactly one call created it");
}

pub async fn group_has_owner_and_members_with_roles(fixture: Arc<Fixture>) {
    let opened = fixture.open().await;
    let store = opened.store.clone();
    let (o, b, c, d) = (
        user(&*store, "owner").await,
        user(&*store, "b").await,
        user(&*store, "c").await,
        user(&*store, "d").await,
    );
    // Duplicates and the owner's own id are ignored.
    let g = group(&*store, &o, &[&b, &c, &b, &o], 0).await;
    assert_eq!((g.kind.as_str(), g.name.as_str()), ("group", "the group"));
    assert_eq!(
        (g.owner_id.as_str(), g.max_members, g.is_public),
        (o.as_str(), 100, true)
    );
    assert_eq!(g.avatar_url, "https://example.com/a.png");
    assert_eq!(
        sorted(&g.member_ids),
        sorted(&[o.clone(), b.clone(), c.clone()])
    );
    // Seq 1 is the "created" system message.
    assert_eq!((g.created_at, g.updated_at, g.last_seq), (T0, T0, 1));

    let gid = g.conversation_id.as_str();
    for (who, role) in [(&o, "owner"), (&b, "member"), (&c, "member")] {
        assert_eq!(store.get_member(gid, who).await.unwrap().role, role);
    }
    // The roles as stored, read around the trait.
    let set_same = "UPDATE members SET role = role \
                    WHERE conversation_id = $1 AND user_id = $2 AND role = $3";
    assert_eq!(fixture.execute(set_same, &[gid, &o, "owner"]).await, 1);

    let as_member = store.get_conversation(gid, Some(&c)).await.unwrap();
    assert_eq!(as_member.member_ids.len(), 3);
    let outsider = store.get_conversation(gid, Some(&d)).await;
    assert!(
        matches!(outsider, Err(StoreError::NotFound(_))),
        "{outsider:?}"
    );
    assert_eq!(store.get_conversation(gid, None).await.unwrap().read_seq, 0);
    let unknown = store.get_conversation(&id(), None).await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound(_))),
        "{unknown:?}"
    );
    drop(store);
    opened.close().await;
}

pub async fn read_pointer_only_moves_forward_and_is_clamped_to_last_seq(store: Arc<dyn Store>) {
    let (a, b, eve) = (
        user(&*store, "a").await,
        user(&*store, "b").await,
        user(&*store, "eve").await,
    );
    let (conv, _) = direct(&*store, &a, &b).await;
    let cid = conv.conversation_id.as_str();
    for i in 1..=5 {
        send(&*store, cid, &a, "m", None, i).await.unwrap();
    }
    assert_eq!(store.set_read_seq(cid, &b, 3).await.unwrap(), 3);
    assert_eq!(
        store.set_read_seq(cid, &b, 2).await.unwrap(),
        3,
        "never backward"
    );
    assert_eq!(
        store.set_read_seq(cid, &b, 100).await.unwrap(),
        5,
        "clamped to last_seq"
    );
    assert_eq!(
        store
            .get_conversation(cid, Some(&b))
            .await
            .unwrap()
            .read_seq,
        5
    );
    assert_eq!(
        store
            .get_conversation(cid, Some(&a))
            .await
            .unwrap()
            .read_seq,
        0
    );
    let outsider = store.set_read_seq(cid, &eve, 1).await;
    assert!(
        matches!(outsider, Err(StoreError::NotFound(_))),
        "{outsider:?}"
    );
    let unknown = store.set_read_seq(&id(), &a, 1).await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound(_))),
        "{unknown:?}"
    );
}

async fn list(store: &dyn Store, user_id: &str, limit: i32, cursor: Option<String>) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = cursor;
    loop {
        let page = store
            .list_conversations(ListConversationsRequest {
                user_id: user_id.to_owned(),
                limit,
                cursor: cursor.take(),
                groups_only: false,
            })
            .await
            .unwrap();
        assert!(page.conversations.len() <= limit as usize);
        ids.extend(page.conversations.into_iter().map(|c| c.conversation_id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return ids,
        }
    }
}

pub async fn list_conversations_orders_by_activity_paginates_and_counts_unread(
    store: Arc<dyn Store>,
) {
    let u = user(&*store, "u").await;
    let (x, y) = (user(&*store, "x").await, user(&*store, "y").await);
    let (dx, _) = direct(&*store, &u, &x).await;
    let (dy, _) = direct(&*store, &u, &y).await;
    let g1 = group(&*store, &x, &[&u, &y], 1).await;
    let g2 = group(&*store, &y, &[&u], 2).await;
    let (dx, dy, g1, g2) = (
        dx.conversation_id,
        dy.conversation_id,
        g1.conversation_id,
        g2.conversation_id,
    );
    let _not_mine = group(&*store, &x, &[&y], 3).await;

    // Activity, oldest to newest: dy (2 msgs), g2 (1), dx (3), g1 (1).
    send(&*store, &dy, &y, "1", None, 10).await.unwrap();
    send(&*store, &dy, &y, "2", None, 11).await.unwrap();
    send(&*store, &g2, &y, "1", None, 12).await.unwrap();
    for i in 0..3 {
        send(&*store, &dx, &x, "hey", None, 20 + i).await.unwrap();
    }
    send(&*store, &g1, &u, "mine", None, 30).await.unwrap();
    // Each group's seq 1 is its "created" system message: "mine" is g1's seq 2.
    store.set_read_seq(&g1, &u, 2).await.unwrap();
    store.set_read_seq(&dx, &u, 1).await.unwrap();

    let expected = vec![g1.clone(), dx.clone(), g2.clone(), dy.clone()];
    for limit in [1, 2, 3, 4, 10] {
        assert_eq!(
            list(&*store, &u, limit, None).await,
            expected,
            "limit {limit}"
        );
    }
    let first = store
        .list_conversations(ListConversationsRequest {
            user_id: u.clone(),
            limit: 2,
            cursor: None,
            groups_only: false,
        })
        .await
        .unwrap();
    // Unread: dx 3-1, dy 2-0, g2 2-0, g1 2-2.
    assert_eq!(first.total_unread, 6);
    let top = &first.conversations[0];
    assert_eq!(
        (top.conversation_id.as_str(), top.read_seq, top.last_seq),
        (g1.as_str(), 2, 2)
    );
    assert_eq!(top.last_message.as_ref().unwrap().content, "mine");
    assert_eq!(
        sorted(&top.member_ids),
        sorted(&[x.clone(), u.clone(), y.clone()])
    );
    assert_eq!(first.conversations[1].last_message.as_ref().unwrap().seq, 3);
    assert_eq!(first.conversations[1].updated_at, T0 + 22);
    let rest = list(&*store, &u, 2, first.next_cursor.clone()).await;
    assert_eq!(rest, [g2.clone(), dy.clone()]);

    let groups = store
        .list_conversations(ListConversationsRequest {
            user_id: u.clone(),
            limit: 0,
            cursor: None,
            groups_only: true,
        })
        .await
        .unwrap();
    let ids: Vec<_> = groups
        .conversations
        .iter()
        .map(|c| c.conversation_id.clone())
        .collect();
    assert_eq!(
        (ids, groups.next_cursor, groups.total_unread),
        (vec![g1, g2], None, 6)
    );

    let bad = store
        .list_conversations(ListConversationsRequest {
            user_id: u.clone(),
            limit: 2,
            cursor: Some("not a cursor".into()),
            groups_only: false,
        })
        .await;
    assert!(
        matches!(bad, Err(StoreError::FailedPrecondition(_))),
        "{bad:?}"
    );
    let nobody = user(&*store, "nobody").await;
    assert!(list(&*store, &nobody, 5, None).await.is_empty());
}

pub async fn hidden_conversations_are_not_listed_until_the_next_message(fixture: Arc<Fixture>) {
    let opened = fixture.open().await;
    let store = opened.store.clone();
    let (a, b, c) = (
        user(&*store, "a").await,
        user(&*store, "b").await,
        user(&*store, "c").await,
    );
    let (ab, _) = direct(&*store, &a, &b).await;
    let (ac, _) = direct(&*store, &a, &c).await;
    send(&*store, &ac.conversation_id, &c, "1", None, 1)
        .await
        .unwrap();
    // The trait cannot hide yet (SetHidden comes later): set the flag directly.
    let hide = "UPDATE members SET hidden = TRUE WHERE conversation_id = $1 AND user_id = $2";
    assert_eq!(fixture.execute(hide, &[&ac.conversation_id, &a]).await, 1);
    assert_eq!(
        list(&*store, &a, 10, None).await,
        [ab.conversation_id.as_str()]
    );
    assert_eq!(
        list(&*store, &c, 10, None).await,
        [ac.conversation_id.as_str()]
    );

    send(&*store, &ac.conversation_id, &c, "2", None, 2)
        .await
        .unwrap();
    assert_eq!(
        list(&*store, &a, 10, None).await,
        [ac.conversation_id.clone(), ab.conversation_id.clone()]
    );
    drop(store);
    opened.close().await;
}

//! Friends and blocks: requests answered once, friendships both ways, blocks that clear both.

use crate::{T0, direct, group, id, user};
use natter_proto::repo::{CreateFriendRequestRequest, FriendRequest, ListFriendsRequest};
use natter_repo::store::{StoreError, prelude::*};
use std::sync::Arc;

async fn request(store: &dyn Store, from: &str, to: &str) -> Result<FriendRequest, StoreError> {
    store
        .create_friend_request(CreateFriendRequestRequest {
            request_id: id(),
            from_user_id: from.to_owned(),
            to_user_id: to.to_owned(),
            created_at: T0,
        })
        .await
}

pub async fn befriend(store: &dyn Store, a: &str, b: &str) {
    let r = request(store, a, b).await.unwrap();
    store
        .set_friend_request_status(&r.request_id, "accepted", T0 + 1)
        .await
        .unwrap();
}

async fn friends_of(store: &dyn Store, user_id: &str) -> Vec<String> {
    let page = store
        .list_friends(ListFriendsRequest {
            user_id: user_id.to_owned(),
            limit: 200,
            after_user_id: None,
        })
        .await
        .unwrap();
    page.user_ids
}

pub async fn a_request_is_pending_once_per_direction_and_a_crossing_one_accepts_it(
    store: Arc<dyn Store>,
) {
    let (a, b) = (user(&*store, "a").await, user(&*store, "b").await);
    let first = request(&*store, &a, &b).await.unwrap();
    assert_eq!(
        (first.from_user_id.as_str(), first.status.as_str()),
        (a.as_str(), "pending")
    );
    let again = request(&*store, &a, &b).await;
    assert!(
        matches!(again, Err(StoreError::AlreadyExists("friend request"))),
        "{again:?}"
    );
    assert!(!store.are_friends(&a, &b).await.unwrap());

    // b asks a while a's request is pending: a's request is accepted instead.
    let crossing = request(&*store, &b, &a).await.unwrap();
    assert_eq!(crossing.request_id, first.request_id);
    assert_eq!(crossing.status, "accepted");
    assert!(store.are_friends(&a, &b).await.unwrap());
    assert!(store.are_friends(&b, &a).await.unwrap());
    assert_eq!(friends_of(&*store, &a).await, vec![b.clone()]);

    let once_friends = request(&*store, &a, &b).await;
    assert!(
        matches!(once_friends, Err(StoreError::AlreadyExists("friendship"))),
        "{once_friends:?}"
    );
    let unknown = request(&*store, &a, &id()).await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound("user"))),
        "{unknown:?}"
    );
}

pub async fn a_request_is_answered_once(store: Arc<dyn Store>) {
    let (a, b) = (user(&*store, "a").await, user(&*store, "b").await);
    let r = request(&*store, &a, &b).await.unwrap();
    let declined = store
        .set_friend_request_status(&r.request_id, "declined", T0 + 1)
        .await
        .unwrap();
    assert_eq!(declined.status, "declined");
    let late = store
        .set_friend_request_status(&r.request_id, "accepted", T0 + 2)
        .await;
    assert!(
        matches!(&late, Err(StoreError::FailedPrecondition(m)) if m.contains("already declined")),
        "{late:?}"
    );
    assert!(!store.are_friends(&a, &b).await.unwrap());
    let stored = store.get_friend_request(&r.request_id).await.unwrap();
    assert_eq!(stored.status, "declined");
    let unknown = store.get_friend_request(&id()).await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound(_))),
        "{unknown:?}"
    );
    let unknown = store.set_friend_request_status(&id(), "accepted", T0).await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound(_))),
        "{unknown:?}"
    );

    // A declined request does not stop a new one, which can be accepted.
    let second = request(&*store, &a, &b).await.unwrap();
    assert_ne!(second.request_id, r.request_id);
    let accepted = store
        .set_friend_request_status(&second.request_id, "accepted", T0 + 3)
        .await
        .unwrap();
    assert_eq!(accepted.status, "accepted");
    assert!(store.are_friends(&b, &a).await.unwrap());
}

pub async fn pending_requests_are_listed_by_direction(store: Arc<dyn Store>) {
    let (a, b, c, d) = (
        user(&*store, "a").await,
        user(&*store, "b").await,
        user(&*store, "c").await,
        user(&*store, "d").await,
    );
    let out = request(&*store, &a, &b).await.unwrap();
    let inc = request(&*store, &c, &a).await.unwrap();
    let answered = request(&*store, &a, &d).await.unwrap();
    store
        .set_friend_request_status(&answered.request_id, "declined", T0)
        .await
        .unwrap();
    let ids = |v: Vec<FriendRequest>| {
        let mut ids: Vec<_> = v.into_iter().map(|r| r.request_id).collect();
        ids.sort();
        ids
    };
    let incoming = store.list_friend_requests(&a, true, false).await.unwrap();
    assert_eq!(ids(incoming), vec![inc.request_id.clone()]);
    let outgoing = store.list_friend_requests(&a, false, true).await.unwrap();
    assert_eq!(ids(outgoing), vec![out.request_id.clone()]);
    let mut both = vec![inc.request_id, out.request_id];
    both.sort();
    assert_eq!(
        ids(store.list_friend_requests(&a, true, true).await.unwrap()),
        both
    );
    assert!(
        store
            .list_friend_requests(&d, true, true)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn friends_are_paged_in_id_order(store: Arc<dyn Store>) {
    let me = user(&*store, "me").await;
    let mut expected = Vec::new();
    for i in 0..5 {
        let f = user(&*store, &format!("friend{i}")).await;
        befriend(&*store, &f, &me).await;
        expected.push(f);
    }
    expected.sort();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_friends(ListFriendsRequest {
                user_id: me.clone(),
                limit: 2,
                after_user_id: after.clone(),
            })
            .await
            .unwrap();
        assert!(page.user_ids.len() <= 2);
        seen.extend(page.user_ids.iter().cloned());
        if !page.has_more {
            break;
        }
        after = page.user_ids.last().cloned();
    }
    assert_eq!(seen, expected);
}

pub async fn removing_a_friend_ends_it_both_ways_once(store: Arc<dyn Store>) {
    let (a, b) = (user(&*store, "a").await, user(&*store, "b").await);
    befriend(&*store, &a, &b).await;
    store.remove_friend(&b, &a).await.unwrap();
    assert!(!store.are_friends(&a, &b).await.unwrap());
    assert!(friends_of(&*store, &a).await.is_empty());
    let again = store.remove_friend(&a, &b).await;
    assert!(
        matches!(again, Err(StoreError::NotFound("friendship"))),
        "{again:?}"
    );
}

pub async fn a_block_clears_friendship_and_requests_and_refuses_new_ones(store: Arc<dyn Store>) {
    let (a, b, c) = (
        user(&*store, "a").await,
        user(&*store, "b").await,
        user(&*store, "c").await,
    );
    befriend(&*store, &a, &b).await;
    request(&*store, &c, &a).await.unwrap();
    store.block(&a, &b).await.unwrap();
    store.block(&a, &c).await.unwrap();
    store.block(&a, &c).await.unwrap(); // twice is fine
    assert!(!store.are_friends(&a, &b).await.unwrap());
    assert!(
        store
            .list_friend_requests(&a, true, true)
            .await
            .unwrap()
            .is_empty()
    );
    for (from, to) in [(&b, &a), (&a, &b), (&c, &a)] {
        let refused = request(&*store, from, to).await;
        assert!(
            matches!(&refused, Err(StoreError::FailedPrecondition(m)) if m == "blocked"),
            "{refused:?}"
        );
    }
    assert!(store.is_blocked(&a, &b).await.unwrap());
    assert!(store.is_blocked(&b, &a).await.unwrap());
    assert!(!store.is_blocked(&b, &c).await.unwrap());
    let mut expected = vec![b.clone(), c.clone()];
    expected.sort();
    assert_eq!(store.list_blocked(&a).await.unwrap(), expected);
    assert!(store.list_blocked(&b).await.unwrap().is_empty());

    store.unblock(&a, &b).await.unwrap();
    assert!(!store.is_blocked(&b, &a).await.unwrap());
    let again = store.unblock(&a, &b).await;
    assert!(
        matches!(again, Err(StoreError::NotFound("block"))),
        "{again:?}"
    );
    request(&*store, &b, &a).await.unwrap();
    let unknown = store.block(&a, &id()).await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound("user"))),
        "{unknown:?}"
    );
}

pub async fn users_are_found_by_exact_nickname(store: Arc<dyn Store>) {
    let ann = user(&*store, "ann").await;
    user(&*store, "anna").await;
    assert_eq!(store.find_user_by_nickname("ann").await.unwrap(), ann);
    let missing = store.find_user_by_nickname("an").await;
    assert!(
        matches!(missing, Err(StoreError::NotFound("user"))),
        "{missing:?}"
    );
}

pub async fn contacts_are_friends_and_fellow_members_leaving_out_big_groups_and_hidden_chats(
    store: Arc<dyn Store>,
) {
    let me = user(&*store, "me").await;
    let friend = user(&*store, "friend").await;
    let partner = user(&*store, "partner").await;
    let hidden = user(&*store, "hidden").await;
    let (small1, small2) = (user(&*store, "s1").await, user(&*store, "s2").await);
    let mut big = Vec::new();
    for i in 0..4 {
        big.push(user(&*store, &format!("big{i}")).await);
    }
    let stranger = user(&*store, "stranger").await;
    befriend(&*store, &me, &friend).await;
    direct(&*store, &me, &partner).await;
    let (chat, _) = direct(&*store, &me, &hidden).await;
    store.set_hidden(&chat.conversation_id, &me).await.unwrap();
    // The friend is also in the small group: listed once.
    group(&*store, &small1, &[&me, &small2, &friend], 0).await;
    let big_refs: Vec<&str> = big.iter().map(String::as_str).collect();
    let mut in_big = big_refs.clone();
    in_big.push(&me);
    group(&*store, big_refs[0], &in_big[1..], 0).await;
    // A group of `stranger` alone with others: not a contact.
    group(&*store, &stranger, &[big_refs[0]], 0).await;

    // The big group has 5 members: over a limit of 4, it is left out.
    let mut expected = vec![
        friend.clone(),
        partner.clone(),
        small1.clone(),
        small2.clone(),
    ];
    expected.sort();
    assert_eq!(store.list_contacts(&me, 4, 100).await.unwrap(), expected);
    // At its size it counts.
    let mut with_big = expected.clone();
    with_big.extend(big.iter().cloned());
    with_big.sort();
    assert_eq!(store.list_contacts(&me, 5, 100).await.unwrap(), with_big);
    // Bounded, in id order.
    assert_eq!(store.list_contacts(&me, 5, 3).await.unwrap(), with_big[..3]);
    // I hid our chat from myself only: `hidden` still hears of me.
    assert_eq!(store.list_contacts(&hidden, 4, 100).await.unwrap(), [me]);
    assert_eq!(
        store.list_contacts(&stranger, 4, 100).await.unwrap(),
        [big[0].clone()]
    );
}

//! Messages: seq assignment, retries, membership checks, history and sync pages, tombstones,
//! read receipts and stream replay.

use crate::{direct, group, id, send, sorted, user};
use natter_proto::repo::{
    GetMessageForRequest, ListMessagesRequest, ListMessagesResponse, ReplayMessagesRequest,
    SyncMessagesRequest,
};
use natter_repo::store::{StoreError, prelude::*};
use std::collections::HashSet;
use std::sync::Arc;

fn seqs(page: &ListMessagesResponse) -> Vec<i64> {
    page.messages.iter().map(|m| m.seq).collect()
}
pub async fn seq_is_gapless_under_50_concurrent_appends(store: Arc<dyn Store>) {
    let mut members = Vec::new();
    for i in 0..5 {
        members.push(user(&*store, &format!("m{i}")).await);
    }
    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
    let g = group(&*store, refs[0], &refs[1..], 0).await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (store, gid, sender) = (
                store.clone(),
                g.conversation_id.clone(),
                members[i % 5].clone(),
            );
            tokio::spawn(async move {
                let cmid = (i % 2 == 0).then(|| format!("cm-{i}"));
                send(
                    &*store,
                    &gid,
                    &sender,
                    &format!("#{i}"),
                    cmid.as_deref(),
                    i as i64,
                )
                .await
                .unwrap()
            })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert!(!r.duplicate);
        assert_eq!(r.member_ids.len(), 5);
        got.push(r.message.unwrap().seq);
    }
    got.sort_unstable();
    // Seq 1 is the group's "created" system message.
    assert_eq!(got, (2..=51).collect::<Vec<i64>>());
    let conv = store
        .get_conversation(&g.conversation_id, None)
        .await
        .unwrap();
    assert_eq!(conv.last_seq, 51);
    assert_eq!(conv.last_message.unwrap().seq, 51);
    let all = store
        .sync_messages(SyncMessagesRequest {
            conversation_id: g.conversation_id.clone(),
            after_seq: 0,
            limit: 200,
        })
        .await
        .unwrap();
    assert_eq!(seqs(&all), (1..=51).collect::<Vec<i64>>());
    assert!(!all.has_more);
}

pub async fn a_retry_with_the_same_client_msg_id_is_stored_once_and_consumes_no_seq(
    store: Arc<dyn Store>,
) {
    let (a, b) = (user(&*store, "a").await, user(&*store, "b").await);
    let (conv, _) = direct(&*store, &a, &b).await;
    let cid = conv.conversation_id.as_str();
    let first = send(&*store, cid, &a, "hi", Some("c1"), 1).await.unwrap();
    let stored = first.message.clone().unwrap();
    assert!(!first.duplicate);
    assert_eq!(
        (stored.seq, stored.client_msg_id.as_deref()),
        (1, Some("c1"))
    );
    assert_eq!(stored.metadata_json, r#"{"k":"v"}"#);

    let retry = send(&*store, cid, &a, "hi (again)", Some("c1"), 2)
        .await
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!(
        retry.message, first.message,
        "the stored message, unchanged"
    );
    assert_eq!(sorted(&retry.member_ids), sorted(&[a.clone(), b.clone()]));
    // Another sender's client_msg_id is their own.
    let theirs = send(&*store, cid, &b, "yo", Some("c1"), 3).await.unwrap();
    assert_eq!((theirs.duplicate, theirs.message.unwrap().seq), (false, 2));

    // Concurrent retries of one message: stored once.
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (store, cid, a) = (store.clone(), cid.to_owned(), a.clone());
            tokio::spawn(async move { send(&*store, &cid, &a, "x", Some("c2"), 4).await })
        })
        .collect();
    let mut originals = 0;
    let mut ids = HashSet::new();
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        originals += usize::from(!r.duplicate);
        let m = r.message.unwrap();
        assert_eq!(m.seq, 3);
        ids.insert(m.message_id);
    }
    assert_eq!((originals, ids.len()), (1, 1));
    let next = send(&*store, cid, &a, "after", None, 5).await.unwrap();
    assert_eq!(
        next.message.unwrap().seq,
        4,
        "no seq consumed by the retries"
    );

    let (elsewhere, _) = direct(&*store, &a, &a).await;
    let reused = send(&*store, &elsewhere.conversation_id, &a, "x", Some("c1"), 6).await;
    assert!(
        matches!(reused, Err(StoreError::FailedPrecondition(_))),
        "{reused:?}"
    );
    assert_eq!(store.get_conversation(cid, None).await.unwrap().last_seq, 4);
}

pub async fn an_outsider_cannot_append_and_an_unknown_conversation_is_not_found(
    store: Arc<dyn Store>,
) {
    let (a, b, eve) = (
        user(&*store, "a").await,
        user(&*store, "b").await,
        user(&*store, "eve").await,
    );
    let (conv, _) = direct(&*store, &a, &b).await;
    let outsider = send(&*store, &conv.conversation_id, &eve, "let me in", None, 1).await;
    assert!(
        matches!(outsider, Err(StoreError::NotMember)),
        "{outsider:?}"
    );
    let unknown = send(&*store, &id(), &a, "anyone?", None, 1).await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound("conversation"))),
        "{unknown:?}"
    );
    let conv = store
        .get_conversation(&conv.conversation_id, None)
        .await
        .unwrap();
    assert_eq!(conv.last_seq, 0, "failed appends take no seq");
}

pub async fn history_pages_newest_first_and_sync_pages_oldest_first(store: Arc<dyn Store>) {
    let (a, b) = (user(&*store, "a").await, user(&*store, "b").await);
    let (conv, _) = direct(&*store, &a, &b).await;
    let cid = conv.conversation_id;
    for i in 1..=7 {
        send(&*store, &cid, &a, &format!("m{i}"), None, i)
            .await
            .unwrap();
    }
    let history = |before_seq: i64, limit: i32| {
        let (store, cid) = (store.clone(), cid.clone());
        async move {
            let req = ListMessagesRequest {
                conversation_id: cid,
                before_seq,
                limit,
            };
            store.list_messages(req).await.unwrap()
        }
    };
    let sync = |after_seq: i64, limit: i32| {
        let (store, cid) = (store.clone(), cid.clone());
        async move {
            let req = SyncMessagesRequest {
                conversation_id: cid,
                after_seq,
                limit,
            };
            store.sync_messages(req).await.unwrap()
        }
    };
    let p = history(0, 3).await;
    assert_eq!((seqs(&p), p.has_more), (vec![7, 6, 5], true));
    assert_eq!(p.messages[0].content, "m7");
    let p = history(5, 3).await;
    assert_eq!((seqs(&p), p.has_more), (vec![4, 3, 2], true));
    let p = history(2, 3).await;
    assert_eq!((seqs(&p), p.has_more), (vec![1], false));
    let p = history(4, 3).await;
    assert_eq!(
        (seqs(&p), p.has_more),
        (vec![3, 2, 1], false),
        "exactly a page left"
    );
    let p = history(0, 0).await;
    assert_eq!((seqs(&p).len(), p.has_more), (7, false), "default limit");

    let p = sync(0, 3).await;
    assert_eq!((seqs(&p), p.has_more), (vec![1, 2, 3], true));
    let p = sync(4, 3).await;
    assert_eq!((seqs(&p), p.has_more), (vec![5, 6, 7], false));
    let p = sync(7, 3).await;
    assert_eq!((seqs(&p), p.has_more), (vec![], false));
    let other = store
        .list_messages(ListMessagesRequest {
            conversation_id: id(),
            before_seq: 0,
            limit: 5,
        })
        .await
        .unwrap();
    assert!(other.messages.is_empty() && !other.has_more);
}

pub async fn a_deleted_message_keeps_its_seq_as_a_tombstone_and_deleting_again_changes_nothing(
    store: Arc<dyn Store>,
) {
    let (a, b) = (user(&*store, "a").await, user(&*store, "b").await);
    let (conv, _) = direct(&*store, &a, &b).await;
    let cid = conv.conversation_id.as_str();
    let mut sent = Vec::new();
    for i in 1..=3 {
        let r = send(&*store, cid, &a, &format!("m{i}"), None, i)
            .await
            .unwrap();
        sent.push(r.message.unwrap());
    }
    let target = &sent[1];
    let tombstone = store
        .delete_message(cid, &target.message_id, crate::T0 + 10)
        .await
        .unwrap();
    assert_eq!((tombstone.seq, tombstone.deleted), (2, true));
    assert_eq!(
        (tombstone.content.as_str(), tombstone.metadata_json.as_str()),
        ("", "{}")
    );
    assert_eq!(tombstone.message_id, target.message_id);

    let again = store
        .delete_message(cid, &target.message_id, crate::T0 + 20)
        .await
        .unwrap();
    assert_eq!(again, tombstone, "deleting a tombstone changes nothing");
    assert_eq!(
        store.get_message(cid, &target.message_id).await.unwrap(),
        tombstone
    );

    let all = store
        .sync_messages(SyncMessagesRequest {
            conversation_id: cid.to_owned(),
            after_seq: 0,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(seqs(&all), vec![1, 2, 3], "the tombstone keeps its seq");
    assert_eq!(all.messages[1], tombstone);
    assert_eq!(all.messages[2].content, "m3");

    let last = send(&*store, cid, &a, "m4", None, 30).await.unwrap();
    let last = last.message.unwrap();
    store
        .delete_message(cid, &last.message_id, crate::T0 + 31)
        .await
        .unwrap();
    let conv = store.get_conversation(cid, None).await.unwrap();
    let shown = conv.last_message.unwrap();
    assert_eq!(
        (shown.seq, shown.deleted, shown.content.as_str()),
        (4, true, "")
    );

    for (conversation, message) in [(cid, id()), (&*id(), target.message_id.clone())] {
        let missing = store
            .delete_message(conversation, &message, crate::T0)
            .await;
        assert!(
            matches!(missing, Err(StoreError::NotFound("message"))),
            "{missing:?}"
        );
        let missing = store.get_message(conversation, &message).await;
        assert!(
            matches!(missing, Err(StoreError::NotFound("message"))),
            "{missing:?}"
        );
    }
}

pub async fn get_message_for_names_the_viewer_role_and_who_read_the_message(store: Arc<dyn Store>) {
    let (owner, m1, m2, eve) = (
        user(&*store, "owner").await,
        user(&*store, "m1").await,
        user(&*store, "m2").await,
        user(&*store, "eve").await,
    );
    let g = group(&*store, &owner, &[&m1, &m2], 0).await;
    let gid = g.conversation_id.as_str();
    let base = g.last_seq;
    let first = send(&*store, gid, &m1, "one", None, 1)
        .await
        .unwrap()
        .message
        .unwrap();
    send(&*store, gid, &m1, "two", None, 2).await.unwrap();
    store.set_read_seq(gid, &m2, base + 2).await.unwrap();
    store.set_read_seq(gid, &owner, base + 1).await.unwrap();
    let ask = |viewer: &str, message_id: &str| {
        let req = GetMessageForRequest {
            conversation_id: gid.to_owned(),
            message_id: message_id.to_owned(),
            viewer_id: viewer.to_owned(),
        };
        let store = store.clone();
        async move { store.get_message_for(req).await.unwrap() }
    };
    let found = ask(&owner, &first.message_id).await;
    assert_eq!(found.message.as_ref(), Some(&first));
    assert_eq!(
        (found.conversation_kind.as_str(), found.viewer_role.as_str()),
        ("group", "owner")
    );
    assert_eq!(found.read_by, sorted(&[owner.clone(), m2.clone()]));
    assert_eq!(found.others, 2, "members other than the sender");
    assert_eq!(ask(&m2, &first.message_id).await.viewer_role, "member");
    assert_eq!(
        ask(&eve, &first.message_id).await.viewer_role,
        "",
        "not a member"
    );
    let unknown = ask(&m1, &id()).await;
    assert!(unknown.message.is_none() && unknown.viewer_role == "member");

    let second = store
        .list_messages(ListMessagesRequest {
            conversation_id: gid.to_owned(),
            before_seq: 0,
            limit: 1,
        })
        .await
        .unwrap()
        .messages
        .remove(0);
    assert_eq!(ask(&m1, &second.message_id).await.read_by, vec![m2.clone()]);

    let missing = store
        .get_message_for(GetMessageForRequest {
            conversation_id: id(),
            message_id: first.message_id.clone(),
            viewer_id: owner.clone(),
        })
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound("conversation"))),
        "{missing:?}"
    );
}

pub async fn replay_pages_every_conversation_by_time_and_one_conversation_by_seq(
    store: Arc<dyn Store>,
) {
    let (a, b, c) = (
        user(&*store, "a").await,
        user(&*store, "b").await,
        user(&*store, "c").await,
    );
    let (ab, _) = direct(&*store, &a, &b).await;
    let (ac, _) = direct(&*store, &a, &c).await;
    // Interleaved in time; two share a millisecond, so the id and seq break the tie.
    for (conv, at) in [(&ab, 1), (&ac, 2), (&ab, 3), (&ac, 3), (&ab, 5)] {
        send(
            &*store,
            &conv.conversation_id,
            &a,
            &format!("t{at}"),
            None,
            at,
        )
        .await
        .unwrap();
    }
    let page = |conversation_id: &str, since: i64, after: (i64, String, i64), limit: i32| {
        let req = ReplayMessagesRequest {
            conversation_id: conversation_id.to_owned(),
            since_time: crate::T0 + since,
            after_created_at: after.0,
            after_conversation_id: after.1,
            after_seq: after.2,
            limit,
        };
        let store = store.clone();
        async move { store.replay_messages(req).await.unwrap() }
    };
    let key = |m: &natter_proto::repo::Message| (m.created_at, m.conversation_id.clone(), m.seq);
    // Every conversation from t=2 on, two at a time.
    let mut got = Vec::new();
    let mut after = (crate::T0 + 2, String::new(), 0);
    loop {
        let p = page("", 2, after.clone(), 2).await;
        got.extend(p.messages.iter().map(key));
        match (p.has_more, p.messages.last()) {
            (true, Some(last)) => after = key(last),
            _ => break,
        }
    }
    let mut expected = got.clone();
    expected.sort();
    assert_eq!(got, expected, "(created_at, conversation_id, seq) order");
    let times: Vec<i64> = got.iter().map(|k| k.0 - crate::T0).collect();
    assert_eq!(times, vec![2, 3, 3, 5]);

    // One conversation: by seq, from a seq and a time.
    let one = page(&ab.conversation_id, 0, (0, String::new(), 1), 10).await;
    assert_eq!((seqs(&one), one.has_more), (vec![2, 3], false));
    let one = page(&ab.conversation_id, 2, (0, String::new(), 0), 1).await;
    assert_eq!(
        (seqs(&one), one.has_more),
        (vec![2], true),
        "first at or after t=2"
    );
    let none = page(&ab.conversation_id, 6, (0, String::new(), 0), 1).await;
    assert!(none.messages.is_empty() && !none.has_more);
}

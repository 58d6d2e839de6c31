//! Messages: seq assignment, retries, membership checks, history and sync pages.

use crate::{direct, group, id, send, sorted, user};
use natter_proto::repo::{ListMessagesRequest, ListMessagesResponse, SyncMessagesRequest};
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

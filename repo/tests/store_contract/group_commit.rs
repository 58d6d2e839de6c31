//! Appends stored together (group commit): many at once must each get exactly what a lone
//! append would, whatever else shares their transaction.
//!
//! The scenarios start their appends at once so that they queue behind one another and the
//! store takes them in batches; nothing here depends on how they were batched.

use crate::harness::Fixture;
use crate::{T0, direct, group, id, send, sorted, user};
use natter_proto::repo::{
    AddMembersRequest, AppendMessageRequest, AppendMessageResponse, ListConversationsRequest,
    RemoveMemberRequest, SyncMessagesRequest,
};
use natter_repo::store::{StoreError, prelude::*};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::task::JoinHandle;

type Sent = Result<AppendMessageResponse, StoreError>;

/// Starts one append per (conversation, sender, client_msg_id, at) at once.
fn send_all(
    store: &Arc<dyn Store>,
    appends: Vec<(String, String, Option<String>, i64)>,
) -> Vec<JoinHandle<Sent>> {
    appends
        .into_iter()
        .map(|(conversation, sender, cmid, at)| {
            let store = store.clone();
            tokio::spawn(async move {
                send(&*store, &conversation, &sender, "hi", cmid.as_deref(), at).await
            })
        })
        .collect()
}

async fn all_seqs(store: &dyn Store, conversation_id: &str) -> Vec<i64> {
    let mut seqs = Vec::new();
    loop {
        let page = store
            .sync_messages(SyncMessagesRequest {
                conversation_id: conversation_id.to_owned(),
                after_seq: seqs.last().copied().unwrap_or(0),
                limit: 200,
            })
            .await
            .unwrap();
        seqs.extend(page.messages.iter().map(|m| m.seq));
        if !page.has_more {
            return seqs;
        }
    }
}

pub async fn many_concurrent_appends_to_one_conversation_take_seqs_1_to_n_once_each(
    store: Arc<dyn Store>,
) {
    let (a, b) = (user(&*store, "a").await, user(&*store, "b").await);
    let (conv, _) = direct(&*store, &a, &b).await;
    let cid = conv.conversation_id;
    store.set_hidden(&cid, &b).await.unwrap();
    // Clocks disagree: the later appends carry earlier times.
    let appends = (0..300)
        .map(|i: i64| {
            let sender = if i % 2 == 0 { &a } else { &b };
            let cmid = (i % 3 == 0).then(|| format!("k{i}"));
            (cid.clone(), sender.clone(), cmid, 1_000 - i)
        })
        .collect();
    let mut seqs = Vec::new();
    let mut ids = HashSet::new();
    for call in send_all(&store, appends) {
        let r = call.await.unwrap().unwrap();
        assert!(!r.duplicate);
        let mut members = r.member_ids.clone();
        members.sort();
        let mut expected = vec![a.clone(), b.clone()];
        expected.sort();
        assert_eq!(members, expected);
        let m = r.message.unwrap();
        seqs.push(m.seq);
        ids.insert(m.message_id);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=300).collect::<Vec<i64>>());
    assert_eq!(ids.len(), 300);
    assert_eq!(
        all_seqs(&*store, &cid).await,
        (1..=300).collect::<Vec<i64>>()
    );
    let after = store.get_conversation(&cid, None).await.unwrap();
    assert_eq!(after.last_seq, 300);
    assert_eq!(
        after.updated_at,
        T0 + 1_000,
        "updated_at never moved backward"
    );
    let listed = store
        .list_conversations(ListConversationsRequest {
            user_id: b.clone(),
            limit: 10,
            cursor: None,
            groups_only: false,
        })
        .await
        .unwrap();
    assert_eq!(
        listed.conversations.len(),
        1,
        "unhidden by the new messages"
    );
}

pub async fn concurrent_copies_of_one_client_msg_id_store_one_message_and_take_one_seq(
    store: Arc<dyn Store>,
) {
    let (a, b) = (user(&*store, "a").await, user(&*store, "b").await);
    let (conv, _) = direct(&*store, &a, &b).await;
    let cid = conv.conversation_id;
    // 40 copies of one message among 40 other messages, all at once.
    let appends = (0..80)
        .map(|i| {
            let cmid = if i % 2 == 0 {
                Some("same".to_owned())
            } else {
                Some(format!("other-{i}"))
            };
            (cid.clone(), a.clone(), cmid, i)
        })
        .collect();
    let mut copies = Vec::new();
    let mut others = Vec::new();
    for call in send_all(&store, appends) {
        let r = call.await.unwrap().unwrap();
        let m = r.message.clone().unwrap();
        if m.client_msg_id.as_deref() == Some("same") {
            copies.push((r.duplicate, m.seq, m.message_id));
        } else {
            assert!(!r.duplicate);
            others.push(m.seq);
        }
    }
    assert_eq!(copies.len(), 40);
    assert_eq!(copies.iter().filter(|(dup, _, _)| !dup).count(), 1);
    let first = &copies[0];
    assert!(
        copies
            .iter()
            .all(|(_, seq, mid)| (seq, mid) == (&first.1, &first.2)),
        "every copy answers with the one stored message"
    );
    others.push(first.1);
    others.sort_unstable();
    assert_eq!(
        others,
        (1..=41).collect::<Vec<i64>>(),
        "no seq consumed by copies"
    );
    assert_eq!(
        all_seqs(&*store, &cid).await,
        (1..=41).collect::<Vec<i64>>()
    );
    let retry = send(&*store, &cid, &a, "again", Some("same"), 99)
        .await
        .unwrap();
    assert_eq!(
        (retry.duplicate, retry.message.unwrap().seq),
        (true, first.1)
    );
}

pub async fn refused_appends_among_concurrent_ones_leave_the_others_stored(store: Arc<dyn Store>) {
    let (a, b, eve) = (
        user(&*store, "a").await,
        user(&*store, "b").await,
        user(&*store, "eve").await,
    );
    let g = group(&*store, &a, &[&b], 0).await;
    let gid = g.conversation_id;
    let (other, _) = direct(&*store, &a, &b).await;
    send(&*store, &other.conversation_id, &a, "x", Some("taken"), 1)
        .await
        .unwrap();
    let missing = id();
    let mut appends = Vec::new();
    for i in 0..20 {
        appends.push((gid.clone(), a.clone(), None, i));
        appends.push((gid.clone(), eve.clone(), None, i));
        appends.push((missing.clone(), a.clone(), None, i));
        appends.push((gid.clone(), b.clone(), Some(format!("b{i}")), i));
    }
    appends.push((gid.clone(), a.clone(), Some("taken".to_owned()), 50));
    let calls = send_all(&store, appends.clone());
    let mut stored = Vec::new();
    for ((conversation, sender, cmid, _), call) in appends.iter().zip(calls) {
        let r = call.await.unwrap();
        if *sender == eve {
            assert!(matches!(r, Err(StoreError::NotMember)), "{r:?}");
        } else if *conversation == missing {
            assert!(
                matches!(r, Err(StoreError::NotFound("conversation"))),
                "{r:?}"
            );
        } else if cmid.as_deref() == Some("taken") {
            assert!(matches!(r, Err(StoreError::FailedPrecondition(_))), "{r:?}");
        } else {
            let r = r.unwrap();
            assert!(!r.duplicate);
            assert_eq!(r.member_ids.len(), 2);
            stored.push(r.message.unwrap().seq);
        }
    }
    stored.sort_unstable();
    // Seq 1 is the group's "created" system message.
    assert_eq!(stored, (2..=41).collect::<Vec<i64>>());
    assert_eq!(
        all_seqs(&*store, &gid).await,
        (1..=41).collect::<Vec<i64>>()
    );
    assert_eq!(
        store.get_conversation(&gid, None).await.unwrap().last_seq,
        41
    );
}

/// Members join and one leaves while a flood of appends goes in: every stored message's
/// member ids are the group's members at its seq (a join before it is in, a leave before it
/// is out), and the leaver's messages all land before the leave.
pub async fn members_changing_among_concurrent_appends_each_message_goes_to_the_members_at_its_seq(
    store: Arc<dyn Store>,
) {
    let owner = user(&*store, "owner").await;
    let stayer = user(&*store, "stayer").await;
    let leaver = user(&*store, "leaver").await;
    let mut joiners = Vec::new();
    for i in 0..6 {
        joiners.push(user(&*store, &format!("joiner{i}")).await);
    }
    let gid = group(&*store, &owner, &[&stayer, &leaver], 0)
        .await
        .conversation_id;
    let senders = [&owner, &stayer, &leaver];
    let appends = (0..1_500)
        .map(|i: i64| (gid.clone(), senders[i as usize % 3].clone(), None, i))
        .collect();
    let calls = send_all(&store, appends);
    // Each change's seq: who, and whether they joined (or left).
    let mut changes: Vec<(i64, String, bool)> = Vec::new();
    for (k, joiner) in joiners.iter().enumerate() {
        let added = store
            .add_members(AddMembersRequest {
                conversation_id: gid.clone(),
                user_ids: vec![joiner.clone()],
                now: T0 + 10,
                by: owner.clone(),
            })
            .await
            .unwrap();
        changes.push((added.system_messages[0].seq, joiner.clone(), true));
        if k == 2 {
            let left = store
                .remove_member(RemoveMemberRequest {
                    conversation_id: gid.clone(),
                    user_id: leaver.clone(),
                    by: leaver.clone(),
                    now: T0 + 10,
                })
                .await
                .unwrap();
            changes.push((left.system_messages[0].seq, leaver.clone(), false));
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let left_at = changes.iter().find(|c| !c.2).unwrap().0;
    let mut seqs: Vec<i64> = changes.iter().map(|c| c.0).collect();
    for (i, call) in calls.into_iter().enumerate() {
        let r = call.await.unwrap();
        let sender = senders[i % 3];
        let r = match r {
            Err(StoreError::NotMember) if *sender == leaver => continue,
            other => other.unwrap(),
        };
        let seq = r.message.unwrap().seq;
        seqs.push(seq);
        if *sender == leaver {
            assert!(
                seq < left_at,
                "the leaver's message {seq} landed after the leave ({left_at})"
            );
        }
        let mut expected = vec![owner.clone(), stayer.clone()];
        if seq < left_at {
            expected.push(leaver.clone());
        }
        expected.extend(
            (changes.iter())
                .filter(|(at, _, joined)| *joined && *at < seq)
                .map(|(_, who, _)| who.clone()),
        );
        assert_eq!(
            sorted(&r.member_ids),
            sorted(&expected),
            "the members of message {seq}"
        );
    }
    seqs.sort_unstable();
    // Seq 1 is the group's "created" system message.
    let last = seqs.len() as i64 + 1;
    assert_eq!(seqs, (2..=last).collect::<Vec<i64>>());
    assert_eq!(
        all_seqs(&*store, &gid).await,
        (1..=last).collect::<Vec<i64>>()
    );
}

pub async fn closing_the_store_stores_the_appends_already_queued(fixture: Arc<Fixture>) {
    let opened = fixture.open().await;
    let store = opened.store.clone();
    let (a, b) = (user(&*store, "a").await, user(&*store, "b").await);
    let (conv, _) = direct(&*store, &a, &b).await;
    let cid = conv.conversation_id;
    let appends = (0..200)
        .map(|i| (cid.clone(), a.clone(), Some(format!("c{i}")), i))
        .collect();
    let mut calls = send_all(&store, appends);
    drop(store);
    // Close once the writer is busy with them: the first answered, most still queued.
    let first = (&mut calls[0]).await.unwrap();
    opened.close().await;
    let mut answers = vec![first];
    for call in calls.into_iter().skip(1) {
        answers.push(call.await.unwrap());
    }
    let mut stored: i64 = 0;
    for answer in answers {
        match answer {
            Ok(r) => {
                assert!(!r.duplicate);
                stored += 1;
            }
            Err(StoreError::Closed) => {}
            Err(other) => panic!("an append failed on close: {other:?}"),
        }
    }
    assert!(stored > 0);
    let reopened = fixture.open().await;
    let seqs = all_seqs(&*reopened.store, &cid).await;
    assert_eq!(
        seqs,
        (1..=stored).collect::<Vec<i64>>(),
        "every answered append is stored"
    );
    reopened.close().await;
}

pub async fn a_message_id_sent_twice_at_once_is_stored_once_and_the_others_still_are(
    store: Arc<dyn Store>,
) {
    let (a, b) = (user(&*store, "a").await, user(&*store, "b").await);
    let (conv, _) = direct(&*store, &a, &b).await;
    let cid = conv.conversation_id;
    // The repeated id fails the batch's insert: its messages are then stored one by one.
    let twice = id();
    let calls: Vec<_> = (0..60)
        .map(|i| {
            let store = store.clone();
            let message_id = if i % 30 == 7 { twice.clone() } else { id() };
            let req = AppendMessageRequest {
                message_id,
                conversation_id: cid.clone(),
                sender_id: a.clone(),
                kind: "text".into(),
                content: format!("#{i}"),
                metadata_json: String::new(),
                client_msg_id: None,
                created_at: T0 + i,
                direct_requires_friendship: false,
            };
            tokio::spawn(async move { store.append_message(req).await })
        })
        .collect();
    let (mut seqs, mut refused) = (Vec::new(), 0);
    for call in calls {
        match call.await.unwrap() {
            Ok(r) => seqs.push(r.message.unwrap().seq),
            Err(StoreError::AlreadyExists("message")) => refused += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    seqs.sort_unstable();
    assert_eq!(refused, 1);
    assert_eq!(seqs, (1..=59).collect::<Vec<i64>>());
    assert_eq!(
        all_seqs(&*store, &cid).await,
        (1..=59).collect::<Vec<i64>>()
    );
}

/// The batch's reads take its ids as data (arrays, JSON on SQLite), never as SQL text: a
/// client_msg_id with quotes, backslashes, non-ASCII or control characters is found again
/// exactly, and its retry answers as a duplicate of the one stored message.
pub async fn retries_of_odd_client_msg_ids_in_a_batch_find_the_stored_messages(
    store: Arc<dyn Store>,
) {
    let (a, b) = (user(&*store, "a").await, user(&*store, "b").await);
    let (conv, _) = direct(&*store, &a, &b).await;
    let cid = conv.conversation_id;
    let odd = [
        "it's",
        "\"quoted\"",
        "back\\slash",
        "[\"not\", \"an array\"]",
        "ünïcødé 🎉",
        "tab\tand\u{1}ctrl",
        "') OR 1=1 --",
    ];
    let first = odd
        .iter()
        .enumerate()
        .map(|(i, k)| (cid.clone(), a.clone(), Some((*k).to_owned()), i as i64))
        .collect();
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    let fan_out = |r: &AppendMessageResponse| {
        let mut ids = r.member_ids.clone();
        ids.sort();
        ids
    };
    let mut stored = Vec::new();
    for call in send_all(&store, first) {
        let r = call.await.unwrap().unwrap();
        assert!(!r.duplicate);
        assert_eq!(fan_out(&r), both, "new messages fan out to both members");
        let m = r.message.unwrap();
        stored.push((m.client_msg_id.unwrap(), m.seq));
    }
    let retries = odd
        .iter()
        .enumerate()
        .map(|(i, k)| {
            (
                cid.clone(),
                a.clone(),
                Some((*k).to_owned()),
                100 + i as i64,
            )
        })
        .collect();
    for (call, (key, seq)) in send_all(&store, retries).into_iter().zip(&stored) {
        let r = call.await.unwrap().unwrap();
        assert_eq!(fan_out(&r), both, "a retry answers with the members too");
        let m = r.message.unwrap();
        assert!(r.duplicate, "{key:?} was stored again");
        assert_eq!((&m.client_msg_id.unwrap(), m.seq), (key, *seq));
    }
    assert_eq!(
        all_seqs(&*store, &cid).await,
        (1..=odd.len() as i64).collect::<Vec<i64>>()
    );
}

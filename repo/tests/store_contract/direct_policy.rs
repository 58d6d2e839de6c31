//! Direct chats and the append: a block either way refuses a message, and so does a missing
//! friendship when the request asks for it, the same whether the append is stored alone, in a
//! group commit, or one by one after its batch failed. A retry of a message stored before the
//! block still answers with that message.

use crate::friends::befriend;
use crate::{T0, direct, group, id, user};
use natter_proto::repo::{AppendMessageRequest, AppendMessageResponse};
use natter_repo::store::{StoreError, prelude::*};
use std::sync::Arc;

/// What an append should get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Stored,
    /// The message stored before the block (seq 1), as a duplicate.
    Retry,
    Blocked,
    NotFriends,
    /// The second append of one message id.
    IdTaken,
}

fn outcome(r: &Result<AppendMessageResponse, StoreError>) -> Expect {
    match r {
        Ok(r) if r.duplicate && r.message.as_ref().is_some_and(|m| m.seq == 1) => Expect::Retry,
        Ok(r) if !r.duplicate => Expect::Stored,
        Err(StoreError::FailedPrecondition(m)) if m == "blocked" => Expect::Blocked,
        Err(StoreError::FailedPrecondition(m)) if m == "not friends" => Expect::NotFriends,
        Err(StoreError::AlreadyExists("message")) => Expect::IdTaken,
        other => panic!("unexpected answer: {other:?}"),
    }
}

/// An append into `conversation_id`; `strict` asks for friendship in a direct chat.
fn append(
    conversation_id: &str,
    sender: &str,
    strict: bool,
    cmid: Option<&str>,
) -> AppendMessageRequest {
    AppendMessageRequest {
        message_id: id(),
        conversation_id: conversation_id.to_owned(),
        sender_id: sender.to_owned(),
        kind: "text".into(),
        content: "hi".into(),
        metadata_json: String::new(),
        client_msg_id: cmid.map(str::to_owned),
        created_at: T0 + 10,
        direct_requires_friendship: strict,
    }
}

async fn last_seq(store: &dyn Store, conversation_id: &str) -> i64 {
    store
        .get_conversation(conversation_id, None)
        .await
        .unwrap()
        .last_seq
}

pub async fn direct_chats_refuse_across_a_block_and_between_non_friends_when_asked(
    store: Arc<dyn Store>,
) {
    let mut users = Vec::new();
    for name in ["a", "b", "c", "d", "e", "f", "g"] {
        users.push(user(&*store, name).await);
    }
    let [a, b, c, d, e, f, g] = users.try_into().unwrap();
    befriend(&*store, &a, &b).await;
    let ab = direct(&*store, &a, &b).await.0.conversation_id;
    let cd = direct(&*store, &c, &d).await.0.conversation_id;
    let ef = direct(&*store, &e, &f).await.0.conversation_id;
    let alone = direct(&*store, &g, &g).await.0.conversation_id;
    let ef_group = group(&*store, &e, &[&f], 0).await.conversation_id;
    let early = store
        .append_message(append(&ef, &e, false, Some("early")))
        .await;
    assert_eq!(outcome(&early), Expect::Stored);
    befriend(&*store, &e, &f).await;
    store.block(&f, &e).await.unwrap();

    let cases = vec![
        (append(&ab, &a, true, None), Expect::Stored),
        (append(&ab, &b, false, None), Expect::Stored),
        (append(&cd, &c, false, None), Expect::Stored),
        (append(&cd, &d, true, None), Expect::NotFriends),
        (append(&ef, &e, false, None), Expect::Blocked),
        (append(&ef, &f, true, None), Expect::Blocked),
        (append(&ef, &e, true, Some("early")), Expect::Retry),
        (append(&alone, &g, true, None), Expect::Stored),
        (append(&ef_group, &e, true, None), Expect::Stored),
        (append(&ef_group, &f, true, None), Expect::Stored),
    ];
    let fresh = |cases: &[(AppendMessageRequest, Expect)]| -> Vec<(AppendMessageRequest, Expect)> {
        cases
            .iter()
            .map(|(req, expect)| {
                let req = AppendMessageRequest {
                    message_id: id(),
                    ..req.clone()
                };
                (req, *expect)
            })
            .collect()
    };

    // Alone: one at a time.
    for (req, expect) in fresh(&cases) {
        let r = store.append_message(req.clone()).await;
        assert_eq!(outcome(&r), expect, "{req:?}: {r:?}");
    }
    // In group commits: ten copies of every case at once. Then again with one message id
    // sent twice, which fails a batch's insert: its messages are then stored one by one.
    let twice = append(&ab, &a, false, None);
    for round in 0..2 {
        let mut batch: Vec<_> = (0..10).flat_map(|_| fresh(&cases)).collect();
        if round == 1 {
            batch.insert(7, (twice.clone(), Expect::Stored));
            batch.insert(40, (twice.clone(), Expect::Stored));
        }
        let calls: Vec<_> = batch
            .iter()
            .map(|(req, _)| {
                let (store, req) = (store.clone(), req.clone());
                tokio::spawn(async move { store.append_message(req).await })
            })
            .collect();
        let mut copies = Vec::new();
        for ((req, expect), call) in batch.iter().zip(calls) {
            let r = call.await.unwrap();
            if req.message_id == twice.message_id {
                copies.push(outcome(&r));
            } else {
                assert_eq!(outcome(&r), *expect, "{req:?}: {r:?}");
            }
        }
        copies.sort_by_key(|o| *o == Expect::IdTaken);
        assert_eq!(copies, [Expect::Stored, Expect::IdTaken][..2 * round]);
    }

    // Refused appends take no seq. Each case went in 21 times (1 alone, 10 + 10 at once).
    assert_eq!(
        last_seq(&*store, &ab).await,
        2 * 21 + 1,
        "and the repeated id once"
    );
    assert_eq!(last_seq(&*store, &cd).await, 21);
    assert_eq!(
        last_seq(&*store, &ef).await,
        1,
        "only the message before the block"
    );
    assert_eq!(last_seq(&*store, &alone).await, 21);
    // Seq 1 is the group's "created" system message; groups ignore blocks and friendship.
    assert_eq!(last_seq(&*store, &ef_group).await, 1 + 2 * 21);
}

//! What a group commit does with each message of a batch, decided in memory.
//!
//! The batch's transaction first reads everything the per-message rules depend on (the
//! client_msg_ids already stored, which conversations exist, which senders are members, and in
//! direct conversations how the two members stand: blocks and friendship); a
//! [`Plan`] then walks the messages in arrival order and applies exactly the rules a lone
//! `append_message` applies, so each caller gets the answer it would have got had the messages
//! been stored one after another in that order. Nothing in here touches the database, so a
//! refused message never aborts the transaction the others commit in.

use crate::store::StoreError;
use natter_proto::repo::{AppendMessageRequest, AppendMessageResponse, Message};
use std::collections::{BTreeMap, HashMap};

/// What the transaction read before planning.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    /// Messages stored before this batch, found by (sender_id, client_msg_id).
    pub(crate) stored: Vec<Message>,
    /// The batch's conversations that exist, by id.
    pub(crate) conversations: HashMap<String, Conversation>,
}

/// One conversation of the batch, as the membership read found it.
#[derive(Debug, Default)]
pub(crate) struct Conversation {
    /// The batch's senders that are members.
    pub(crate) members: HashMap<String, Standing>,
    /// A member has hidden it: a new message brings it back (else the unhide `UPDATE`,
    /// a statement per batch, is skipped).
    pub(crate) hidden: bool,
}

/// How a member stands toward the other member of a direct conversation (`Default` in a
/// group, and in a direct chat with oneself).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Standing {
    /// The other member of the direct conversation, if it has one.
    pub(crate) other: Option<String>,
    /// Either of the two blocked the other.
    pub(crate) blocked: bool,
    pub(crate) friends: bool,
}

/// One row of the membership read: a conversation of the batch that exists, and one of the
/// batch's senders in it (`None` if none is), with the member's [`Standing`] in a direct
/// conversation: the other member, a block either way, friendship; and whether a member has
/// hidden the conversation.
pub(crate) type MemberRow = (String, Option<String>, Option<String>, bool, bool, bool);

impl Facts {
    /// Facts from the membership read's rows (`stored` left empty).
    pub(crate) fn from_members(rows: Vec<MemberRow>) -> Self {
        let mut conversations: HashMap<String, Conversation> = HashMap::new();
        for (id, member, other, blocked, friends, hidden) in rows {
            let conversation = conversations.entry(id).or_default();
            conversation.hidden |= hidden;
            if let Some(member) = member {
                let standing = Standing {
                    other,
                    blocked,
                    friends,
                };
                conversation.members.insert(member, standing);
            }
        }
        Self {
            stored: Vec::new(),
            conversations,
        }
    }

    /// A member has hidden this conversation (false for one not found).
    pub(crate) fn hidden(&self, conversation_id: &str) -> bool {
        self.conversations
            .get(conversation_id)
            .is_some_and(|c| c.hidden)
    }

    /// Why `req` may not go into its conversation, if it may not: an unknown conversation is
    /// `NotFound`, a sender outside it `NotMember`; in a direct conversation with another
    /// member, a block either way is `FailedPrecondition("blocked")` and, when the request
    /// asks for friendship, not being friends `FailedPrecondition("not friends")`.
    pub(crate) fn refusal(&self, req: &AppendMessageRequest) -> Option<StoreError> {
        let Some(conversation) = self.conversations.get(&req.conversation_id) else {
            return Some(StoreError::NotFound("conversation"));
        };
        let Some(me) = conversation.members.get(&req.sender_id) else {
            return Some(StoreError::NotMember);
        };
        // Not in a group, nor in a direct chat with oneself: nobody to be blocked by there.
        let with_another = me.other.is_some();
        if with_another && me.blocked {
            return Some(StoreError::FailedPrecondition(BLOCKED.into()));
        }
        if with_another && req.direct_requires_friendship && !me.friends {
            return Some(StoreError::FailedPrecondition(NOT_FRIENDS.into()));
        }
        None
    }
}

/// The refusal of a message across a block in a direct conversation.
pub(crate) const BLOCKED: &str = "blocked";
/// The refusal of a message between non-friends when friendship is required.
pub(crate) const NOT_FRIENDS: &str = "not friends";

/// The fate of one message of the batch.
#[derive(Debug)]
enum Outcome {
    /// Stored before this batch under its client_msg_id: answered as a duplicate.
    Stored(Message),
    /// A second copy of the batch's message at this index (same sender and client_msg_id).
    CopyOf(usize),
    /// Refused with this error; the rest of the batch goes on.
    Refused(StoreError),
    /// Inserted as the `ordinal`-th (from 0) new message of its conversation in this batch.
    New { ordinal: i64 },
}

/// How much one conversation's `last_seq` moves, and the newest `created_at` among its new
/// messages (`updated_at` moves to it unless already later).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bump {
    pub(crate) count: i64,
    pub(crate) latest: i64,
}

/// The batch's outcomes and the per-conversation seq bumps they need.
#[derive(Debug)]
pub(crate) struct Plan {
    outcomes: Vec<Outcome>,
    /// Sorted by conversation id: the bump takes the row locks in this order on PostgreSQL,
    /// the same order in every batch.
    bumps: BTreeMap<String, Bump>,
    /// The bumped conversations a member has hidden, in id order.
    unhide: Vec<String>,
}

/// The client_msg_id of a request, if it has a usable one (empty means none).
pub(crate) fn client_msg_id(req: &AppendMessageRequest) -> Option<&str> {
    req.client_msg_id.as_deref().filter(|c| !c.is_empty())
}

/// The metadata stored for a request: `{}` when it has none.
pub(crate) fn metadata(req: &AppendMessageRequest) -> &str {
    if req.metadata_json.is_empty() {
        "{}"
    } else {
        &req.metadata_json
    }
}

impl Plan {
    /// Applies the rules of `append_message` to each message in order: a stored
    /// client_msg_id answers as a duplicate (or `FailedPrecondition` if it was used in another
    /// conversation), then [`Facts::refusal`] (unknown conversation, sender outside it, a block
    /// or a missing friendship in a direct chat); anything else is new.
    pub(crate) fn new(batch: &[AppendMessageRequest], mut facts: Facts) -> Self {
        let stored: HashMap<(String, String), Message> = std::mem::take(&mut facts.stored)
            .into_iter()
            .filter_map(|m| Some(((m.sender_id.clone(), m.client_msg_id.clone()?), m)))
            .collect();
        let mut accepted: HashMap<(&str, &str), usize> = HashMap::new();
        let mut bumps: BTreeMap<String, Bump> = BTreeMap::new();
        let mut outcomes = Vec::with_capacity(batch.len());
        for (i, req) in batch.iter().enumerate() {
            let key = client_msg_id(req).map(|c| (req.sender_id.as_str(), c));
            let conversation = req.conversation_id.as_str();
            let outcome = if let Some(message) =
                key.and_then(|(s, c)| stored.get(&(s.to_owned(), c.to_owned())))
            {
                if message.conversation_id == conversation {
                    Outcome::Stored(message.clone())
                } else {
                    Outcome::Refused(used_elsewhere())
                }
            } else if let Some(&first) = key.and_then(|k| accepted.get(&k)) {
                if batch[first].conversation_id == conversation {
                    Outcome::CopyOf(first)
                } else {
                    Outcome::Refused(used_elsewhere())
                }
            } else if let Some(refused) = facts.refusal(req) {
                Outcome::Refused(refused)
            } else {
                if let Some(key) = key {
                    accepted.insert(key, i);
                }
                let bump = bumps.entry(conversation.to_owned()).or_insert(Bump {
                    count: 0,
                    latest: req.created_at,
                });
                bump.count += 1;
                bump.latest = bump.latest.max(req.created_at);
                Outcome::New {
                    ordinal: bump.count - 1,
                }
            };
            outcomes.push(outcome);
        }
        let unhide = bumps
            .keys()
            .filter(|id| facts.hidden(id))
            .cloned()
            .collect();
        Self {
            outcomes,
            bumps,
            unhide,
        }
    }

    /// The conversations getting new messages that a member has hidden, in id order: the
    /// new messages bring them back.
    pub(crate) fn unhides(&self) -> Vec<&str> {
        self.unhide.iter().map(String::as_str).collect()
    }

    /// Each conversation that gets new messages, in id order, with its bump.
    pub(crate) fn bumps(&self) -> impl Iterator<Item = (&str, Bump)> {
        self.bumps.iter().map(|(id, bump)| (id.as_str(), *bump))
    }

    /// How many messages the batch inserts.
    pub(crate) fn new_count(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::New { .. }))
            .count()
    }

    /// Conversations whose member ids the answers need (those of stored and new messages)
    /// and `read` does not hold yet: after the bump, the ones answered only with duplicates.
    pub(crate) fn unread_conversations<'a>(
        &'a self,
        batch: &'a [AppendMessageRequest],
        read: &HashMap<String, Vec<String>>,
    ) -> Vec<&'a str> {
        let mut ids: Vec<&str> = batch
            .iter()
            .zip(&self.outcomes)
            .filter(|(_, o)| !matches!(o, Outcome::Refused(_)))
            .map(|(req, _)| req.conversation_id.as_str())
            .filter(|id| !read.contains_key(*id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The requests to insert, in batch order, each with its seq relative to its
    /// conversation's `last_seq` after the bump: a conversation's new messages take the
    /// `count` seqs ending there, in batch order, so the shifts run from `1 - count` to 0.
    pub(crate) fn new_requests<'a>(
        &self,
        batch: &'a [AppendMessageRequest],
    ) -> Vec<(&'a AppendMessageRequest, i64)> {
        batch
            .iter()
            .zip(&self.outcomes)
            .filter_map(|(req, outcome)| match outcome {
                Outcome::New { ordinal } => {
                    let count = self.bumps.get(&req.conversation_id)?.count;
                    Some((req, ordinal + 1 - count))
                }
                _ => None,
            })
            .collect()
    }

    /// The messages to insert with their seqs, given each bumped conversation's `last_seq`
    /// after the bump (see [`Plan::new_requests`]). `None` if a bumped conversation is
    /// missing from `last_seqs`.
    pub(crate) fn new_messages(
        &self,
        batch: &[AppendMessageRequest],
        last_seqs: &HashMap<String, i64>,
    ) -> Option<Vec<Message>> {
        (self.new_requests(batch).into_iter())
            .map(|(req, shift)| Some(message(req, last_seqs.get(&req.conversation_id)? + shift)))
            .collect()
    }

    /// One answer per message, in batch order. `inserted` is [`Plan::new_messages`]' result
    /// (in its order), `member_ids` every answered conversation's members.
    pub(crate) fn answers(
        self,
        inserted: Vec<Message>,
        member_ids: &HashMap<String, Vec<String>>,
    ) -> Vec<Result<AppendMessageResponse, StoreError>> {
        let mut inserted = inserted.into_iter();
        let mut answers: Vec<Result<AppendMessageResponse, StoreError>> =
            Vec::with_capacity(self.outcomes.len());
        for outcome in self.outcomes {
            let answer = match outcome {
                Outcome::Refused(err) => Err(err),
                Outcome::Stored(message) => Ok(answer(message, true, member_ids)),
                Outcome::New { .. } => match inserted.next() {
                    Some(message) => Ok(answer(message, false, member_ids)),
                    None => Err(StoreError::NotFound("message")),
                },
                Outcome::CopyOf(first) => match &answers[first] {
                    Ok(original) => Ok(AppendMessageResponse {
                        duplicate: true,
                        ..original.clone()
                    }),
                    Err(_) => Err(StoreError::NotFound("message")),
                },
            };
            answers.push(answer);
        }
        answers
    }
}

fn used_elsewhere() -> StoreError {
    StoreError::FailedPrecondition("client_msg_id already used in another conversation".into())
}

/// The message as the database stores it (and `RETURNING` would read it back).
fn message(req: &AppendMessageRequest, seq: i64) -> Message {
    Message {
        message_id: req.message_id.clone(),
        conversation_id: req.conversation_id.clone(),
        seq,
        sender_id: req.sender_id.clone(),
        kind: req.kind.clone(),
        content: req.content.clone(),
        metadata_json: metadata(req).to_owned(),
        client_msg_id: client_msg_id(req).map(str::to_owned),
        created_at: req.created_at,
        deleted: false,
    }
}

fn answer(
    message: Message,
    duplicate: bool,
    member_ids: &HashMap<String, Vec<String>>,
) -> AppendMessageResponse {
    AppendMessageResponse {
        member_ids: member_ids
            .get(&message.conversation_id)
            .cloned()
            .unwrap_or_default(),
        message: Some(message),
        duplicate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(conv: &str, sender: &str, cmid: Option<&str>, at: i64) -> AppendMessageRequest {
        AppendMessageRequest {
            message_id: format!("m-{conv}-{sender}-{at}"),
            conversation_id: conv.into(),
            sender_id: sender.into(),
            kind: "text".into(),
            content: "hi".into(),
            metadata_json: String::new(),
            client_msg_id: cmid.map(str::to_owned),
            created_at: at,
            direct_requires_friendship: false,
        }
    }

    /// Group conversations `convs` with the given member senders.
    fn facts(convs: &[&str], members: &[(&str, &str)]) -> Facts {
        let mut rows: Vec<MemberRow> = convs
            .iter()
            .map(|c| (c.to_string(), None, None, false, false, false))
            .collect();
        rows.extend(members.iter().map(|(c, u)| {
            (
                c.to_string(),
                Some(u.to_string()),
                None,
                false,
                false,
                false,
            )
        }));
        Facts::from_members(rows)
    }

    fn run(
        batch: &[AppendMessageRequest],
        facts: Facts,
        last_seqs: &[(&str, i64)],
    ) -> Vec<Result<AppendMessageResponse, StoreError>> {
        let plan = Plan::new(batch, facts);
        let last: HashMap<String, i64> =
            last_seqs.iter().map(|(c, s)| (c.to_string(), *s)).collect();
        let inserted = plan
            .new_messages(batch, &last)
            .expect("every bump answered");
        let members: HashMap<String, Vec<String>> = plan
            .unread_conversations(batch, &HashMap::new())
            .into_iter()
            .map(|c| (c.to_owned(), vec!["a".to_owned(), "b".to_owned()]))
            .collect();
        plan.answers(inserted, &members)
    }

    fn seq(answer: &Result<AppendMessageResponse, StoreError>) -> (i64, bool) {
        let a = answer.as_ref().expect("stored");
        (a.message.as_ref().unwrap().seq, a.duplicate)
    }

    #[test]
    fn only_hidden_conversations_with_new_messages_are_unhidden() {
        let mut f = facts(
            &["g1", "g2", "g3"],
            &[("g1", "a"), ("g2", "a"), ("g3", "a")],
        );
        for id in ["g1", "g3"] {
            f.conversations.get_mut(id).unwrap().hidden = true;
        }
        // g1 hidden and written to; g2 written to but not hidden; g3 hidden, but its only
        // message is from a non-member and is refused.
        let batch = [
            req("g1", "a", None, 1),
            req("g2", "a", None, 2),
            req("g3", "x", None, 3),
        ];
        assert_eq!(Plan::new(&batch, f).unhides(), ["g1"]);
    }

    #[test]
    fn new_messages_take_consecutive_seqs_per_conversation_in_batch_order() {
        let batch = [
            req("c1", "a", None, 5),
            req("c2", "a", None, 1),
            req("c1", "b", None, 3),
        ];
        let plan = Plan::new(
            &batch,
            facts(&["c1", "c2"], &[("c1", "a"), ("c1", "b"), ("c2", "a")]),
        );
        let bumps: Vec<_> = plan.bumps().collect();
        assert_eq!(
            bumps,
            [
                (
                    "c1",
                    Bump {
                        count: 2,
                        latest: 5
                    }
                ),
                (
                    "c2",
                    Bump {
                        count: 1,
                        latest: 1
                    }
                )
            ]
        );
        // c1 was at 7, so after the bump it is at 9: its two messages take 8 and 9.
        let answers = run(
            &batch,
            facts(&["c1", "c2"], &[("c1", "a"), ("c1", "b"), ("c2", "a")]),
            &[("c1", 9), ("c2", 1)],
        );
        assert_eq!(
            answers.iter().map(seq).collect::<Vec<_>>(),
            [(8, false), (1, false), (9, false)]
        );
        assert_eq!(answers[0].as_ref().unwrap().member_ids, ["a", "b"]);
    }

    #[test]
    fn refused_messages_take_no_seq_and_leave_the_others_alone() {
        let batch = [
            req("gone", "a", None, 1),
            req("c1", "eve", None, 1),
            req("c1", "a", None, 1),
        ];
        let answers = run(&batch, facts(&["c1"], &[("c1", "a")]), &[("c1", 1)]);
        assert!(matches!(
            answers[0],
            Err(StoreError::NotFound("conversation"))
        ));
        assert!(matches!(answers[1], Err(StoreError::NotMember)));
        assert_eq!(seq(&answers[2]), (1, false));
    }

    #[test]
    fn copies_of_one_client_msg_id_store_once_and_answer_as_duplicates() {
        let batch = [
            req("c1", "a", Some("x"), 1),
            req("c1", "a", Some("x"), 2),
            req("c1", "b", Some("x"), 3),
            req("c2", "a", Some("x"), 4),
        ];
        let f = facts(&["c1", "c2"], &[("c1", "a"), ("c1", "b"), ("c2", "a")]);
        let answers = run(&batch, f, &[("c1", 2)]);
        assert_eq!(seq(&answers[0]), (1, false));
        assert_eq!(seq(&answers[1]), (1, true));
        assert_eq!(
            answers[1]
                .as_ref()
                .unwrap()
                .message
                .as_ref()
                .unwrap()
                .message_id,
            batch[0].message_id,
            "the first copy's message"
        );
        assert_eq!(
            seq(&answers[2]),
            (2, false),
            "another sender's id is their own"
        );
        assert!(matches!(answers[3], Err(StoreError::FailedPrecondition(_))));
    }

    #[test]
    fn a_stored_client_msg_id_answers_before_membership_is_checked() {
        let stored = message(&req("c1", "a", Some("x"), 1), 4);
        let batch = [req("c1", "a", Some("x"), 9), req("c2", "a", Some("x"), 9)];
        let mut f = facts(&["c1"], &[]);
        f.stored.push(stored.clone());
        let answers = run(&batch, f, &[]);
        let first = answers[0].as_ref().unwrap();
        assert_eq!(
            (first.message.as_ref(), first.duplicate),
            (Some(&stored), true)
        );
        assert!(matches!(answers[1], Err(StoreError::FailedPrecondition(_))));
    }

    #[test]
    fn direct_chats_refuse_across_a_block_and_between_non_friends_when_asked() {
        // d1: a and b, a block; d2: c and a, friends; d3: a and b, no relation; me: a alone.
        let row = |conv: &str, me: &str, other: Option<&str>, blocked, friends| -> MemberRow {
            let other = other.map(str::to_owned);
            (conv.into(), Some(me.into()), other, blocked, friends, false)
        };
        let rows = vec![
            row("d1", "a", Some("b"), true, false),
            row("d1", "b", Some("a"), true, false),
            row("d2", "c", Some("a"), false, true),
            row("d3", "b", Some("a"), false, false),
            row("me", "a", None, false, false),
        ];
        let strict = |conv: &str, sender: &str| {
            let mut r = req(conv, sender, None, 1);
            r.direct_requires_friendship = true;
            r
        };
        let batch = [
            req("d1", "a", None, 1),
            req("d1", "b", None, 1),
            strict("d2", "c"),
            req("d3", "b", None, 1),
            strict("d3", "b"),
            strict("me", "a"),
        ];
        let answers = run(
            &batch,
            Facts::from_members(rows),
            &[("d2", 1), ("d3", 1), ("me", 1)],
        );
        let refused = |i: usize| match &answers[i] {
            Err(StoreError::FailedPrecondition(m)) => m.clone(),
            other => panic!("{i}: {other:?}"),
        };
        assert_eq!(refused(0), BLOCKED, "the blocker");
        assert_eq!(refused(1), BLOCKED, "the blocked");
        assert_eq!(seq(&answers[2]), (1, false), "friends");
        assert_eq!(seq(&answers[3]), (1, false), "friendship not asked for");
        assert_eq!(refused(4), NOT_FRIENDS);
        assert_eq!(seq(&answers[5]), (1, false), "a chat with oneself");
    }

    #[test]
    fn a_stored_client_msg_id_answers_before_a_block_is_checked() {
        let stored = message(&req("d1", "a", Some("x"), 1), 4);
        let rows: Vec<MemberRow> = vec![(
            "d1".into(),
            Some("a".into()),
            Some("b".into()),
            true,
            false,
            false,
        )];
        let mut f = Facts::from_members(rows);
        f.stored.push(stored.clone());
        let batch = [req("d1", "a", Some("x"), 9), req("d1", "a", Some("y"), 9)];
        let answers = run(&batch, f, &[]);
        assert_eq!(answers[0].as_ref().unwrap().message, Some(stored));
        assert!(
            matches!(&answers[1], Err(StoreError::FailedPrecondition(m)) if m == BLOCKED),
            "{:?}",
            answers[1]
        );
    }

    #[test]
    fn a_copy_after_a_refused_first_is_judged_on_its_own() {
        let batch = [
            req("c1", "eve", Some("x"), 1),
            req("c2", "eve", Some("x"), 1),
        ];
        let answers = run(&batch, facts(&["c1", "c2"], &[("c2", "eve")]), &[("c2", 1)]);
        assert!(matches!(answers[0], Err(StoreError::NotMember)));
        assert_eq!(seq(&answers[1]), (1, false));
    }
}

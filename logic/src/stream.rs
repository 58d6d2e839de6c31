//! `StreamMessages`: stored messages from a point on, then live ones as they are stored, with no
//! gap and no duplicate at the switch-over.
//!
//! **How live messages reach a stream.** After storing a message, the logic instance that stored
//! it also publishes it (an `im.logic.v1.Message`, protobuf-encoded) on the bus under the
//! reserved node id [`STREAM_NODE`]. Every open stream subscribes to that channel, whichever
//! logic instance serves it, so a stream hears about messages stored through any instance.
//!
//! **Switch-over.** A stream subscribes *before* it reads the store. Everything stored after the
//! subscription is therefore heard live, and everything stored before it is in the store when
//! the replay reads it. Live messages that arrive during the replay wait in a bounded buffer.
//! Per conversation the stream remembers the last seq it delivered: a live message at or below it
//! was already replayed (a duplicate) and is dropped; one right after it is delivered; one
//! further ahead means others are still in flight (publishes from concurrent senders, or from
//! several logic instances, can overtake each other), so the missing ones are read from the
//! store first. Each conversation's messages therefore come out in seq order, gapless.
//!
//! **Bounds.** At most [`LIVE_BUFFER`] live messages wait while the stream replays; beyond that,
//! or when the bus reports that it dropped payloads for this subscriber (a consumer too slow to
//! keep up), the stream ends with RESOURCE_EXHAUSTED, and the client resumes from the last seq
//! it received. Shutdown ends open streams with UNAVAILABLE, so they never hold a tier's drain.

use crate::{LogicError, breaker::Breaker, convert};
use bytes::Bytes;
use futures::{FutureExt, Stream};
use natter_proto::{
    Transport,
    logic::Message,
    repo::{ReplayMessagesRequest, SyncMessagesRequest, message_store_client::MessageStoreClient},
};
use natter_realtime::{Bus, Delivery, Subscription};
use prost::Message as _;
use std::{
    collections::{HashMap, VecDeque},
    pin::Pin,
    sync::Arc,
    time::Duration,
};
use tokio_util::sync::CancellationToken;
use tonic::Status;

/// The bus channel every stored message is published on for streams. No comet node may take
/// this node id.
pub const STREAM_NODE: &str = "logic-stream";
/// Live messages held while a stream replays history.
pub const LIVE_BUFFER: usize = 1024;
/// Messages per store read during a replay or a gap fill.
const PAGE: i32 = 100;
/// Conversations whose last seq a stream of every conversation remembers. Past this the memory
/// is reset: duplicates can only come from the replay, long over by then.
const MAX_TRACKED: usize = 100_000;

/// A stream as the gRPC handler returns it (the generated `BoxStream<Message>`).
pub type MessageStream = Pin<Box<dyn Stream<Item = Result<Message, Status>> + Send>>;

/// What a stream covers.
pub enum Scope {
    One(String),
    /// Every conversation (service credential only).
    All,
}

/// Where a stream's replay starts.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    /// Messages with a seq above this one (one conversation only).
    AfterSeq(i64),
    /// Messages created at or after this time.
    SinceTime(i64),
    /// Only messages stored from now on.
    Now,
}

/// Publishes stored messages for streams and opens streams; shared by every handler.
#[derive(Clone)]
pub struct Streams {
    bus: Arc<dyn Bus>,
    /// Shared with the fan-out: one bus, one view of whether it answers.
    breaker: Arc<Breaker>,
    closing: CancellationToken,
}

impl Streams {
    pub fn new(bus: Arc<dyn Bus>, breaker: Arc<Breaker>) -> Self {
        Self {
            bus,
            breaker,
            closing: CancellationToken::new(),
        }
    }

    /// Tells open streams about a newly stored message. Best effort like the fan-out: a stream
    /// that misses it notices the gap at the next message and reads the store.
    pub async fn publish(&self, message: &Message, timeout: Duration) {
        if !self.breaker.allows() {
            return;
        }
        let payload = Bytes::from(message.encode_to_vec());
        match tokio::time::timeout(timeout, self.bus.publish(STREAM_NODE, payload)).await {
            Ok(Ok(())) => return self.breaker.succeeded(),
            Ok(Err(err)) => tracing::warn!(%err, "stream publish failed"),
            Err(_) => tracing::warn!("stream publish timed out"),
        }
        self.breaker.failed();
    }

    /// Ends every open stream (UNAVAILABLE): called at shutdown.
    pub fn close(&self) {
        self.closing.cancel();
    }

    /// Opens a stream. `last_seq` is the conversation's last seq as the caller's check saw it
    /// (for `Scope::One`): where `Start::Now` and an empty `Start::SinceTime` begin.
    pub async fn open(
        &self,
        store: MessageStoreClient<Transport>,
        scope: Scope,
        start: Start,
        last_seq: i64,
    ) -> Result<MessageStream, LogicError> {
        // Subscribe first: see the module docs for why that makes the switch-over exact.
        let sub = self
            .bus
            .subscribe_channel(STREAM_NODE)
            .await
            .map_err(|e| LogicError::Unavailable(e.to_string()))?;
        let mut streamer = Streamer {
            store,
            only: None,
            sub,
            closing: self.closing.clone(),
            replay: Replay::Done,
            ready: VecDeque::new(),
            live: VecDeque::new(),
            last: HashMap::new(),
            done: false,
        };
        match (scope, start) {
            (Scope::One(id), start) => {
                let after = match start {
                    Start::AfterSeq(seq) => seq,
                    Start::Now => last_seq,
                    Start::SinceTime(t) => streamer.first_seq_since(&id, t, last_seq).await?,
                };
                streamer.last.insert(id.clone(), after);
                streamer.replay = Replay::Seq {
                    conversation_id: id.clone(),
                    after,
                };
                streamer.only = Some(id);
            }
            (Scope::All, Start::SinceTime(since)) => {
                streamer.replay = Replay::Time {
                    since,
                    after: (since, String::new(), 0),
                };
            }
            (Scope::All, _) => {}
        }
        Ok(Box::pin(futures::stream::unfold(
            streamer,
            |mut s| async move {
                let item = s.next().await?;
                Some((item, s))
            },
        )))
    }
}

/// What the replay still has to read.
enum Replay {
    /// One conversation, seq after `after`.
    Seq {
        conversation_id: String,
        after: i64,
    },
    /// Every conversation, created at or after `since`, after the (created_at,
    /// conversation_id, seq) position `after`.
    Time {
        since: i64,
        after: (i64, String, i64),
    },
    Done,
}

/// What to do with a live message, given the last seq delivered for its conversation.
#[derive(Debug, PartialEq)]
enum Verdict {
    Deliver,
    Duplicate,
    /// Seqs between the last delivered and this one are missing: read them first.
    Fill,
}

fn verdict(last: Option<i64>, seq: i64) -> Verdict {
    match last {
        None => Verdict::Deliver,
        Some(last) if seq <= last => Verdict::Duplicate,
        Some(last) if seq == last + 1 => Verdict::Deliver,
        Some(_) => Verdict::Fill,
    }
}

fn fell_behind() -> Status {
    Status::resource_exhausted(
        "the stream fell behind the live messages: resume from the last seq you received",
    )
}

struct Streamer {
    store: MessageStoreClient<Transport>,
    /// Set when the stream covers one conversation: live messages of others are skipped.
    only: Option<String>,
    sub: Subscription,
    closing: CancellationToken,
    replay: Replay,
    /// Messages in order, ready to hand out.
    ready: VecDeque<Message>,
    /// Live messages not yet judged (they wait here during the replay).
    live: VecDeque<Message>,
    /// Last seq delivered, per conversation.
    last: HashMap<String, i64>,
    done: bool,
}

impl Streamer {
    /// The next item; after an error, the stream ends.
    async fn next(&mut self) -> Option<Result<Message, Status>> {
        if self.done {
            return None;
        }
        let item = self.step().await;
        self.done = item.is_err();
        Some(item)
    }

    async fn step(&mut self) -> Result<Message, Status> {
        loop {
            if self.closing.is_cancelled() {
                return Err(shutting_down());
            }
            if let Some(m) = self.ready.pop_front() {
                return Ok(m);
            }
            // Live messages keep arriving while the replay reads: move them off the bus.
            while let Some(delivery) = self.sub.recv().now_or_never() {
                self.take(delivery)?;
            }
            if !matches!(self.replay, Replay::Done) {
                self.replay_page().await.map_err(Status::from)?;
                continue;
            }
            if let Some(m) = self.live.pop_front() {
                self.admit(m).await.map_err(Status::from)?;
                continue;
            }
            let delivery = tokio::select! {
                () = self.closing.cancelled() => return Err(shutting_down()),
                delivery = self.sub.recv() => delivery,
            };
            self.take(delivery)?;
        }
    }

    /// Queues one bus delivery as a live message, if it is for this stream.
    fn take(&mut self, delivery: Option<Delivery>) -> Result<(), Status> {
        let payload = match delivery {
            Some(Delivery::Payload(payload)) => payload,
            Some(Delivery::Gap) => return Err(fell_behind()),
            None => return Err(shutting_down()),
        };
        let message = match Message::decode(payload) {
            Ok(m) => m,
            Err(err) => {
                tracing::warn!(%err, "undecodable stream payload skipped");
                return Ok(());
            }
        };
        if self
            .only
            .as_ref()
            .is_some_and(|id| *id != message.conversation_id)
        {
            return Ok(());
        }
        if self.live.len() >= LIVE_BUFFER {
            return Err(fell_behind());
        }
        self.live.push_back(message);
        Ok(())
    }

    /// Reads the next page of the replay into `ready`.
    async fn replay_page(&mut self) -> Result<(), LogicError> {
        let mut store = self.store.clone();
        let page = match &self.replay {
            Replay::Seq {
                conversation_id,
                after,
            } => {
                let req = SyncMessagesRequest {
                    conversation_id: conversation_id.clone(),
                    after_seq: *after,
                    limit: PAGE,
                };
                store.sync_messages(req).await
            }
            Replay::Time { since, after } => {
                let req = ReplayMessagesRequest {
                    conversation_id: String::new(),
                    since_time: *since,
                    after_created_at: after.0,
                    after_conversation_id: after.1.clone(),
                    after_seq: after.2,
                    limit: PAGE,
                };
                store.replay_messages(req).await
            }
            Replay::Done => return Ok(()),
        }
        .map_err(LogicError::upstream)?
        .into_inner();
        let last = page.messages.last().cloned();
        match (&mut self.replay, last) {
            (_, None) => self.replay = Replay::Done,
            (Replay::Seq { after, .. }, Some(m)) => *after = m.seq,
            (Replay::Time { after, .. }, Some(m)) => {
                *after = (m.created_at, m.conversation_id.clone(), m.seq);
            }
            (Replay::Done, _) => {}
        }
        if !page.has_more {
            self.replay = Replay::Done;
        }
        for m in page.messages {
            let m = convert::message(m);
            let last = self.last.get(&m.conversation_id).copied().unwrap_or(0);
            self.remember(&m.conversation_id, last.max(m.seq));
            self.ready.push_back(m);
        }
        Ok(())
    }

    /// Delivers a live message after whatever of its conversation is missing, or drops it.
    async fn admit(&mut self, m: Message) -> Result<(), LogicError> {
        let last = self.last.get(&m.conversation_id).copied();
        match verdict(last, m.seq) {
            Verdict::Duplicate => {}
            Verdict::Deliver => {
                self.remember(&m.conversation_id, m.seq);
                self.ready.push_back(m);
            }
            Verdict::Fill => {
                let mut after = last.unwrap_or_default();
                while after < m.seq {
                    let page = self
                        .store
                        .clone()
                        .sync_messages(SyncMessagesRequest {
                            conversation_id: m.conversation_id.clone(),
                            after_seq: after,
                            limit: PAGE,
                        })
                        .await
                        .map_err(LogicError::upstream)?
                        .into_inner();
                    let Some(newest) = page.messages.last().map(|m| m.seq) else {
                        break;
                    };
                    after = newest;
                    self.ready
                        .extend(page.messages.into_iter().map(convert::message));
                }
                self.remember(&m.conversation_id, after.max(m.seq));
            }
        }
        Ok(())
    }

    fn remember(&mut self, conversation_id: &str, seq: i64) {
        if self.last.len() >= MAX_TRACKED && !self.last.contains_key(conversation_id) {
            self.last.clear();
        }
        self.last.insert(conversation_id.to_owned(), seq);
    }

    /// The seq a since-time replay of one conversation starts after: just before its first
    /// message created at or after `since`, or `last_seq` when there is none yet.
    async fn first_seq_since(
        &self,
        conversation_id: &str,
        since: i64,
        last_seq: i64,
    ) -> Result<i64, LogicError> {
        let page = self
            .store
            .clone()
            .replay_messages(ReplayMessagesRequest {
                conversation_id: conversation_id.to_owned(),
                since_time: since,
                limit: 1,
                ..Default::default()
            })
            .await
            .map_err(LogicError::upstream)?
            .into_inner();
        Ok(page
            .messages
            .first()
            .map_or(last_seq, |m| m.seq.saturating_sub(1)))
    }
}

fn shutting_down() -> Status {
    Status::unavailable("the server is shutting down: resume from the last seq you received")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_message_is_delivered_dropped_or_preceded_by_a_fill() {
        assert_eq!(
            verdict(None, 7),
            Verdict::Deliver,
            "first of its conversation"
        );
        assert_eq!(verdict(Some(4), 5), Verdict::Deliver);
        assert_eq!(verdict(Some(4), 4), Verdict::Duplicate);
        assert_eq!(verdict(Some(4), 2), Verdict::Duplicate);
        assert_eq!(verdict(Some(4), 6), Verdict::Fill);
    }
}

//! Message appends of concurrent sends, sent to the repo tier together.
//!
//! Each send is stored by the repo's group commit, which already stores whatever is waiting
//! in one batch. But each append was a call of its own on the way there: an HTTP/2 stream, a
//! task and a wake-up in logic and again in the repo, per message. Under load those calls,
//! not the statements, were most of what a message cost (BENCHMARKS.md). So appends queue
//! here, and whatever queued while the earlier calls were in flight goes as one
//! `AppendMessages` call; each sender gets its own outcome. A lone send on a quiet server
//! still goes at once, since up to [`IN_FLIGHT`] calls run together. With the repo in the same
//! process each append makes its own call (`LogicConfig::batch_appends`). `AppendMessages` is
//! newer than `AppendMessage`: in a rolling upgrade, upgrade the repo nodes first.

use natter_proto::{
    Transport,
    repo::{
        AppendMessageRequest, AppendMessageResponse, AppendMessagesRequest, AppendOutcome,
        append_outcome::Outcome, message_store_client::MessageStoreClient,
    },
};
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};
use tonic::{Code, Status};

/// Calls at once. Two keep the repo's writer fed: while it stores one call's appends, the
/// next call's are already queued behind them.
const IN_FLIGHT: usize = 2;
/// Appends in one call at most (the repo's limit, one group-commit batch).
const BATCH: usize = 256;
/// Encoded bytes in one call at most, well under the 4 MiB a gRPC message may have by
/// default (one append is at most 64 KiB of content and 8 KiB of metadata).
const MAX_CALL_BYTES: usize = 2 * 1024 * 1024;
/// Appends that may wait; a send finding the queue full calls on its own.
const QUEUE: usize = 4_096;

type Answer = Result<AppendMessageResponse, Status>;

struct Ask {
    append: AppendMessageRequest,
    reply: oneshot::Sender<Answer>,
}

#[derive(Clone)]
pub struct Appends {
    messages: MessageStoreClient<Transport>,
    /// None: every append makes its own call.
    queue: Option<mpsc::Sender<Ask>>,
}

impl Appends {
    /// With `batch`, starts the task that sends the queued appends; it ends when the last
    /// clone is dropped.
    pub fn start(messages: MessageStoreClient<Transport>, batch: bool) -> Self {
        let queue = batch.then(|| {
            let (queue, asks) = mpsc::channel(QUEUE);
            tokio::spawn(run(messages.clone(), asks));
            queue
        });
        Self { messages, queue }
    }

    /// Stores one message: what `AppendMessage` would answer. A send that stops waiting
    /// (its caller went away) is still stored, as with a call of its own.
    pub async fn append(&self, append: AppendMessageRequest) -> Answer {
        let Some(queue) = &self.queue else {
            return self.alone(append).await;
        };
        let (reply, answer) = oneshot::channel();
        match queue.try_send(Ask { append, reply }) {
            Ok(()) => answer
                .await
                .unwrap_or_else(|_| Err(Status::unavailable("append abandoned"))),
            Err(mpsc::error::TrySendError::Full(ask) | mpsc::error::TrySendError::Closed(ask)) => {
                self.alone(ask.append).await
            }
        }
    }

    async fn alone(&self, append: AppendMessageRequest) -> Answer {
        (self.messages.clone().append_message(append).await).map(|r| r.into_inner())
    }
}

async fn run(messages: MessageStoreClient<Transport>, asks: mpsc::Receiver<Ask>) {
    crate::gather::serve(asks, IN_FLIGHT, BATCH, |batch| {
        let calls: Vec<_> = (calls(batch).into_iter())
            .map(|asks| call(messages.clone(), asks))
            .collect();
        async move {
            futures::future::join_all(calls).await;
        }
    })
    .await;
}

/// Splits what was taken into calls of at most [`MAX_CALL_BYTES`], keeping the order.
fn calls(batch: Vec<Ask>) -> Vec<Vec<Ask>> {
    let mut calls = Vec::new();
    let (mut current, mut bytes) = (Vec::new(), 0);
    for ask in batch {
        let size = ask.append.encoded_len();
        if !current.is_empty() && bytes + size > MAX_CALL_BYTES {
            calls.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(ask);
    }
    if !current.is_empty() {
        calls.push(current);
    }
    calls
}

/// One call for `asks`; each gets its own outcome, or the call's failure.
async fn call(mut messages: MessageStoreClient<Transport>, asks: Vec<Ask>) {
    let (appends, replies): (Vec<_>, Vec<_>) =
        asks.into_iter().map(|a| (a.append, a.reply)).unzip();
    let count = appends.len();
    let outcomes = match messages
        .append_messages(AppendMessagesRequest { appends })
        .await
    {
        Ok(response) => response.into_inner().outcomes,
        Err(status) => return fail_all(replies, &status),
    };
    if outcomes.len() != count {
        let status = Status::internal(format!(
            "the repo answered {} of {count} appends",
            outcomes.len()
        ));
        return fail_all(replies, &status);
    }
    for (reply, outcome) in replies.into_iter().zip(outcomes) {
        let _ = reply.send(answer(outcome));
    }
}

fn fail_all(replies: Vec<oneshot::Sender<Answer>>, status: &Status) {
    for reply in replies {
        let _ = reply.send(Err(status.clone()));
    }
}

/// One append's outcome as the answer `AppendMessage` would have given.
fn answer(outcome: AppendOutcome) -> Answer {
    match outcome.outcome {
        Some(Outcome::Stored(stored)) => Ok(stored),
        Some(Outcome::Failed(failed)) => Err(Status::new(Code::from(failed.code), failed.message)),
        None => Err(Status::internal(
            "the repo answered an append with no outcome",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(content_bytes: usize) -> Ask {
        let (reply, _) = oneshot::channel();
        let append = AppendMessageRequest {
            content: "x".repeat(content_bytes),
            ..Default::default()
        };
        Ask { append, reply }
    }

    #[test]
    fn calls_stay_under_the_byte_limit_and_keep_the_order() {
        // 100 appends of 60 KiB: about 6 MiB, so at least three calls.
        let batch: Vec<Ask> = (0..100).map(|i| ask(60 * 1024 + i)).collect();
        let calls = calls(batch);
        assert!(calls.len() >= 3, "{} calls", calls.len());
        let mut sizes = Vec::new();
        for call in &calls {
            let bytes: usize = call.iter().map(|a| a.append.encoded_len()).sum();
            assert!(bytes <= MAX_CALL_BYTES, "a call of {bytes} bytes");
            sizes.extend(call.iter().map(|a| a.append.content.len()));
        }
        let expected: Vec<usize> = (0..100).map(|i| 60 * 1024 + i).collect();
        assert_eq!(sizes, expected, "every append once, in order");
    }

    #[test]
    fn small_appends_share_one_call() {
        let calls = calls((0..BATCH).map(|_| ask(64)).collect());
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].len(), BATCH);
    }

    #[test]
    fn a_failed_outcome_keeps_its_code_and_message() {
        let failed = AppendOutcome {
            outcome: Some(Outcome::Failed(natter_proto::repo::AppendFailure {
                code: Code::FailedPrecondition as i32,
                message: "not a member".into(),
            })),
        };
        let status = answer(failed).unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(status.message(), "not a member");
    }
}

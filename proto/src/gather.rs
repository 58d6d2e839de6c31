//! Concurrent calls of one kind, sent together: what logic's appends to the repo and comet's
//! sends to logic share.
//!
//! Under load each call of its own (an HTTP/2 stream, a task and a wake-up on both sides)
//! cost more than the work it carried (BENCHMARKS.md). So a [`Gathered`] queues its items,
//! and whatever queued while the earlier calls were in flight goes as one call of
//! [`Many::many`]; each caller gets its own answer. Batches grow with the load by themselves,
//! and a lone item on a quiet server still goes at once, since up to [`Many::IN_FLIGHT`] calls
//! run together.

use prost::Message;
use std::{future::Future, sync::Arc};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tonic::Status;

/// A call with a batched form: one item alone, or many with one answer each.
pub trait Many: Clone + Send + Sync + 'static {
    type Item: Message + Send + 'static;
    type Answer: Send + 'static;
    /// Items in one call at most: the server's bound.
    const BATCH: usize;
    /// Calls at once. Two keep the server fed: while it handles one call's items, the next
    /// call's are already on their way.
    const IN_FLIGHT: usize = 2;
    /// Encoded bytes in one call at most, well under the 4 MiB a gRPC message may have by
    /// default.
    const MAX_CALL_BYTES: usize = 2 * 1024 * 1024;
    /// Items that may wait; one finding the queue full is called alone.
    const QUEUE: usize = 4_096;

    /// The call for one item.
    fn one(&self, item: Self::Item) -> impl Future<Output = Result<Self::Answer, Status>> + Send;

    /// The call for many: one answer per item, in order, or the call's own failure.
    fn many(
        &self,
        items: Vec<Self::Item>,
    ) -> impl Future<Output = Result<Vec<Result<Self::Answer, Status>>, Status>> + Send;
}

struct Ask<C: Many> {
    item: C::Item,
    reply: oneshot::Sender<Result<C::Answer, Status>>,
}

/// Calls of `C`, gathered (or, when started without gathering, each made alone).
pub struct Gathered<C: Many> {
    call: C,
    queue: Option<mpsc::Sender<Ask<C>>>,
}

impl<C: Many> Clone for Gathered<C> {
    fn clone(&self) -> Self {
        Self {
            call: self.call.clone(),
            queue: self.queue.clone(),
        }
    }
}

impl<C: Many> Gathered<C> {
    /// With `gather`, starts the task that sends the queued items; it ends when the last clone
    /// is dropped. Without, every item makes its own call (a server in the same process,
    /// where waiting to share a call only adds latency).
    pub fn start(call: C, gather: bool) -> Self {
        let queue = gather.then(|| {
            let (queue, asks) = mpsc::channel(C::QUEUE);
            tokio::spawn(run(call.clone(), asks));
            queue
        });
        Self { call, queue }
    }

    /// What the call for `item` alone would answer. An item whose caller stops waiting is
    /// still sent, as with a call of its own.
    pub async fn call(&self, item: C::Item) -> Result<C::Answer, Status> {
        let Some(queue) = &self.queue else {
            return self.call.one(item).await;
        };
        let (reply, answer) = oneshot::channel();
        match queue.try_send(Ask { item, reply }) {
            Ok(()) => answer
                .await
                .unwrap_or_else(|_| Err(Status::unavailable("call abandoned"))),
            Err(mpsc::error::TrySendError::Full(ask) | mpsc::error::TrySendError::Closed(ask)) => {
                self.call.one(ask.item).await
            }
        }
    }
}

async fn run<C: Many>(call: C, asks: mpsc::Receiver<Ask<C>>) {
    serve(asks, C::IN_FLIGHT, C::BATCH, |batch| {
        let calls: Vec<_> = (split::<C>(batch).into_iter())
            .map(|asks| call_many(call.clone(), asks))
            .collect();
        async move {
            futures::future::join_all(calls).await;
        }
    })
    .await;
}

/// Splits what was taken into calls of at most [`Many::MAX_CALL_BYTES`], keeping the order.
fn split<C: Many>(batch: Vec<Ask<C>>) -> Vec<Vec<Ask<C>>> {
    let mut calls = Vec::new();
    let (mut current, mut bytes) = (Vec::new(), 0);
    for ask in batch {
        let size = ask.item.encoded_len();
        if !current.is_empty() && bytes + size > C::MAX_CALL_BYTES {
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

/// One call for `asks`; each gets its own answer, or the call's failure.
async fn call_many<C: Many>(call: C, asks: Vec<Ask<C>>) {
    let (items, replies): (Vec<_>, Vec<_>) = asks.into_iter().map(|a| (a.item, a.reply)).unzip();
    let count = items.len();
    let status = match call.many(items).await {
        Ok(answers) if answers.len() == count => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(answer);
            }
            return;
        }
        Ok(answers) => Status::internal(format!(
            "the server answered {} of {count} items",
            answers.len()
        )),
        Err(status) => status,
    };
    for reply in replies {
        let _ = reply.send(Err(status.clone()));
    }
}

/// Takes up to `batch` queued requests at a time and runs `handle` on them in a task of its
/// own, with at most `in_flight` running. Whatever queued while the earlier batches were being
/// handled forms the next one. Returns when every sender is dropped and the queue is empty.
pub async fn serve<T, F, Fut>(
    mut queue: mpsc::Receiver<T>,
    in_flight: usize,
    batch: usize,
    handle: F,
) where
    T: Send + 'static,
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(in_flight));
    let mut taken = Vec::with_capacity(batch);
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        if queue.recv_many(&mut taken, batch).await == 0 {
            return;
        }
        let handled = handle(std::mem::replace(&mut taken, Vec::with_capacity(batch)));
        tokio::spawn(async move {
            handled.await;
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::TypingRequest;
    use std::sync::Mutex;
    use tonic::Code;
    #[tokio::test]
    async fn what_queues_behind_a_full_house_goes_as_one_batch_and_no_more_run_at_once() {
        let (tx, rx) = mpsc::channel(100);
        let seen = Arc::new(Mutex::new(Vec::<Vec<u32>>::new()));
        // Closed until the end: every handler waits at it.
        let gate = Arc::new(Semaphore::new(0));
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let server = tokio::spawn({
            let (seen, gate, running, most) =
                (seen.clone(), gate.clone(), running.clone(), most.clone());
            serve(rx, 2, 8, move |batch: Vec<u32>| {
                seen.lock().unwrap().push(batch);
                let (gate, running, most) = (gate.clone(), running.clone(), most.clone());
                async move {
                    let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    most.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                    gate.acquire().await.unwrap().forget();
                    running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                }
            })
        });
        let settle = || tokio::time::sleep(std::time::Duration::from_millis(20));
        // Two lone requests each go at once, taking both slots.
        tx.send(1).await.unwrap();
        settle().await;
        tx.send(2).await.unwrap();
        settle().await;
        // Ten more wait for a slot: the next batch takes eight of them, in order.
        for n in 3..13 {
            tx.send(n).await.unwrap();
        }
        settle().await;
        assert_eq!(*seen.lock().unwrap(), vec![vec![1], vec![2]]);
        gate.add_permits(100);
        drop(tx);
        server.await.unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                vec![1],
                vec![2],
                vec![3, 4, 5, 6, 7, 8, 9, 10],
                vec![11, 12]
            ]
        );
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    /// Answers each item with its text in capitals, recording the calls it was given.
    #[derive(Clone, Default)]
    struct Shout {
        calls: Arc<Mutex<Vec<usize>>>,
        fail: Option<Code>,
        short: bool,
    }

    impl Many for Shout {
        type Item = TypingRequest;
        type Answer = String;
        const BATCH: usize = 64;
        const MAX_CALL_BYTES: usize = 64 * 1024;

        async fn one(&self, item: TypingRequest) -> Result<String, Status> {
            self.calls.lock().unwrap().push(1);
            Ok(item.conversation_id.to_uppercase())
        }

        async fn many(
            &self,
            items: Vec<TypingRequest>,
        ) -> Result<Vec<Result<String, Status>>, Status> {
            self.calls.lock().unwrap().push(items.len());
            if let Some(code) = self.fail {
                return Err(Status::new(code, "the call failed"));
            }
            let skip = usize::from(self.short);
            Ok((items.into_iter().skip(skip))
                .map(|i| match i.conversation_id.as_str() {
                    "refuse" => Err(Status::not_found("no such thing")),
                    text => Ok(text.to_uppercase()),
                })
                .collect())
        }
    }

    fn item(text: &str) -> TypingRequest {
        TypingRequest {
            conversation_id: text.to_owned(),
        }
    }

    fn ask(text: String) -> Ask<Shout> {
        let (reply, _) = oneshot::channel();
        Ask {
            item: item(&text),
            reply,
        }
    }

    #[test]
    fn calls_stay_under_the_byte_limit_and_keep_the_order() {
        // 100 items of 6 KiB: about 600 KiB, so at least nine calls of 64 KiB.
        let batch: Vec<_> = (0..100).map(|i| ask("x".repeat(6 * 1024 + i))).collect();
        let calls = split::<Shout>(batch);
        assert!(calls.len() >= 9, "{} calls", calls.len());
        let mut sizes = Vec::new();
        for call in &calls {
            let bytes: usize = call.iter().map(|a| a.item.encoded_len()).sum();
            assert!(bytes <= Shout::MAX_CALL_BYTES, "a call of {bytes} bytes");
            sizes.extend(call.iter().map(|a| a.item.conversation_id.len()));
        }
        let expected: Vec<usize> = (0..100).map(|i| 6 * 1024 + i).collect();
        assert_eq!(sizes, expected, "every item once, in order");
    }

    #[test]
    fn small_items_share_one_call() {
        let calls = split::<Shout>((0..Shout::BATCH).map(|_| ask("hi".into())).collect());
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].len(), Shout::BATCH);
    }

    #[tokio::test]
    async fn concurrent_callers_share_a_call_and_each_gets_its_own_answer() {
        let shout = Shout::default();
        let gathered = Gathered::start(shout.clone(), true);
        let texts: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
        let mut calls: Vec<_> = texts.iter().map(|t| gathered.call(item(t))).collect();
        calls.insert(20, gathered.call(item("refuse")));
        let answers = futures::future::join_all(calls).await;
        let refused = answers[20].as_ref().unwrap_err();
        assert_eq!(
            (refused.code(), refused.message()),
            (Code::NotFound, "no such thing")
        );
        let mut got: Vec<_> = answers.into_iter().map(|a| a.unwrap_or_default()).collect();
        got.remove(20);
        let expected: Vec<_> = texts.iter().map(|t| t.to_uppercase()).collect();
        assert_eq!(got, expected);
        assert_eq!(*shout.calls.lock().unwrap(), vec![51], "one call for all");
    }

    #[tokio::test]
    async fn a_failed_or_short_call_fails_each_of_its_items() {
        let failing = Shout {
            fail: Some(Code::Unavailable),
            ..Default::default()
        };
        let gathered = Gathered::start(failing, true);
        let answers =
            futures::future::join_all((0..3).map(|i| gathered.call(item(&i.to_string())))).await;
        for answer in answers {
            assert_eq!(answer.unwrap_err().code(), Code::Unavailable);
        }
        let short = Shout {
            short: true,
            ..Default::default()
        };
        let gathered = Gathered::start(short, true);
        let answers =
            futures::future::join_all((0..3).map(|i| gathered.call(item(&i.to_string())))).await;
        for answer in answers {
            let status = answer.unwrap_err();
            assert_eq!(status.code(), Code::Internal);
            assert_eq!(status.message(), "the server answered 2 of 3 items");
        }
    }

    #[tokio::test]
    async fn without_gathering_each_item_is_called_alone() {
        let shout = Shout::default();
        let gathered = Gathered::start(shout.clone(), false);
        let answers =
            futures::future::join_all([gathered.call(item("a")), gathered.call(item("b"))]).await;
        assert_eq!(
            answers.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            ["A", "B"]
        );
        assert_eq!(*shout.calls.lock().unwrap(), vec![1, 1]);
    }
}

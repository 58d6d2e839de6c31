//! Group commit for message appends: many `append_message` calls, one transaction.
//!
//! Storing each message in a transaction of its own costs a commit per message: on SQLite a
//! handful of hand-offs to sqlx's worker thread per statement, on PostgreSQL an fsync with the
//! conversation's row lock held across it (one conversation then tops out at a few hundred
//! messages a second). Instead, each call is queued to a writer task; the writer takes every
//! append waiting (up to [`MAX_BATCH`]), stores them all in one transaction through a
//! [`BatchAppender`], and answers each caller with its own result. Under load batches grow by
//! themselves (whatever arrives while one commits forms the next), and a lone caller waits for
//! nothing but its own transaction.
//!
//! Appends are spread over the writers by conversation id, so one conversation's messages
//! always go through one writer: batches of different writers never wait for each other's
//! row locks, and their commits overlap. SQLite has one writer connection, so one writer.
//!
//! Shutdown finishes what was queued: [`AppendQueue::close`] stops taking new appends, lets
//! the writers store everything already queued and waits for them. Dropping the last handle
//! does the same without the wait (the writers drain their queues, then end). An append whose
//! caller gave up waiting is still stored; its retry (same client_msg_id) answers as a
//! duplicate.

use super::StoreError;
use natter_proto::repo::{AppendMessageRequest, AppendMessageResponse};
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Most appends stored in one transaction: enough to amortize a commit many times over,
/// few enough that one batch's statements stay far below both backends' bind limits.
pub const MAX_BATCH: usize = 256;

/// Appends queued per writer before callers wait for room (backpressure, bounded memory).
const QUEUE_DEPTH: usize = 4 * MAX_BATCH;

/// One caller's answer.
pub(crate) type Answer = Result<AppendMessageResponse, StoreError>;

/// Stores a batch of appends, as one transaction where it can.
pub(crate) trait BatchAppender: Send + Sync + 'static {
    /// One answer per request, in the same order, each what `append_message` would have
    /// answered had the requests been stored one after another in this order.
    fn append_batch(
        &self,
        batch: Vec<AppendMessageRequest>,
    ) -> impl Future<Output = Vec<Answer>> + Send;
}

/// A queued append and where its answer goes.
struct Job {
    req: AppendMessageRequest,
    reply: oneshot::Sender<Answer>,
}

/// The queues in front of the writer tasks; cheap to share (`Arc`) between store clones.
#[derive(Debug)]
pub(crate) struct AppendQueue {
    /// One queue per writer; a conversation always maps to the same one.
    writers: Vec<mpsc::Sender<Job>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl AppendQueue {
    /// Starts `writers` writer tasks (at least one) storing through `appender`. Needs a
    /// Tokio runtime; the writers run on it until the queue is closed or dropped.
    pub(crate) fn start<A: BatchAppender>(appender: A, writers: usize) -> Self {
        let appender = Arc::new(appender);
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let senders = (0..writers.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
                tasks.spawn(run_writer(appender.clone(), rx, shutdown.clone()));
                tx
            })
            .collect();
        tasks.close();
        Self {
            writers: senders,
            shutdown,
            tasks,
        }
    }

    /// Queues one append and waits for its answer. `Closed` once the queue is closing.
    pub(crate) async fn append(&self, req: AppendMessageRequest) -> Answer {
        let writer = &self.writers[shard(&req.conversation_id, self.writers.len())];
        let (reply, answer) = oneshot::channel();
        writer
            .send(Job { req, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Stops taking appends, and returns once everything already queued is stored and
    /// answered.
    pub(crate) async fn close(&self) {
        self.shutdown.cancel();
        self.tasks.wait().await;
    }
}

/// The writer a conversation's appends go through.
fn shard(conversation_id: &str, writers: usize) -> usize {
    if writers <= 1 {
        return 0;
    }
    let mut hasher = DefaultHasher::new();
    conversation_id.hash(&mut hasher);
    (hasher.finish() % writers as u64) as usize
}

/// One writer: takes every queued append (up to `MAX_BATCH`), stores them, answers, repeats.
/// On shutdown it closes its queue and stores what is left before ending.
async fn run_writer<A: BatchAppender>(
    appender: Arc<A>,
    mut jobs: mpsc::Receiver<Job>,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        tokio::select! {
            taken = jobs.recv_many(&mut batch, MAX_BATCH) => {
                if taken == 0 {
                    // Every handle dropped and the queue is empty.
                    return;
                }
                store(&*appender, &mut batch).await;
            }
            () = shutdown.cancelled() => break,
        }
    }
    jobs.close();
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        store(&*appender, &mut batch).await;
    }
}

/// Stores one batch and answers its callers (a caller that stopped waiting is skipped).
async fn store<A: BatchAppender>(appender: &A, batch: &mut Vec<Job>) {
    let (reqs, replies): (Vec<_>, Vec<_>) = batch.drain(..).map(|j| (j.req, j.reply)).unzip();
    let answers = appender.append_batch(reqs).await;
    debug_assert_eq!(answers.len(), replies.len());
    for (reply, answer) in replies.into_iter().zip(answers) {
        let _ = reply.send(answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records batch sizes and answers each request with its content as the message id.
    #[derive(Default)]
    struct Recorder {
        sizes: Arc<Mutex<Vec<usize>>>,
    }

    impl BatchAppender for Recorder {
        async fn append_batch(&self, batch: Vec<AppendMessageRequest>) -> Vec<Answer> {
            self.sizes.lock().unwrap().push(batch.len());
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            batch
                .into_iter()
                .map(|req| {
                    Ok(AppendMessageResponse {
                        message: Some(natter_proto::repo::Message {
                            message_id: req.content,
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                })
                .collect()
        }
    }

    fn req(conversation_id: &str, content: &str) -> AppendMessageRequest {
        AppendMessageRequest {
            conversation_id: conversation_id.into(),
            content: content.into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn concurrent_appends_share_batches_and_each_gets_its_own_answer() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let queue = Arc::new(AppendQueue::start(
            Recorder {
                sizes: sizes.clone(),
            },
            1,
        ));
        let calls: Vec<_> = (0..100)
            .map(|i| {
                let queue = queue.clone();
                tokio::spawn(async move { queue.append(req("c", &i.to_string())).await })
            })
            .collect();
        for (i, call) in calls.into_iter().enumerate() {
            let answer = call.await.unwrap().unwrap();
            assert_eq!(answer.message.unwrap().message_id, i.to_string());
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 100);
        assert!(sizes.len() < 100, "some appends shared a batch: {sizes:?}");
    }

    #[tokio::test]
    async fn closing_stores_what_was_queued_and_refuses_what_comes_after() {
        let queue = Arc::new(AppendQueue::start(Recorder::default(), 2));
        let calls: Vec<_> = (0..20)
            .map(|i| {
                let queue = queue.clone();
                tokio::spawn(async move { queue.append(req(&format!("c{i}"), "x")).await })
            })
            .collect();
        // Let every call reach its queue before closing.
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        queue.close().await;
        for call in calls {
            assert!(call.await.unwrap().is_ok());
        }
        assert!(matches!(
            queue.append(req("c", "late")).await,
            Err(StoreError::Closed)
        ));
    }

    #[test]
    fn a_conversation_always_maps_to_the_same_writer() {
        assert_eq!(shard("abc", 1), 0);
        let first = shard("abc", 4);
        assert!((0..10).all(|_| shard("abc", 4) == first));
        assert!(first < 4);
    }
}

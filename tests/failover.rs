//! Real time through failures, on the distributed form as separate processes (PostgreSQL,
//! Redis, repo, logic and three comet nodes): a group of 50 members with two devices each,
//! spread over the nodes, and 20 of them sending. Each scenario asserts that every message
//! acknowledged to its sender is, once clients catch up the way PROTOCOL.md says, held by every
//! device exactly once and in `seq` order, and that no socket was pushed a message twice or out
//! of order on the way. Then: a node killed mid-stream, Redis stopped and restarted mid-stream,
//! a client that never reads, and a session revoked while connected on two nodes.
//!
//! The scenarios start five processes each and push tens of thousands of frames: they take
//! turns rather than running side by side on a two-core machine.

#[path = "failover/cluster.rs"]
mod cluster;
#[path = "failover/member.rs"]
mod member;
#[path = "failover/slow.rs"]
mod slow;

use cluster::{Cluster, OwnRedis};
use member::{Device, Held, Sent, Stored};
use natter_testkit::{Api, Tokens, http::tokens};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const MEMBERS: usize = 50;
const DEVICES: usize = 2;
const SENDERS: usize = 20;
const PER_SENDER: usize = 15;

/// The group chatting: every device connected and caught up, senders sending.
struct Chat {
    conversation: String,
    owner: Tokens,
    acked: Arc<AtomicUsize>,
    /// Devices told to resync so far.
    resynced: Arc<AtomicUsize>,
    senders: Vec<JoinHandle<Sent>>,
    devices: Vec<JoinHandle<Held>>,
    stop: CancellationToken,
}

async fn guest(api: &Api) -> Tokens {
    let (status, v) = api
        .call(Method::POST, "/v1/guest", None, Some(json!({})))
        .await
        .expect("guest");
    assert_eq!(status, StatusCode::CREATED, "{v}");
    tokens(&v).expect("tokens")
}

impl Chat {
    /// Sets up the group, connects every device (device `d` of member `m` on node
    /// `(2m + d) % nodes`) and, once all are caught up, starts the senders.
    async fn start(cluster: &Cluster, every: Duration) -> Chat {
        let nodes: Vec<String> = (0..cluster.nodes()).map(|i| cluster.ws(i)).collect();
        let mut members = Vec::new();
        for m in 0..MEMBERS {
            members.push(guest(&cluster.api(m % nodes.len())).await);
        }
        let owner = members[0].clone();
        let others: Vec<&str> = members[1..].iter().map(|t| t.user_id.as_str()).collect();
        let (status, group) = cluster
            .api(0)
            .call(
                Method::POST,
                "/v1/groups",
                Some(&owner.access_token),
                Some(json!({"name": "failover", "member_ids": others})),
            )
            .await
            .unwrap();
        assert_eq!(status, StatusCode::CREATED, "{group}");
        let conversation = group["conversation_id"].as_str().unwrap().to_owned();

        let stop = CancellationToken::new();
        let (ready_tx, mut ready) = mpsc::channel(MEMBERS * DEVICES);
        let mut devices = Vec::new();
        let resynced = Arc::new(AtomicUsize::new(0));
        for (m, member) in members.iter().enumerate() {
            for d in 0..DEVICES {
                let device = Device {
                    name: format!("m{m}-d{d}"),
                    nodes: nodes.clone(),
                    home: (m * DEVICES + d) % nodes.len(),
                    token: member.access_token.clone(),
                    conversation: conversation.clone(),
                    resynced: resynced.clone(),
                };
                devices.push(tokio::spawn(device.run(ready_tx.clone(), stop.clone())));
            }
        }
        for _ in 0..MEMBERS * DEVICES {
            tokio::time::timeout(Duration::from_secs(60), ready.recv())
                .await
                .expect("every device connected and caught up within 60 s");
        }
        let acked = Arc::new(AtomicUsize::new(0));
        let senders = (members.iter().take(SENDERS).enumerate())
            .map(|(s, member)| {
                tokio::spawn(member::send_all(
                    format!("sender{s}"),
                    nodes.clone(),
                    s % nodes.len(),
                    member.access_token.clone(),
                    conversation.clone(),
                    member::Pace {
                        count: PER_SENDER,
                        every,
                        pad: 0,
                        until: None,
                    },
                    acked.clone(),
                ))
            })
            .collect();
        Chat {
            conversation,
            owner,
            acked,
            resynced,
            senders,
            devices,
            stop,
        }
    }

    /// Waits until `n` messages have been acknowledged (mid-stream, for a failure to strike).
    async fn wait_acked(&self, n: usize) {
        let waited = tokio::time::timeout(Duration::from_secs(60), async {
            while self.acked.load(Ordering::Relaxed) < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        waited.await.expect("senders make progress");
    }

    /// Waits until `n` devices have been told to resync at least once; how many were.
    async fn wait_resynced(&self, n: usize, within: Duration) -> usize {
        let _ = tokio::time::timeout(within, async {
            while self.resynced.load(Ordering::Relaxed) < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        self.resynced.load(Ordering::Relaxed)
    }

    /// Lets the senders finish, then every device catch up; checks what everyone holds.
    async fn finish(self, cluster: &Cluster, node: usize) -> Outcome {
        let mut sent = Vec::new();
        for s in self.senders {
            sent.push(s.await.expect("sender task"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.stop.cancel();
        let mut held = Vec::new();
        for d in self.devices {
            let h = tokio::time::timeout(Duration::from_secs(60), d)
                .await
                .expect("devices catch up within 60 s")
                .expect("device task");
            held.push(h);
        }
        let api = cluster.api(node);
        let history = member::history(&api, &self.owner.access_token, &self.conversation)
            .await
            .expect("history");
        let outcome = Outcome {
            sent,
            held,
            history,
        };
        outcome.check(cluster);
        outcome
    }
}

struct Outcome {
    sent: Vec<Sent>,
    held: Vec<Held>,
    history: Vec<Stored>,
}

impl Outcome {
    /// The guarantees every scenario keeps, whatever failed on the way.
    fn check(&self, cluster: &Cluster) {
        let logs = || cluster.logs();
        let errors: Vec<&String> = self.sent.iter().flat_map(|s| &s.errors).collect();
        assert!(errors.is_empty(), "sends failed: {errors:?}\n{}", logs());
        let acked: Vec<&(i64, String)> = self.sent.iter().flat_map(|s| &s.acked).collect();
        assert_eq!(acked.len(), SENDERS * PER_SENDER, "every send acknowledged");

        let seqs: Vec<i64> = self.history.iter().map(|m| m.seq).collect();
        let expected: Vec<i64> = (1..=self.history.len() as i64).collect();
        assert_eq!(seqs, expected, "stored seqs are 1, 2, 3, ... without a gap");
        let texts = self.history.iter().filter(|m| !m.system).count();
        assert_eq!(texts, SENDERS * PER_SENDER, "each message stored once");
        for (seq, id) in &acked {
            let stored = &self.history[(*seq - 1) as usize];
            assert_eq!(
                &stored.message_id, id,
                "acknowledged seq {seq} is stored as sent"
            );
        }

        for h in &self.held {
            let holds: Vec<(i64, &str)> = (h.messages.iter())
                .map(|(s, id)| (*s, id.as_str()))
                .collect();
            let stored: Vec<(i64, &str)> = (self.history.iter())
                .map(|m| (m.seq, m.message_id.as_str()))
                .collect();
            assert!(
                holds == stored,
                "{} holds {} messages, the conversation has {}\n{}",
                h.name,
                holds.len(),
                stored.len(),
                logs()
            );
            assert_eq!(h.dup_pushes, 0, "{} was pushed a message twice", h.name);
            assert_eq!(h.out_of_order, 0, "{} got pushes out of seq order", h.name);
            assert_eq!(h.conflicts, 0, "{} saw two messages under one seq", h.name);
        }
        let sum = |f: fn(&Held) -> u64| self.held.iter().map(f).sum::<u64>();
        eprintln!(
            "{} devices: {} reconnects, {} resyncs, {} pushes missed and caught up by sync; \
             senders reconnected {} times; push latency {}",
            self.held.len(),
            sum(|h| h.reconnects),
            sum(|h| h.resyncs),
            sum(|h| h.missed_pushes() as u64),
            self.sent.iter().map(|s| s.reconnects).sum::<u64>(),
            latency(&self.held),
        );
    }

    fn missed_pushes(&self) -> usize {
        self.held.iter().map(Held::missed_pushes).sum()
    }
}

/// "p50 … ms, p99 … ms" over every device's pushes.
fn latency(held: &[Held]) -> String {
    let all = held
        .iter()
        .flat_map(|h| h.latencies_ms.iter().map(|(_, ms)| *ms));
    percentiles(all.collect())
}

/// "p50 … ms, p99 … ms, max … ms" of these latencies.
fn percentiles(mut all: Vec<u64>) -> String {
    all.sort_unstable();
    if all.is_empty() {
        return "n/a".into();
    }
    let at = |q: f64| all[((all.len() - 1) as f64 * q) as usize];
    format!(
        "p50 {} ms, p99 {} ms, max {} ms",
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_fifty_members_two_devices_twenty_senders_every_push_arrives_once_in_order() {
    let _turn = TURN.lock().await;
    let cluster = Cluster::start(3, None, &[]).await.expect("cluster");
    let chat = Chat::start(&cluster, Duration::from_millis(100)).await;
    let outcome = chat.finish(&cluster, 0).await;
    // Nothing failed: every message after a device's first catch-up came by push, no resync.
    assert_eq!(
        outcome.missed_pushes(),
        0,
        "pushes were lost\n{}",
        cluster.logs()
    );
    let resyncs: u64 = outcome.held.iter().map(|h| h.resyncs).sum();
    assert_eq!(resyncs, 0, "resyncs without a failure");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comet_node_killed_mid_stream_its_clients_reconnect_elsewhere_and_catch_up() {
    let _turn = TURN.lock().await;
    let mut cluster = Cluster::start(3, None, &[]).await.expect("cluster");
    let chat = Chat::start(&cluster, Duration::from_millis(100)).await;
    chat.wait_acked(SENDERS * PER_SENDER / 3).await;
    cluster.kill_comet(1).await;
    let outcome = chat.finish(&cluster, 0).await;
    let moved = (outcome.held.iter()).filter(|h| h.reconnects > 0).count();
    // A third of the devices were on node 1.
    assert!(
        moved >= MEMBERS * DEVICES / 3,
        "only {moved} devices reconnected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_and_restarted_mid_stream_sends_still_succeed_and_nothing_is_lost() {
    let _turn = TURN.lock().await;
    let mut redis = OwnRedis::start().await.expect("redis-server");
    let cluster = Cluster::start(3, Some(&redis), &[]).await.expect("cluster");
    let chat = Chat::start(&cluster, Duration::from_millis(100)).await;
    chat.wait_acked(SENDERS * PER_SENDER / 3).await;
    redis.stop().await;
    // Sends go on while Redis is away: the senders' errors are checked in `finish`.
    let before = chat.acked.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during = chat.acked.load(Ordering::Relaxed) - before;
    redis.restart().await.expect("redis-server again");
    // Comet notices the outage, reconnects (backoff of at most 2 s) and re-announces its users
    // before it tells its sockets: allow for all of that, however fast the senders finish.
    let told = (chat.wait_resynced(MEMBERS * DEVICES, Duration::from_secs(20))).await;
    chat.finish(&cluster, 0).await;
    assert!(
        during > 0,
        "no message was acknowledged while Redis was down"
    );
    assert_eq!(
        told,
        MEMBERS * DEVICES,
        "every device is told to resync after the bus gap"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repo_and_logic_restarted_mid_stream_are_ridden_out() {
    let _turn = TURN.lock().await;
    let mut cluster = Cluster::start(3, None, &[]).await.expect("cluster");
    let chat = Chat::start(&cluster, Duration::from_millis(100)).await;
    chat.wait_acked(SENDERS * PER_SENDER / 4).await;
    cluster.restart_tier("repo").await.expect("repo restarted");
    chat.wait_acked(SENDERS * PER_SENDER / 2).await;
    cluster
        .restart_tier("logic")
        .await
        .expect("logic restarted");
    let outcome = chat.finish(&cluster, 0).await;
    let unavailable: u64 = outcome.sent.iter().map(|s| s.unavailable).sum();
    eprintln!("sends answered UNAVAILABLE (and retried): {unavailable}");
    // The sockets stay up: the comet nodes never went away.
    let reconnects: u64 = outcome.held.iter().map(|h| h.reconnects).sum();
    assert_eq!(reconnects, 0, "devices had to reconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_gets_resync_then_4008_and_others_latency_holds() {
    let _turn = TURN.lock().await;
    slow::never_reading_client().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_revoked_while_connected_on_two_nodes_has_both_sockets_closed_with_4003() {
    let _turn = TURN.lock().await;
    let cluster = Cluster::start(3, None, &[]).await.expect("cluster");
    let me = guest(&cluster.api(0)).await;
    let (mut a, _) = natter_testkit::Socket::open(&cluster.ws(0), &me.access_token, "phone")
        .await
        .unwrap();
    let (mut b, _) = natter_testkit::Socket::open(&cluster.ws(2), &me.access_token, "laptop")
        .await
        .unwrap();
    let (status, _) = cluster
        .api(1)
        .call(Method::POST, "/v1/logout", Some(&me.access_token), None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(a.closed().await.unwrap(), 4003, "{}", cluster.logs());
    assert_eq!(b.closed().await.unwrap(), 4003, "{}", cluster.logs());
}

//! Storing a message with the next seq, on SQLite, and on PostgreSQL when
//! `NATTER_BENCH_DATABASE_URL` names a database to use (it is migrated).
//!
//! Per backend: one append at a time (the latency of a lone sender), then 64 and 256 appends
//! in flight across 16 conversations (the throughput many senders get; Criterion reports it
//! as elements, i.e. messages, per second). Appends in flight share group commits.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use natter_proto::repo::{AppendMessageRequest, CreateUserRequest, GetOrCreateDirectRequest};
use natter_repo::store::{self, prelude::*};
use std::sync::Arc;

/// Conversations the concurrent case spreads its appends over.
const CONVERSATIONS: usize = 16;
/// Appends in flight at once in the concurrent cases.
const IN_FLIGHT: [usize; 2] = [64, 256];

/// A store with `CONVERSATIONS` direct conversations, as (conversation, sender) pairs.
fn setup(rt: &tokio::runtime::Runtime, url: &str) -> (Arc<dyn Store>, Vec<(String, String)>) {
    rt.block_on(async {
        let store = store::open(url).await.expect("open store");
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let mut users = Vec::new();
        for who in 0..=CONVERSATIONS {
            let user = store
                .create_user(CreateUserRequest {
                    user_id: format!("u{who}-{tag}"),
                    email: None,
                    password_hash: String::new(),
                    nickname: format!("u{who}_{}", &tag[..12]),
                    is_guest: true,
                    created_at: 0,
                })
                .await
                .expect("user");
            users.push(user.user_id);
        }
        let mut pairs = Vec::new();
        for other in &users[1..] {
            let conv = store
                .get_or_create_direct(GetOrCreateDirectRequest {
                    conversation_id: format!("c-{}", uuid::Uuid::new_v4().simple()),
                    user_id: users[0].clone(),
                    other_user_id: other.clone(),
                    now: 0,
                })
                .await
                .expect("direct")
                .conversation
                .expect("conversation")
                .conversation_id;
            pairs.push((conv, other.clone()));
        }
        (store, pairs)
    })
}

/// A 64-byte text message; `retry_key` gives it a client_msg_id (what real clients send).
fn request(conversation_id: &str, sender_id: &str, retry_key: bool) -> AppendMessageRequest {
    AppendMessageRequest {
        message_id: uuid::Uuid::now_v7().to_string(),
        conversation_id: conversation_id.to_owned(),
        sender_id: sender_id.to_owned(),
        kind: "text".into(),
        content: "x".repeat(64),
        metadata_json: String::new(),
        client_msg_id: retry_key.then(|| uuid::Uuid::new_v4().to_string()),
        created_at: 0,
        direct_requires_friendship: false,
    }
}

fn bench_backend(c: &mut Criterion, name: &str, url: &str) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (store, pairs) = setup(&rt, url);
    let (conv, sender) = pairs[0].clone();
    c.bench_function(&format!("append message with seq ({name})"), |b| {
        // On a runtime task, as in the server (not on the thread blocking on it).
        b.iter(|| {
            let (store, req) = (store.clone(), request(&conv, &sender, false));
            rt.block_on(rt.spawn(async move { store.append_message(req).await }))
                .expect("task")
                .expect("append")
        })
    });

    let mut group = c.benchmark_group(format!("append concurrently ({name})"));
    for in_flight in IN_FLIGHT {
        group.throughput(Throughput::Elements(in_flight as u64));
        group.bench_function(
            format!("{in_flight} in flight over {CONVERSATIONS} conversations"),
            |b| b.iter(|| rt.block_on(append_all(&store, &pairs, in_flight))),
        );
    }
    group.finish();
}

/// `count` appends at once, spread round-robin over the conversations; returns when all are
/// stored.
async fn append_all(store: &Arc<dyn Store>, pairs: &[(String, String)], count: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let (conv, sender) = &pairs[i % pairs.len()];
        let req = request(conv, sender, true);
        let store = store.clone();
        tasks.spawn(async move { store.append_message(req).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task").expect("append");
    }
}

fn append(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    bench_backend(c, "sqlite", &url);
    match std::env::var("NATTER_BENCH_DATABASE_URL") {
        Ok(url) if !url.is_empty() => bench_backend(c, "postgres", &url),
        _ => eprintln!("NATTER_BENCH_DATABASE_URL unset: PostgreSQL append not measured"),
    }
}

criterion_group!(benches, append);
criterion_main!(benches);

//! Storing a message with the next seq (one transaction: seq bump + insert), on SQLite, and on
//! PostgreSQL when `NATTER_BENCH_DATABASE_URL` names a database to use (it is migrated).

use criterion::{Criterion, criterion_group, criterion_main};
use natter_proto::repo::{AppendMessageRequest, CreateUserRequest, GetOrCreateDirectRequest};
use natter_repo::store::{self, prelude::*};
use std::sync::Arc;

fn setup(rt: &tokio::runtime::Runtime, url: &str) -> (Arc<dyn Store>, String, String) {
    rt.block_on(async {
        let store = store::open(url).await.expect("open store");
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let mut ids = Vec::new();
        for who in ["a", "b"] {
            let user = store
                .create_user(CreateUserRequest {
                    user_id: format!("{who}-{tag}"),
                    email: None,
                    password_hash: String::new(),
                    nickname: format!("{who}_{}", &tag[..12]),
                    is_guest: true,
                    created_at: 0,
                })
                .await
                .expect("user");
            ids.push(user.user_id);
        }
        let conv = store
            .get_or_create_direct(GetOrCreateDirectRequest {
                conversation_id: format!("c-{tag}"),
                user_id: ids[0].clone(),
                other_user_id: ids[1].clone(),
                now: 0,
            })
            .await
            .expect("direct")
            .conversation
            .expect("conversation")
            .conversation_id;
        (store, conv, ids[0].clone())
    })
}

fn bench_backend(c: &mut Criterion, name: &str, url: &str) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (store, conv, sender) = setup(&rt, url);
    c.bench_function(&format!("append message with seq ({name})"), |b| {
        b.iter(|| {
            rt.block_on(store.append_message(AppendMessageRequest {
                message_id: uuid::Uuid::now_v7().to_string(),
                conversation_id: conv.clone(),
                sender_id: sender.clone(),
                kind: "text".into(),
                content: "x".repeat(64),
                metadata_json: String::new(),
                client_msg_id: None,
                created_at: 0,
            }))
            .expect("append")
        })
    });
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

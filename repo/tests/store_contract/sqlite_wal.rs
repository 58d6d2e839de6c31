//! The SQLite store moves what it writes from the WAL into the database file by itself, in
//! the background, while the writer's own checkpoint threshold is far away (see
//! `store::checkpoint`). SQLite-only, so outside `contract_tests!`: PostgreSQL has no WAL
//! file of ours.

use crate::{T0, id, send, user};
use natter_proto::repo::{GetOrCreateDirectRequest, SyncMessagesRequest};
use natter_repo::store::prelude::*;
use natter_repo::store::sqlite::SqliteStore;
use std::time::{Duration, Instant};

fn file_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test]
async fn written_messages_reach_the_database_file_without_a_checkpoint_on_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("natter.db");
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let direct = store
        .get_or_create_direct(GetOrCreateDirectRequest {
            conversation_id: id(),
            user_id: alice.clone(),
            other_user_id: bob,
            now: T0,
        })
        .await
        .unwrap()
        .conversation
        .unwrap();
    // Let the schema's pages settle into the file first, so growth below is the messages.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let before = file_len(&path);

    // 1.5 MiB in 24 commits: some 600 WAL frames, under SQLite's default automatic checkpoint
    // (1,000 frames), so only a background checkpoint puts them in the file this soon.
    let content = "x".repeat(64 * 1024);
    for i in 0..24 {
        send(&store, &direct.conversation_id, &alice, &content, None, i)
            .await
            .expect("append");
    }

    const WANT: u64 = 3 * 512 * 1024;
    let deadline = Instant::now() + Duration::from_secs(10);
    let grown = loop {
        let grown = file_len(&path).saturating_sub(before);
        if grown >= WANT || Instant::now() > deadline {
            break grown;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        grown >= WANT,
        "the database file grew by {grown} bytes in 10 s; 1.5 MiB of messages are still only in the WAL"
    );
    store.close().await;

    // Still all there after a reopen.
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let page = store
        .sync_messages(SyncMessagesRequest {
            conversation_id: direct.conversation_id.clone(),
            after_seq: 0,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 24);
    store.close().await;
}

//! The PostgreSQL store keeps its append writer's connection between batches (see
//! `PgPools::store_batch`). PostgreSQL-only, so outside `contract_tests!`: SQLite's connections
//! are to a local file and do not drop.

use crate::harness::{Backend, run_with_fixture};
use crate::{direct, send, sorted, user};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_after_the_database_dropped_every_connection_are_stored_in_order() {
    run_with_fixture(Backend::Postgres, |fixture| async move {
        let opened = fixture.open().await;
        let store = opened.store.clone();
        let alice = user(&*store, "alice").await;
        let bob = user(&*store, "bob").await;
        let (chat, _) = direct(&*store, &alice, &bob).await;
        let first = send(&*store, &chat.conversation_id, &alice, "before", None, 1).await;
        assert_eq!(first.expect("first append").message.unwrap().seq, 1);

        // What a PostgreSQL restart does to the store: every connection it holds, the
        // append writer's included, is gone.
        let dropped = fixture
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .await;
        assert!(dropped >= 1, "the store's connections were terminated");

        for (n, content) in ["after", "and again", "and once more"].iter().enumerate() {
            let stored = send(
                &*store,
                &chat.conversation_id,
                &bob,
                content,
                None,
                2 + n as i64,
            )
            .await
            .unwrap_or_else(|e| panic!("append {content:?} after the drop failed: {e}"));
            let message = stored.message.unwrap();
            assert_eq!(message.seq, 2 + n as i64, "{content:?} took the next seq");
            assert_eq!(message.content, *content);
            assert_eq!(
                sorted(&stored.member_ids),
                sorted(&[alice.clone(), bob.clone()])
            );
        }
        opened.close().await;
    })
    .await;
}

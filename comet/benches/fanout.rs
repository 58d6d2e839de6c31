//! Fan-out of one push to 1,000 sockets on one node: what the dispatcher does per bus message,
//! handing the same encoded bytes to every recipient's queue.

use axum::extract::ws::Utf8Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use natter_comet::registry::{Conn, Registry};
use std::sync::Arc;

fn fanout(c: &mut Criterion) {
    let registry = Registry::default();
    let mut conns = Vec::new();
    let users: Vec<String> = (0..1_000).map(|i| format!("user-{i}")).collect();
    for user in &users {
        let id = format!("node/{}", registry.next_conn_number());
        let conn = Arc::new(Conn::new(id, user, "session", 256));
        registry.add(conn.clone());
        conns.push(conn);
    }
    let frame = Utf8Bytes::from(format!(
        r#"{{"push":"message","data":{{"content":"{}"}}}}"#,
        "x".repeat(64)
    ));
    c.bench_function("fan-out one push to 1,000 sockets", |b| {
        b.iter(|| {
            for user in &users {
                registry.for_user(user, |conn| conn.push(&frame));
            }
            // Drain, as the sockets' writer tasks would, so queues never fill.
            for conn in &conns {
                while conn.outbox.try_pop().is_some() {}
            }
        })
    });
}

criterion_group!(benches, fanout);
criterion_main!(benches);

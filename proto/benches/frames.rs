//! Encoding a `message` push frame: done once per message, whatever the number of recipients.

use criterion::{Criterion, criterion_group, criterion_main};
use natter_proto::{
    json::{MessageJson, push_frame},
    logic::{Message, MessageType},
};
use std::hint::black_box;

fn message(content_len: usize) -> Message {
    Message {
        message_id: "01a20194-e6e8-73f9-8ef1-507b66b945a8".into(),
        conversation_id: "01a20194-e6ea-74c9-9806-84ae4d17669e".into(),
        seq: 123_456,
        sender_id: "01a20194-e6e8-73f9-8ef1-507b66b945a9".into(),
        r#type: MessageType::Text as i32,
        content: "x".repeat(content_len),
        metadata: [("client".to_owned(), "bench".to_owned())].into(),
        client_msg_id: Some("c-1".into()),
        created_at: 1_795_322_865_000,
        deleted: false,
    }
}

fn encode(c: &mut Criterion) {
    for len in [64, 1024] {
        let m = message(len);
        c.bench_function(&format!("push frame encode ({len} B content)"), |b| {
            b.iter(|| push_frame("message", &MessageJson(black_box(&m))))
        });
    }
}

criterion_group!(benches, encode);
criterion_main!(benches);

//! The frames one socket writes (send, sync, ping: each with a fresh id, none awaited) and how
//! it reads what comes back: replies matched to their request by id, pushes checked against
//! the socket's per-conversation tracker.

use super::{Cmd, Next, Pending, Session};
use crate::{
    client::{self, Ws},
    metrics::now_us,
    tracker::Pushed,
};
use futures::SinkExt;
use serde::Deserialize;
use serde_json::{Value, json};
use std::borrow::Cow;
use tokio_tungstenite::tungstenite::Message;

impl Session {
    fn id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(super) async fn send(&mut self, ws: &mut Ws, cmd: Cmd) -> Next {
        let id = self.id();
        let conv = &self.spec.convs[cmd.conv];
        let frame = json!({
            "id": id,
            "method": "send",
            "params": {
                "conversation_id": &*conv.id,
                "content": client::content(cmd.sched_us, self.shared.message_size),
                "client_msg_id": self.client_msg_id(id),
            },
        });
        self.pending.insert(
            id,
            Pending::Send {
                conv: cmd.conv,
                sched_us: cmd.sched_us,
            },
        );
        match ws.send(Message::text(frame.to_string())).await {
            Ok(()) => {
                self.shared.metrics.sent.inc();
                Next::Go
            }
            Err(e) => {
                self.pending.remove(&id);
                self.shared.metrics.skipped.inc();
                Next::Lost(format!("write: {e}"))
            }
        }
    }

    fn client_msg_id(&self, id: u64) -> String {
        format!("lt-{}-{}-{id}", self.spec.index, self.generation)
    }

    /// A push of our own message sent on this very connection (which the server must not do).
    fn is_echo(&self, sender_id: Option<&str>, client_msg_id: Option<&str>) -> bool {
        if sender_id != Some(self.spec.user_id.as_str()) {
            return false;
        }
        let Some(cmid) = client_msg_id else {
            return false;
        };
        cmid.starts_with(&format!("lt-{}-{}-", self.spec.index, self.generation))
    }

    pub(super) async fn ping(&mut self, ws: &mut Ws) -> Next {
        let id = self.id();
        self.pending.insert(id, Pending::Ping);
        let frame = json!({ "id": id, "method": "ping", "params": {} });
        match ws.send(Message::text(frame.to_string())).await {
            Ok(()) => Next::Go,
            Err(e) => Next::Lost(format!("write: {e}")),
        }
    }

    pub(super) async fn sync(
        &mut self,
        ws: &mut Ws,
        conv: usize,
        after: i64,
    ) -> anyhow::Result<()> {
        let id = self.id();
        self.pending.insert(id, Pending::Sync { conv });
        let params = json!({
            "conversation_id": &*self.spec.convs[conv].id,
            "after_seq": after,
            "limit": 100,
        });
        let frame = json!({ "id": id, "method": "sync", "params": params });
        ws.send(Message::text(frame.to_string())).await?;
        Ok(())
    }

    pub(super) async fn on_text(&mut self, ws: &mut Ws, text: &str) -> Next {
        let m = self.shared.metrics.clone();
        // Typed and borrowing: at hundreds of thousands of pushes a second, parsing each into
        // a `Value` tree was a large part of the harness's own CPU, on the box it measures.
        let frame: Incoming = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                m.error("frame is not JSON", e);
                return Next::Go;
            }
        };
        if let Some(kind) = frame.push {
            match &*kind {
                "message" => self.on_push(frame.data.unwrap_or_default()),
                "resync" => {
                    m.resyncs.inc();
                    let conv = frame.data.and_then(|d| d.conversation_id);
                    return self.on_resync(ws, conv.as_deref()).await;
                }
                _ => m.other_pushes.inc(),
            }
            return Next::Go;
        }
        let Some(id) = frame.id else {
            m.error("reply without an id", text);
            return Next::Go;
        };
        let (result, error) = (&frame.result, &frame.error);
        match self.pending.remove(&id) {
            Some(Pending::Send { conv, sched_us }) => {
                self.on_send_reply(result, error, conv, sched_us)
            }
            Some(Pending::Sync { conv }) => {
                return self.on_sync_reply(ws, result, error, conv).await;
            }
            Some(Pending::Ping) => {}
            None => m.error("reply to an unknown id", text),
        }
        Next::Go
    }

    fn on_push(&mut self, data: PushData) {
        let m = &self.shared.metrics;
        m.pushes.inc();
        let conv = data.conversation_id.as_deref().unwrap_or_default();
        let (Some(&local), Some(seq)) = (self.by_id.get(conv), data.seq) else {
            return m.error(
                "push for a conversation the user is not in",
                format!("conversation {conv:?}, seq {:?}", data.seq),
            );
        };
        if self.is_echo(data.sender_id.as_deref(), data.client_msg_id.as_deref()) {
            return m.echoes.inc();
        }
        match self.trackers[local].push(seq) {
            Pushed::Fresh => {}
            Pushed::Duplicate => m.duplicates.inc(),
            Pushed::OutOfOrder => m.out_of_order.inc(),
            // Our own message, but not sent on this connection (`is_echo` above caught those):
            // it went out on an earlier one and is owed here like anyone's message.
            Pushed::Echo => {}
            Pushed::Stale => return,
        }
        if let Some(sent) = data.content.as_deref().and_then(client::sent_at) {
            m.latency
                .record(self.spec.index, now_us().saturating_sub(sent));
        }
    }

    fn on_send_reply(
        &mut self,
        result: &Option<Value>,
        error: &Option<Value>,
        conv: usize,
        sched_us: u64,
    ) {
        let m = &self.shared.metrics;
        if let Some(seq) = result.as_ref().and_then(|r| r["seq"].as_i64()) {
            self.trackers[conv].own(seq);
            self.acked.push((conv, seq));
            m.acked.inc();
            m.ack_latency
                .record(self.spec.index, now_us().saturating_sub(sched_us));
            return;
        }
        let error = error.as_ref().unwrap_or(&Value::Null);
        let code = error["code"].as_str().unwrap_or("?");
        if code == "RESOURCE_EXHAUSTED" {
            m.rate_limited.inc();
        } else {
            m.send_errors.inc();
            m.error(format!("send: {code}"), error);
        }
    }

    async fn on_resync(&mut self, ws: &mut Ws, conv: Option<&str>) -> Next {
        let convs: Vec<usize> = match conv.and_then(|c| self.by_id.get(c)) {
            Some(&local) => vec![local],
            None => (0..self.trackers.len()).collect(),
        };
        for conv in convs {
            if let Err(e) = self.sync(ws, conv, self.trackers[conv].watermark()).await {
                return Next::Lost(format!("write: {e}"));
            }
        }
        Next::Go
    }

    async fn on_sync_reply(
        &mut self,
        ws: &mut Ws,
        result: &Option<Value>,
        error: &Option<Value>,
        conv: usize,
    ) -> Next {
        let m = self.shared.metrics.clone();
        let result = result.as_ref().unwrap_or(&Value::Null);
        let Some(messages) = result["messages"].as_array() else {
            m.error("sync failed", error.as_ref().unwrap_or(&Value::Null));
            return Next::Go;
        };
        let mut last = None;
        for msg in messages {
            let Some(seq) = msg["seq"].as_i64() else {
                continue;
            };
            last = Some(seq);
            let mine = msg["sender_id"].as_str() == Some(&self.spec.user_id);
            if self.trackers[conv].synced(seq) && !mine && msg["type"] != "system" {
                m.recovered.inc();
            }
        }
        match (result["has_more"].as_bool(), last) {
            (Some(true), Some(last)) => match self.sync(ws, conv, last).await {
                Ok(()) => Next::Go,
                Err(e) => Next::Lost(format!("write: {e}")),
            },
            _ => Next::Go,
        }
    }
}

/// Any frame the server sends: a push (`push`, `data`) or a reply (`id`, `result` or `error`).
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(borrow, default)]
    push: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<PushData<'a>>,
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

/// The fields of a push's `data` that the harness reads (`message` and `resync`); the others,
/// and other pushes' fields, are skipped unparsed.
#[derive(Deserialize, Default)]
struct PushData<'a> {
    #[serde(borrow, default)]
    conversation_id: Option<Cow<'a, str>>,
    #[serde(default)]
    seq: Option<i64>,
    #[serde(borrow, default)]
    sender_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    client_msg_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
}

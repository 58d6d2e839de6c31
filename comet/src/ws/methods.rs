//! The WebSocket methods: `send`, `sync`, `read`, `typing`, `delete`, `ping` (and `auth`
//! again, which answers with the socket's identity). Each returns the reply frame to queue.

use super::frames;
use crate::{AppState, api, error::ApiError, logic::Identity};
use axum::extract::ws::Utf8Bytes;
use natter_proto::json::MessageJson;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Instant;
use tracing::Instrument;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendParams {
    conversation_id: String,
    #[serde(flatten)]
    body: api::SendBody,
}

#[derive(Deserialize)]
struct SyncParams {
    conversation_id: String,
    after_seq: i64,
    #[serde(default)]
    limit: i32,
}

#[derive(Deserialize)]
struct ReadParams {
    conversation_id: String,
    seq: i64,
}

#[derive(Deserialize)]
struct ConversationParams {
    conversation_id: String,
}

#[derive(Deserialize)]
struct DeleteParams {
    conversation_id: String,
    message_id: String,
}

pub async fn handle(state: &AppState, who: &Identity, text: &str) -> Utf8Bytes {
    let req = match frames::parse(text) {
        Ok(req) => req,
        Err(reply) => return reply,
    };
    let span = tracing::debug_span!("rpc", method = %req.method, user_id = %who.user_id);
    // Boxed: the largest of the calls' futures would otherwise be part of every socket's task,
    // idle or not, and a server holds tens of thousands of idle sockets.
    let call = Box::pin(call(state, who, &req.method, req.params));
    match call.instrument(span).await {
        Ok(result) => frames::result(req.id, result),
        Err(err) => frames::error(req.id, &err),
    }
}

async fn call(
    state: &AppState,
    who: &Identity,
    method: &str,
    params: Value,
) -> Result<Value, ApiError> {
    match method {
        "send" => {
            let p: SendParams = frames::params(params)?;
            let (message, _) = api::send(state, who, p.conversation_id, p.body).await?;
            Ok(serde_json::to_value(MessageJson(&message)).unwrap_or_default())
        }
        "sync" => {
            let p: SyncParams = frames::params(params)?;
            api::sync(state, who, p.conversation_id, p.after_seq, p.limit).await
        }
        "read" => {
            let p: ReadParams = frames::params(params)?;
            api::read(state, who, p.conversation_id, p.seq).await?;
            Ok(json!({}))
        }
        "typing" => {
            let p: ConversationParams = frames::params(params)?;
            api::typing(state, who, p.conversation_id).await?;
            Ok(json!({}))
        }
        "delete" => {
            let p: DeleteParams = frames::params(params)?;
            let req = natter_proto::logic::MessageRef {
                conversation_id: p.conversation_id,
                message_id: p.message_id,
            };
            let tombstone = state
                .logic
                .messages
                .clone()
                .delete_message(who.request(req))
                .await?
                .into_inner();
            Ok(serde_json::to_value(MessageJson(&tombstone)).unwrap_or_default())
        }
        "ping" => Ok(json!({})),
        "auth" => Ok(json!({
            "user_id": who.user_id,
            "session_id": who.session_id,
            "heartbeat_ms": state.config.heartbeat.as_millis() as u64,
        })),
        other => Err(ApiError::invalid(format!(
            "unknown method {other:?}: expected send, sync, read, typing, delete or ping"
        ))),
    }
}

/// A token bucket per socket: `rate` requests a second with bursts of twice that. A client that
/// keeps going long after it was told to slow down is closed (4008).
pub struct RateLimit {
    rate: f64,
    tokens: f64,
    last: Option<Instant>,
    refused: u32,
}

pub enum Admit {
    Yes,
    /// Refused: build the RESOURCE_EXHAUSTED reply for this frame.
    No(fn(&str) -> Utf8Bytes),
    Close,
}

impl RateLimit {
    pub fn new(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        Self {
            rate,
            tokens: 2.0 * rate,
            last: None,
            refused: 0,
        }
    }

    pub fn admit(&mut self, now: Instant) -> Admit {
        if let Some(last) = self.last {
            let refill = now.duration_since(last).as_secs_f64() * self.rate;
            self.tokens = (self.tokens + refill).min(2.0 * self.rate);
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.refused = 0;
            return Admit::Yes;
        }
        self.refused += 1;
        if f64::from(self.refused) > 4.0 * self.rate {
            Admit::Close
        } else {
            Admit::No(rate_limited)
        }
    }
}

fn rate_limited(text: &str) -> Utf8Bytes {
    let id = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("id").and_then(Value::as_i64));
    let err = ApiError::new(
        tonic::Code::ResourceExhausted,
        "too many requests: slow down",
    );
    match id {
        Some(id) => frames::error(id, &err),
        None => Utf8Bytes::from(json!({ "id": null, "error": err.to_json() }).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_rate_limit_allows_a_burst_then_refuses_then_closes() {
        let mut limit = RateLimit::new(10);
        let t = Instant::now();
        for _ in 0..20 {
            assert!(matches!(limit.admit(t), Admit::Yes));
        }
        assert!(matches!(limit.admit(t), Admit::No(_)));
        assert!(matches!(
            limit.admit(t + Duration::from_millis(200)),
            Admit::Yes
        ));
        let mut closed = false;
        for _ in 0..100 {
            if matches!(limit.admit(t + Duration::from_millis(200)), Admit::Close) {
                closed = true;
                break;
            }
        }
        assert!(closed);
    }
}

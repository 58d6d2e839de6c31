//! Delivering what the bus brings to this node's sockets, and keeping this node's users marked
//! online in presence.
//!
//! One dispatcher task reads the node's bus channel. Each push frame arrives encoded once (by
//! logic); the dispatcher hands the same bytes to every recipient socket's queue without waiting,
//! so a slow socket costs nobody else anything.

mod order;

use crate::{AppState, registry::Conn};
use axum::extract::ws::Utf8Bytes;
use natter_proto::{
    bus::{Envelope, envelope::Event},
    logic::NodeHeartbeatRequest,
};
use natter_realtime::{Delivery, Subscription};
use order::{Orderer, Step};
use prost::Message as _;
use std::time::{Duration, Instant};

/// How long an out-of-order push waits for the ones before it.
const HOLD: Duration = Duration::from_millis(100);
/// How long re-announcing presence after a bus gap may hold up the resync.
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a conversation's ordering state outlives its last push.
const IDLE: Duration = Duration::from_secs(30);

/// The `resync` push without a conversation: "sync everything".
pub const RESYNC_ALL: &str = r#"{"push":"resync","data":{}}"#;

pub fn start(state: AppState, subscription: Subscription) {
    state.tasks.spawn(dispatch(state.clone(), subscription));
    state.tasks.spawn(heartbeat(state.clone()));
}

/// A push on its way to the sockets of `user_ids` on this node.
struct Pending {
    user_ids: Vec<String>,
    frame: Utf8Bytes,
    exclude: String,
    conversation_id: String,
}

async fn dispatch(state: AppState, mut sub: Subscription) {
    let mut order = Orderer::new(HOLD, IDLE);
    let mut tick = tokio::time::interval(HOLD / 2);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => break,
            delivery = sub.recv() => match delivery {
                None => break,
                Some(Delivery::Gap) => {
                    tracing::warn!("bus gap: every socket on this node resyncs");
                    // Presence may have been lost with the bus (a restarted Redis keeps
                    // nothing): announce this node's users again *before* telling sockets to
                    // sync, so every message stored after their sync is also routed here.
                    let _ = tokio::time::timeout(ANNOUNCE_TIMEOUT, announce(&state)).await;
                    let frame = Utf8Bytes::from_static(RESYNC_ALL);
                    state.registry.for_all(|c| c.push(&frame));
                }
                Some(Delivery::Payload(bytes)) => handle(&state, &mut order, bytes),
            },
            _ = tick.tick() => {
                for step in order.tick(Instant::now()) {
                    run(&state, step);
                }
            }
        }
    }
    tracing::debug!("push dispatcher stopped");
}

fn handle(state: &AppState, order: &mut Orderer<Pending>, bytes: bytes::Bytes) {
    let envelope = match Envelope::decode(bytes) {
        Ok(e) => e,
        Err(err) => return tracing::warn!(%err, "undecodable bus message dropped"),
    };
    match envelope.event {
        Some(Event::Push(push)) => {
            let Ok(frame) = Utf8Bytes::try_from(push.frame) else {
                return tracing::warn!("push frame is not UTF-8; dropped");
            };
            let pending = Pending {
                user_ids: envelope.user_ids,
                frame,
                exclude: push.exclude_connection_id,
                conversation_id: push.conversation_id,
            };
            if pending.conversation_id.is_empty() {
                deliver(state, &pending);
            } else {
                let conversation = pending.conversation_id.clone();
                for step in order.admit(&conversation, push.seq, pending, Instant::now()) {
                    run(state, step);
                }
            }
        }
        Some(Event::Kick(kick)) => {
            let code = u16::try_from(kick.close_code).unwrap_or(4003);
            for user in &envelope.user_ids {
                state.registry.for_user(user, |c: &Conn| {
                    if kick.session_ids.iter().any(|s| **s == *c.session_id) {
                        c.close_with(code);
                    }
                });
            }
        }
        None => {}
    }
}

fn run(state: &AppState, step: Step<Pending>) {
    match step {
        Step::Deliver(p) => deliver(state, &p),
        Step::Resync(p) => {
            resync(state, &p);
            deliver(state, &p);
        }
        Step::Late(p) => {
            tracing::debug!(conversation_id = %p.conversation_id, "late push: recipients resync");
            resync(state, &p);
        }
    }
}

/// Tells the recipients of `p` to `sync` its conversation.
fn resync(state: &AppState, p: &Pending) {
    let data = serde_json::json!({ "conversation_id": p.conversation_id });
    let frame = Utf8Bytes::from(
        String::from_utf8(natter_proto::json::push_frame("resync", &data)).unwrap_or_default(),
    );
    for user in &p.user_ids {
        state.registry.for_user(user, |c| c.push(&frame));
    }
}

fn deliver(state: &AppState, p: &Pending) {
    for user in &p.user_ids {
        state.registry.for_user(user, |c| {
            if *c.id != *p.exclude {
                c.push(&p.frame);
            }
        });
    }
}

/// Refreshes the presence TTL of every user on this node, so that if this node dies its users
/// go offline when the TTL runs out.
async fn heartbeat(state: AppState) {
    let mut tick = tokio::time::interval(state.config.presence_refresh);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        announce(&state).await;
    }
}

/// Marks every user with a socket on this node online here, in batches.
async fn announce(state: &AppState) {
    for chunk in state.registry.users().chunks(1_000) {
        let req = NodeHeartbeatRequest {
            node_id: state.config.node_id.clone(),
            user_ids: chunk.to_vec(),
        };
        if let Err(status) = state.logic.presence.clone().node_heartbeat(req).await {
            tracing::warn!(%status, "presence heartbeat failed");
        }
    }
}

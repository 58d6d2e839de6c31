//! One socket's life: authenticate, register, read and write until either side ends, unregister.

use super::{frames, methods, pace::Pace};
use crate::{AppState, logic::Identity, outbox::Outbox, push::RESYNC_ALL, registry::Conn};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::{SinkExt, StreamExt, stream::SplitSink, stream::SplitStream};
use natter_proto::{access::AccessClaims, logic::ConnectionEvent};
use serde::Deserialize;
use std::{
    sync::{Arc, atomic::Ordering},
    task::Poll,
    time::{Duration, Instant},
};
use tracing::Instrument;

pub const UNAUTHENTICATED: u16 = 4001;
pub const POLICY: u16 = 4008;
pub const TOO_LARGE: u16 = 1009;
pub const GOING_AWAY: u16 = 1001;
pub const REVOKED: u16 = 4003;

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

#[derive(Deserialize)]
struct AuthParams {
    token: String,
    device_id: Option<String>,
}

pub async fn run(socket: WebSocket, state: AppState, preauth: Option<Result<AccessClaims, ()>>) {
    let (mut sink, mut stream) = socket.split();
    let (claims, auth_id) = match preauth {
        Some(Ok(claims)) => (claims, None),
        Some(Err(())) => {
            return close(
                &mut sink,
                UNAUTHENTICATED,
                "invalid or expired access token",
            )
            .await;
        }
        // Boxed, like the other one-off futures: it is needed once, and inline it would size
        // every socket's task for the rest of its life.
        None => match Box::pin(authenticate(&state, &mut sink, &mut stream)).await {
            Some((claims, id)) => (claims, Some(id)),
            None => return,
        },
    };
    let n = state.registry.next_conn_number();
    let conn = Arc::new(Conn::new(
        format!("{}/{n}", state.config.node_id),
        &claims.sub,
        &claims.sid,
        state.config.outbound_queue,
    ));
    let started = Instant::now();
    let span = tracing::debug_span!("conn", user_id = %claims.sub, conn = %conn.id);
    // Registered (and online in presence) before the auth reply: once a client holds that
    // reply, every later message reaches it by push.
    // Every socket is reported, not only a user's first on this node: the report carries the
    // session, so logic refuses one whose session was revoked (logout) though its token verifies.
    state.registry.add(conn.clone());
    if state.shutdown.is_cancelled() {
        // Registered after `close_on_shutdown` went through the registry.
        conn.close_with(GOING_AWAY);
    }
    // Boxed like the request handlers: a tonic call is a large future, needed once.
    if !Box::pin(connected(&state, &conn)).await {
        if state.registry.remove(&conn) {
            presence(&state, &conn, false);
        }
        return close(&mut sink, REVOKED, "session revoked").await;
    }
    if let Some(id) = auth_id {
        let result = serde_json::json!({
            "user_id": claims.sub,
            "session_id": claims.sid,
            "heartbeat_ms": state.config.heartbeat.as_millis() as u64,
        });
        if sink
            .send(Message::Text(frames::result(id, result)))
            .await
            .is_err()
        {
            if state.registry.remove(&conn) {
                presence(&state, &conn, false);
            }
            return;
        }
    }
    let identity = Identity {
        user_id: claims.sub,
        session_id: claims.sid,
        connection_id: Some(conn.id.to_string()),
    };
    // The two halves are made inside the block, not bound to locals first: a future moved out
    // of a local still keeps the local's room in the session's state, which doubled the size
    // of every socket's task.
    async {
        tokio::select! {
            biased;
            () = write_loop(&state, &conn, sink, started) => {}
            () = read_loop(&state, &conn, &identity, stream, started) => {}
        }
    }
    .instrument(span)
    .await;
    // Pushes arriving before the socket leaves the registry are refused, not queued.
    conn.outbox.close();
    if state.registry.remove(&conn) {
        presence(&state, &conn, false);
    }
    tracing::debug!("socket closed");
}

/// Waits for the `auth` frame; returns the verified claims and the request id to answer, or
/// closes with 4001 and returns None.
async fn authenticate(
    state: &AppState,
    sink: &mut Sink,
    stream: &mut Stream,
) -> Option<(AccessClaims, i64)> {
    let first = tokio::time::timeout(state.config.auth_timeout, next_text(stream)).await;
    let text = match first {
        Ok(Some(text)) => text,
        Ok(None) => return None,
        Err(_) => {
            close(sink, UNAUTHENTICATED, "authenticate within 10 s").await;
            return None;
        }
    };
    let req = match frames::parse(&text) {
        Ok(req) if req.method == "auth" => req,
        _ => {
            close(
                sink,
                UNAUTHENTICATED,
                "the first frame must be an auth request",
            )
            .await;
            return None;
        }
    };
    let params: Result<AuthParams, _> = frames::params(req.params);
    let claims = params.ok().and_then(|p| {
        let device_ok = p.device_id.as_ref().is_none_or(|d| d.chars().count() <= 64);
        device_ok
            .then(|| state.verifier.verify(&p.token).ok())
            .flatten()
    });
    let Some(claims) = claims else {
        let err = crate::ApiError::unauthenticated("invalid or expired access token");
        let _ = sink.send(Message::Text(frames::error(req.id, &err))).await;
        close(sink, UNAUTHENTICATED, "invalid or expired access token").await;
        return None;
    };
    Some((claims, req.id))
}

/// The next text frame, skipping control frames; None when the socket ends.
async fn next_text(stream: &mut Stream) -> Option<Utf8Bytes> {
    loop {
        match stream.next().await? {
            Ok(Message::Text(t)) => return Some(t),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

async fn write_loop(state: &AppState, conn: &Conn, mut sink: Sink, started: Instant) {
    let heartbeat = state.config.heartbeat;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    let mut pace = Pace::new();
    let code = loop {
        tokio::select! {
            biased;
            // The socket's own token, which shutdown cancels too (`close_on_shutdown`): a
            // wait on the node's shutdown token here took that token's one lock, shared by
            // every socket, at every wake-up. (Not a wait made once and kept: it would live
            // in every socket's task for good, 100 bytes a socket.)
            () = conn.close.cancelled() => break conn.close_code(),
            out = conn.outbox.pop() => {
                let Some(text) = out else { break 1000 };
                // A busy socket lets its next frames gather: one write call for several.
                if let Some(hold) = pace.hold(since_us(started)) {
                    tokio::time::sleep(hold).await;
                }
                match write(&mut sink, text, Some(&conn.outbox), conn, heartbeat).await {
                    Written::Ok(frames) => pace.wrote(since_us(started), frames),
                    Written::Gone => return,
                    Written::Stop(code) => break code,
                }
                if conn.dropped.swap(false, Ordering::Relaxed) {
                    let resync = Utf8Bytes::from_static(RESYNC_ALL);
                    match write(&mut sink, resync, None, conn, heartbeat).await {
                        Written::Ok(_) => {}
                        Written::Gone => return,
                        Written::Stop(code) => break code,
                    }
                }
            }
            _ = ping.tick() => {
                let silent = since_ms(started).saturating_sub(conn.last_seen.load(Ordering::Relaxed));
                if silent > 2 * heartbeat.as_millis() as u64 {
                    break POLICY;
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    };
    let reason = match code {
        GOING_AWAY => "server going away",
        POLICY => "policy violation",
        TOO_LARGE => "frame too large",
        REVOKED => "session revoked",
        _ => "",
    };
    // From here the socket only says goodbye: requests still arriving are not served.
    conn.close_with(code);
    let mut frames = Vec::new();
    if code == POLICY && conn.dropped.swap(false, Ordering::Relaxed) {
        // Dropped for not keeping up: if it ever reads again, it learns it must `sync`.
        frames.push(Message::Text(Utf8Bytes::from_static(RESYNC_ALL)));
    }
    frames.push(close_frame(code, reason));
    let goodbye = async {
        for frame in frames {
            if sink.send(frame).await.is_err() {
                return;
            }
        }
        // Then wait for the client's close reply, on which the reader half (and with it the
        // session) ends. Dropping the connection at once would answer whatever the client
        // still sends (a pong, a request) with a TCP reset, and a reset discards everything
        // the client has not read yet: the close frame included.
        std::future::pending::<()>().await
    };
    // A client closed for not reading gets longer: it may read again, and should then find
    // the `resync` and the close. Its memory stays bounded meanwhile: two frames were added.
    let grace = if code == POLICY {
        SLOW_CLOSE_GRACE
    } else {
        CLOSE_GRACE
    };
    tokio::select! {
        _ = tokio::time::timeout(grace, goodbye) => {}
        _ = state.shutdown.cancelled(), if code != GOING_AWAY => {}
    }
}

/// How long a closing socket waits for the client's close reply.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// The same, for a socket closed for not reading (4008).
const SLOW_CLOSE_GRACE: Duration = Duration::from_secs(10);

enum Written {
    /// This many frames were written.
    Ok(usize),
    /// The peer is gone: nothing more can be sent.
    Gone,
    /// Stop writing and close with this code.
    Stop(u16),
}

/// Writes `first` and, from `queued`, whatever else is already waiting (up to [`COALESCE`]
/// frames), then flushes once: under a burst a socket costs one write call per batch rather
/// than one per frame. Gives up when the client has not taken it within two heartbeat periods
/// (it stopped reading: its TCP window is shut) or when the socket is asked to close meanwhile.
/// Without this, a client that never reads would pin its socket open forever.
async fn write(
    sink: &mut Sink,
    first: Utf8Bytes,
    queued: Option<&Outbox>,
    conn: &Conn,
    heartbeat: Duration,
) -> Written {
    let send = async {
        sink.feed(Message::Text(first)).await?;
        let mut frames = 1;
        if let Some(queued) = queued {
            while frames < COALESCE {
                let Some(text) = queued.try_pop() else {
                    break;
                };
                sink.feed(Message::Text(text)).await?;
                frames += 1;
            }
        }
        sink.flush().await.map(|()| frames)
    };
    tokio::pin!(send);
    let sent = match futures::poll!(send.as_mut()) {
        // Nearly always: the kernel took the bytes at once, and no timer or close watch
        // needed arming (a timer per write was a lock per write on a busy node).
        Poll::Ready(sent) => sent,
        Poll::Pending => tokio::select! {
            sent = send => sent,
            () = conn.close.cancelled() => return Written::Stop(conn.close_code()),
            () = tokio::time::sleep(2 * heartbeat) => return Written::Stop(POLICY),
        },
    };
    match sent {
        Ok(frames) => Written::Ok(frames),
        Err(_) => Written::Gone,
    }
}

/// Frames written with one flush at most.
const COALESCE: usize = 64;

async fn read_loop(
    state: &AppState,
    conn: &Conn,
    who: &Identity,
    mut stream: Stream,
    started: Instant,
) {
    let mut limiter = methods::RateLimit::new(state.config.requests_per_second);
    while let Some(frame) = stream.next().await {
        conn.last_seen.store(since_ms(started), Ordering::Relaxed);
        let text = match frame {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(_)) => return,
            Ok(Message::Binary(_)) => {
                let err =
                    crate::ApiError::invalid("binary frames are not supported: send JSON text");
                let reply = serde_json::json!({ "id": null, "error": err.to_json() });
                if conn.outbox.push(reply.to_string().into()).await.is_err() {
                    return;
                }
                continue;
            }
            Ok(_) => continue,
            Err(err) => {
                if is_too_large(err) {
                    conn.close_with(TOO_LARGE);
                    // Leave the writer time to send the close frame: the session ends when it
                    // has (its goodbye is bounded by a grace period).
                    std::future::pending::<()>().await;
                }
                return;
            }
        };
        if conn.close.is_cancelled() {
            // Closing: the writer has said goodbye and no reply would be sent.
            continue;
        }
        let reply = match limiter.admit(Instant::now()) {
            methods::Admit::Yes => methods::handle(state, who, &text).await,
            methods::Admit::No(reply) => reply(&text),
            methods::Admit::Close => return conn.close_with(POLICY),
        };
        if conn.outbox.push(reply).await.is_err() {
            return;
        }
    }
}

fn is_too_large(err: axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error;
    matches!(
        err.into_inner().downcast_ref::<Error>(),
        Some(Error::Capacity(_))
    )
}

/// Marks the user online on this node, waiting (briefly) for it to be stored.
/// Marks the user online on this node, waiting (briefly) for it to be stored. False when logic
/// refuses the socket's session (revoked); other failures are logged and the socket carries on,
/// since presence only makes pushes faster to arrive, and `sync` covers the rest.
async fn connected(state: &AppState, conn: &Conn) -> bool {
    let ev = ConnectionEvent {
        node_id: state.config.node_id.clone(),
        user_id: conn.user_id.to_string(),
    };
    let who = Identity {
        user_id: conn.user_id.to_string(),
        session_id: conn.session_id.to_string(),
        connection_id: None,
    };
    let mut logic = state.logic.presence.clone();
    match tokio::time::timeout(Duration::from_secs(2), logic.connected(who.request(ev))).await {
        Ok(Ok(_)) => true,
        Ok(Err(status)) if status.code() == tonic::Code::Unauthenticated => false,
        Ok(Err(status)) => {
            tracing::warn!(%status, "presence update failed");
            true
        }
        Err(_) => {
            tracing::warn!("presence update timed out");
            true
        }
    }
}

/// Reports a change of presence in the background (used when the socket is going away).
fn presence(state: &AppState, conn: &Conn, online: bool) {
    let logic = state.logic.presence.clone();
    let ev = ConnectionEvent {
        node_id: state.config.node_id.clone(),
        user_id: conn.user_id.to_string(),
    };
    state.tasks.spawn(async move {
        let mut logic = logic;
        let result = if online {
            logic.connected(ev).await
        } else {
            logic.disconnected(ev).await
        };
        if let Err(status) = result {
            tracing::warn!(%status, online, "presence update failed");
        }
    });
}

fn close_frame(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

async fn close(sink: &mut Sink, code: u16, reason: &'static str) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = sink.send(close_frame(code, reason)).await;
        let _ = sink.close().await;
    })
    .await;
}

fn since_ms(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}

/// Microseconds since `started`, wrapping (for [`Pace`], which only takes differences).
fn since_us(started: Instant) -> u32 {
    started.elapsed().as_micros() as u32
}

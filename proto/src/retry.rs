//! Riding out a restarting tier: a call that never reached its peer is sent again, with backoff,
//! for a few seconds. That is a call that could not connect (the peer is down or restarting),
//! one still queued when its connection closed (hyper cancels it unsent), or one the peer
//! refused unprocessed (HTTP/2 REFUSED_STREAM: a server shutting down refuses new streams).
//!
//! Only calls that never reached the peer are retried, so any call is safe to repeat here,
//! idempotent or not. A call that reached a peer which then died is the caller's to retry: the
//! public API makes that safe where it matters (a `send` retried with its `client_msg_id` is
//! stored once). A graceful restart finishes its in-flight calls, so with this the tiers above
//! see nothing of it but a short delay.

use crate::transport::{Transport, TransportError};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use std::{error::Error as _, time::Duration};
use tonic::body::Body;
use tower::{ServiceExt, util::BoxCloneSyncService};

/// The first wait before a retry; doubled each time up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(50);
const MAX_DELAY: Duration = Duration::from_secs(1);
/// How long a call keeps trying to connect before its error is returned.
const PATIENCE: Duration = Duration::from_secs(8);

/// `inner`, with calls that fail to connect sent again until [`PATIENCE`] runs out.
pub fn retrying(inner: Transport) -> Transport {
    BoxCloneSyncService::new(tower::service_fn(move |req: Request<Body>| {
        let inner = inner.clone();
        async move { call(inner, req).await }
    }))
}

async fn call(inner: Transport, req: Request<Body>) -> Result<Response<Body>, TransportError> {
    let (parts, body) = req.into_parts();
    // Unary and server-streaming requests carry one message: keep it, to send it again.
    let body: Bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(status) => return Err(TransportError(Box::new(status))),
    };
    let started = tokio::time::Instant::now();
    let mut delay = FIRST_DELAY;
    loop {
        let mut req = Request::new(Body::new(Full::new(body.clone())));
        *req.method_mut() = parts.method.clone();
        *req.uri_mut() = parts.uri.clone();
        *req.version_mut() = parts.version;
        *req.headers_mut() = parts.headers.clone();
        *req.extensions_mut() = parts.extensions.clone();
        match inner.clone().oneshot(req).await {
            Err(err) if never_connected(&err) && started.elapsed() + delay < PATIENCE => {
                tracing::debug!(uri = %parts.uri, %err, "peer unreachable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_DELAY);
            }
            result => return result,
        }
    }
}

/// Whether `status` was made here from a broken connection (the peer went away mid-call, as in
/// a restart) rather than answered by the peer: the outcome is unknown, and the call's caller
/// should hear UNAVAILABLE (retry with backoff; a `send` with its `client_msg_id` is stored
/// once), not INTERNAL. tonic reports an HTTP/2 failure as INTERNAL with the transport error as
/// its source; a status the peer sent has no source.
pub fn peer_went_away(status: &tonic::Status) -> bool {
    status.source().is_some()
}

/// Whether the error says the peer never got the call (so sending it again is safe).
fn never_connected(err: &TransportError) -> bool {
    let mut source = err.source();
    while let Some(e) = source {
        let unsent = e.is::<tonic::ConnectError>()
            || e.downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_canceled)
            || (e.downcast_ref::<h2::Error>())
                .is_some_and(|e| e.reason() == Some(h2::Reason::REFUSED_STREAM));
        if unsent {
            return true;
        }
        source = e.source();
    }
    false
}

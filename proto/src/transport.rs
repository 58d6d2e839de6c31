//! One boxed transport for every generated client, whether the peer is in this process or not.
//! It also stamps every request with the service credential, so no call site can forget it.

use crate::credential::ServiceToken;
use http::{Request, Response, header::AUTHORIZATION};
use tonic::body::Body;
use tower::{BoxError, ServiceExt, util::BoxCloneSyncService};

/// What a generated client (`FooClient<Transport>`) sends its requests through.
pub type Transport = BoxCloneSyncService<Request<Body>, Response<Body>, TransportError>;

/// A call that never reached the peer. A concrete type rather than `Box<dyn Error>`: a trait
/// object here trips rustc's higher-ranked `Send` check in every `async fn` that calls a client.
#[derive(Debug, thiserror::Error)]
#[error("transport: {0}")]
pub struct TransportError(#[source] pub(crate) BoxError);

/// A transport to a tier in another process.
pub fn channel_transport(channel: tonic::transport::Channel, token: &ServiceToken) -> Transport {
    let bearer = token.bearer().to_str().unwrap_or_default().to_owned();
    let svc = channel
        .map_err(|e| TransportError(e.into()))
        .map_request(stamp(bearer));
    BoxCloneSyncService::new(svc)
}

/// A transport to a tier in this process: requests go straight into its router, so the embedded
/// mode pays for encoding but not for loopback sockets.
pub fn local_transport(routes: tonic::service::Routes, token: &ServiceToken) -> Transport {
    let bearer = token.bearer().to_str().unwrap_or_default().to_owned();
    let svc = ServiceExt::<Request<Body>>::map_err(routes.prepare(), |never| match never {})
        .map_request(stamp(bearer));
    BoxCloneSyncService::new(svc)
}

fn stamp(bearer: String) -> impl Fn(Request<Body>) -> Request<Body> + Clone {
    let value = http::HeaderValue::try_from(bearer).expect("service token is a valid header");
    move |mut req: Request<Body>| {
        // A call on behalf of an end user may already carry their JWT: keep it.
        req.headers_mut()
            .entry(AUTHORIZATION)
            .or_insert(value.clone());
        req
    }
}

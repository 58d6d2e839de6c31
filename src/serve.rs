//! Serving a bound listener until a shutdown signal: gRPC tiers (with the health and reflection
//! services) and the HTTP tier, each draining in-flight work before it returns.

use axum::serve::ListenerExt;
use natter_proto::FILE_DESCRIPTOR_SET;
use std::{future::Future, time::Duration};
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic_health::ServingStatus;

/// How long in-flight requests may take to finish once shutdown begins.
pub const DRAIN: Duration = Duration::from_secs(10);

/// The kernel send buffer of each client connection (the kernel doubles it for bookkeeping).
/// Left to autotuning, a client that stops reading lets the kernel buffer megabytes for it,
/// and the socket's bounded queue never overflows, so it never learns to `resync`. Pinned,
/// a stalled socket costs at most this, and a chat socket still moves hundreds of KiB/s.
pub const SOCKET_SEND_BUFFER: usize = 32 * 1024;

/// Adds `grpc.health.v1.Health` (overall status SERVING until `shutdown`) and server reflection
/// to `routes`; returns them with the reporter that flips health to NOT_SERVING.
pub fn with_health_and_reflection(
    routes: Routes,
) -> (Routes, tonic_health::server::HealthReporter) {
    let (reporter, health) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("the embedded descriptor set is valid");
    (routes.add_service(health).add_service(reflection), reporter)
}

/// Serves gRPC `routes` on `listener` until `shutdown` resolves, then reports NOT_SERVING and
/// lets in-flight calls finish.
pub async fn grpc(
    listener: TcpListener,
    routes: Routes,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let (routes, reporter) = with_health_and_reflection(routes);
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    let signal = async move {
        shutdown.await;
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
    };
    tonic::transport::Server::builder()
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming(listener), signal)
        .await
}

/// Accepted tier connections with Nagle's algorithm off. A custom incoming stream gets none
/// of `Server`'s socket options: with Nagle on, the reply a gRPC call writes in several pieces
/// (headers, message, trailers) waited for the caller's delayed ACK, milliseconds a call.
fn incoming(listener: TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Serves an HTTP router (REST, WebSocket, and in the embedded mode gRPC) on `listener` until
/// `shutdown` resolves; in-flight requests get [`DRAIN`] to finish.
pub async fn http(
    listener: TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let listener = listener.tap_io(|tcp| {
        let sock = socket2::SockRef::from(&*tcp);
        if let Err(err) = sock.set_send_buffer_size(SOCKET_SEND_BUFFER) {
            tracing::debug!(%err, "cannot size a connection's send buffer");
        }
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = tx.send(());
    });
    let server = std::pin::pin!(server.into_future());
    tokio::select! {
        result = server => result,
        () = async { let _ = rx.await; tokio::time::sleep(DRAIN).await } => {
            tracing::warn!("in-flight requests did not finish in time; stopping anyway");
            Ok(())
        }
    }
}

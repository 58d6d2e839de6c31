//! Opening one authenticated WebSocket, as the contract says: upgrade on `/v1/ws`, then the
//! `auth` frame first, answered by `{"id":1,"result":{...}}`.
//!
//! Why the socket is built by hand (TcpSocket bind + connect, then `client_async`): a client
//! address pair (source IP, destination IP:port) has only ~28k ephemeral ports, so tens of
//! thousands of sockets to one server port need several source addresses. On loopback every
//! 127.x.y.z is local, so socket i binds 127.0.0.(2 + i mod k) before connecting.

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{
    WebSocketStream, client_async_with_config,
    tungstenite::{Message, protocol::WebSocketConfig},
};

pub type Ws = WebSocketStream<TcpStream>;

/// How long a handshake (TCP, upgrade, auth) may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// One comet node, resolved once.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `http://host:port` (REST).
    pub http: String,
    /// `ws://host:port/v1/ws`.
    pub ws: String,
    pub addr: SocketAddr,
}

impl Endpoint {
    pub async fn resolve(base: &str) -> anyhow::Result<Self> {
        let base = base.trim_end_matches('/');
        let url = reqwest::Url::parse(base).with_context(|| format!("bad --url {base:?}"))?;
        if url.scheme() != "http" {
            bail!("--url must be http://HOST:PORT (TLS is not supported): {base}");
        }
        let host = url.host_str().context("--url has no host")?;
        let port = url.port_or_known_default().unwrap_or(80);
        let addr = tokio::net::lookup_host((host, port))
            .await
            .with_context(|| format!("cannot resolve {host}"))?
            .next()
            .with_context(|| format!("{host} has no address"))?;
        Ok(Self {
            http: base.to_owned(),
            ws: format!("ws://{}:{port}/v1/ws", url.host_str().unwrap_or(host)),
            addr,
        })
    }
}

/// Where sockets come from: a block of loopback source addresses, or the system's choice.
#[derive(Clone, Debug)]
pub struct Sources {
    first: u32,
    count: u32,
}

impl Sources {
    /// `count` addresses starting at 127.0.0.2 + `offset` (used only if `target` is loopback).
    pub fn new(target: &SocketAddr, count: u32, offset: u32) -> Self {
        let loopback = matches!(target.ip(), IpAddr::V4(ip) if ip.is_loopback());
        Self {
            first: u32::from(Ipv4Addr::new(127, 0, 0, 2)) + offset,
            count: if loopback { count } else { 0 },
        }
    }

    /// The source address for socket `i`.
    pub fn for_socket(&self, i: usize) -> Option<IpAddr> {
        (self.count > 0).then(|| {
            let ip = self.first + (i as u32 % self.count);
            IpAddr::V4(Ipv4Addr::from(ip))
        })
    }
}

/// TCP connect (from `source` if given) and WebSocket upgrade.
pub async fn connect(endpoint: &Endpoint, source: Option<IpAddr>) -> anyhow::Result<Ws> {
    let socket = match endpoint.addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .context("socket()")?;
    if let Some(ip) = source {
        socket
            .bind(SocketAddr::new(ip, 0))
            .with_context(|| format!("bind {ip}"))?;
    }
    let stream = socket
        .connect(endpoint.addr)
        .await
        .with_context(|| format!("TCP connect to {}", endpoint.addr))?;
    stream.set_nodelay(true).context("TCP_NODELAY")?;
    // Small buffers (tungstenite's default is 128 KiB each way per socket): at 20,000 sockets
    // the harness would otherwise hold gigabytes it does not need for small chat frames.
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0);
    let (ws, _) = client_async_with_config(endpoint.ws.as_str(), stream, Some(config))
        .await
        .context("WebSocket upgrade")?;
    Ok(ws)
}

/// Sends the `auth` frame (id 1) and waits for its reply; returns the next free request id.
pub async fn authenticate(ws: &mut Ws, token: &str, device: &str) -> anyhow::Result<u64> {
    let frame = json!({
        "id": 1,
        "method": "auth",
        "params": { "token": token, "device_id": device },
    });
    ws.send(Message::text(frame.to_string()))
        .await
        .context("sending auth")?;
    loop {
        let msg = ws
            .next()
            .await
            .context("socket closed before the auth reply")?
            .context("reading the auth reply")?;
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(frame) => bail!("closed during auth: {frame:?}"),
            _ => continue,
        };
        let v: Value = serde_json::from_str(text.as_str()).context("auth reply is not JSON")?;
        if v.get("id").and_then(Value::as_u64) != Some(1) {
            continue;
        }
        if v.get("result").is_some() {
            return Ok(2);
        }
        bail!("auth refused: {}", v["error"]);
    }
}

/// Connects and authenticates within [`HANDSHAKE_TIMEOUT`].
pub async fn open(
    endpoint: &Endpoint,
    source: Option<IpAddr>,
    token: &str,
    device: &str,
) -> anyhow::Result<(Ws, u64)> {
    let work = async {
        let mut ws = connect(endpoint, source).await?;
        let next_id = authenticate(&mut ws, token, device).await?;
        anyhow::Ok((ws, next_id))
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, work)
        .await
        .context("handshake timed out")?
}

/// Message content: `lt <scheduled µs> ` then padding up to `size` bytes.
pub fn content(sched_us: u64, size: usize) -> String {
    let mut s = format!("lt {sched_us} ");
    let pad = size.saturating_sub(s.len());
    s.extend(std::iter::repeat_n('x', pad));
    s
}

/// The scheduled send time written by [`content`], if it is one of ours.
pub fn sent_at(content: &str) -> Option<u64> {
    let rest = content.strip_prefix("lt ")?;
    rest.split(' ').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_carries_its_timestamp_and_size() {
        let c = content(123_456, 64);
        assert_eq!(c.len(), 64);
        assert_eq!(sent_at(&c), Some(123_456));
        assert_eq!(sent_at("hello"), None);
    }

    #[test]
    fn sources_spread_over_loopback_only() {
        let lo: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let s = Sources::new(&lo, 3, 0);
        assert_eq!(s.for_socket(4), Some("127.0.0.3".parse().unwrap()));
        let far: SocketAddr = "192.0.2.1:80".parse().unwrap();
        assert_eq!(Sources::new(&far, 3, 0).for_socket(4), None);
    }
}

//! A WebSocket client for the public contract: requests with ids, replies matched by id,
//! pushes kept in arrival order. `presence` pushes (which arrive whenever a contact connects or
//! leaves) are kept apart, so tests about other pushes never see them: [`Socket::presence`].

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::{collections::VecDeque, time::Duration};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, protocol::frame::coding::CloseCode},
};

pub struct Socket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: i64,
    pushes: VecDeque<Value>,
    presences: VecDeque<Value>,
}

/// How long a test waits for any one thing before failing.
pub const PATIENCE: Duration = Duration::from_secs(5);

impl Socket {
    /// Connects to `ws://.../v1/ws` without authenticating.
    pub async fn connect(base_ws: &str) -> anyhow::Result<Self> {
        let (ws, _) = connect_async(format!("{base_ws}/v1/ws"))
            .await
            .context("ws connect")?;
        Ok(Self {
            ws,
            next_id: 0,
            pushes: VecDeque::new(),
            presences: VecDeque::new(),
        })
    }

    /// Connects and authenticates with the `auth` frame; returns the socket and the auth result.
    pub async fn open(base_ws: &str, token: &str, device: &str) -> anyhow::Result<(Self, Value)> {
        let mut s = Self::connect(base_ws).await?;
        let result = s
            .request("auth", json!({ "token": token, "device_id": device }))
            .await?;
        Ok((s, result))
    }

    pub async fn send_text(&mut self, text: String) -> anyhow::Result<()> {
        self.ws.send(Message::text(text)).await?;
        Ok(())
    }

    /// Sends a request and waits for its reply: `Ok(result)` or an error naming the error object.
    pub async fn request(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let reply = self.call(method, params).await?;
        match reply.get("result") {
            Some(result) => Ok(result.clone()),
            None => bail!("{method} failed: {}", reply["error"]),
        }
    }

    /// Sends a request and returns the whole reply frame (result or error).
    pub async fn call(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let frame = json!({ "id": id, "method": method, "params": params });
        self.send_text(frame.to_string()).await?;
        loop {
            let v = self.next_frame().await?;
            if v["push"] == "presence" {
                self.presences.push_back(v);
            } else if v.get("push").is_some() {
                self.pushes.push_back(v);
            } else if v["id"] == id {
                return Ok(v);
            }
        }
    }

    /// The next push other than `presence` (buffered or arriving within [`PATIENCE`]).
    pub async fn push(&mut self) -> anyhow::Result<Value> {
        if let Some(p) = self.pushes.pop_front() {
            return Ok(p);
        }
        loop {
            let v = self.next_frame().await?;
            if v["push"] == "presence" {
                self.presences.push_back(v);
            } else if v.get("push").is_some() {
                return Ok(v);
            }
        }
    }

    /// The next `presence` push (buffered or arriving within [`PATIENCE`]); other pushes that
    /// arrive meanwhile are kept for [`Socket::push`].
    pub async fn presence(&mut self) -> anyhow::Result<Value> {
        if let Some(p) = self.presences.pop_front() {
            return Ok(p);
        }
        loop {
            let v = self.next_frame().await?;
            if v["push"] == "presence" {
                return Ok(v);
            } else if v.get("push").is_some() {
                self.pushes.push_back(v);
            }
        }
    }

    /// Whether a `presence` push arrives within `wait` (to assert that none does).
    pub async fn presence_within(&mut self, wait: Duration) -> Option<Value> {
        if let Some(p) = self.presences.pop_front() {
            return Some(p);
        }
        tokio::time::timeout(wait, self.presence()).await.ok()?.ok()
    }

    /// Whether a push arrives within `wait` (to assert that none does).
    pub async fn push_within(&mut self, wait: Duration) -> Option<Value> {
        if let Some(p) = self.pushes.pop_front() {
            return Some(p);
        }
        tokio::time::timeout(wait, self.push()).await.ok()?.ok()
    }

    /// Waits for the server to close the socket; returns the close code.
    pub async fn closed(&mut self) -> anyhow::Result<u16> {
        let wait = async {
            while let Some(frame) = self.ws.next().await {
                match frame {
                    Ok(Message::Close(Some(f))) => return Ok(u16::from(f.code)),
                    Ok(Message::Close(None)) => return Ok(u16::from(CloseCode::Status)),
                    Ok(_) => continue,
                    Err(e) => bail!("socket failed before a close frame: {e}"),
                }
            }
            bail!("socket ended without a close frame")
        };
        tokio::time::timeout(Duration::from_secs(15), wait)
            .await
            .context("no close within 15 s")?
    }

    async fn next_frame(&mut self) -> anyhow::Result<Value> {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .context("nothing arrived in time")?
                .context("socket ended")??;
            match frame {
                Message::Text(t) => return Ok(serde_json::from_str(t.as_str())?),
                Message::Close(f) => bail!("socket closed: {f:?}"),
                _ => continue,
            }
        }
    }
}

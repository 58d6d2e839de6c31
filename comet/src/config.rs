//! The comet tier's settings, with the defaults the embedded mode runs on.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct CometConfig {
    /// This node's name on the bus and in presence; unique per running node.
    pub node_id: String,
    /// How often the server pings a socket; a socket silent for two periods is closed (4008).
    pub heartbeat: Duration,
    /// How long a new socket may take to authenticate before it is closed (4001).
    pub auth_timeout: Duration,
    /// Largest WebSocket frame or message accepted; larger closes the socket with 1009.
    pub max_frame_bytes: usize,
    /// Frames waiting to be written to one socket. A socket that falls this far behind has
    /// pushes dropped and gets a `resync`: memory per socket stays bounded.
    pub outbound_queue: usize,
    /// Largest REST request body.
    pub max_body_bytes: usize,
    /// Requests per second one socket may make (with a burst of twice that).
    pub requests_per_second: u32,
    /// How often this node refreshes the presence TTL of the users it holds.
    pub presence_refresh: Duration,
    /// Send concurrent messages to logic in shared `SendMessages` calls (see [`crate::sends`]).
    /// Off when logic runs in the same process, where waiting to share a call only adds
    /// latency.
    pub batch_sends: bool,
}

impl Default for CometConfig {
    fn default() -> Self {
        Self {
            node_id: format!("comet-{}", uuid::Uuid::new_v4().simple()),
            heartbeat: Duration::from_secs(25),
            auth_timeout: Duration::from_secs(10),
            max_frame_bytes: 1024 * 1024,
            outbound_queue: 256,
            max_body_bytes: 256 * 1024,
            requests_per_second: 50,
            presence_refresh: Duration::from_secs(20),
            batch_sends: true,
        }
    }
}

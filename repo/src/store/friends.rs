//! Friend requests, friendships and blocks.

use async_trait::async_trait;

#[async_trait]
pub trait FriendStore: Send + Sync + 'static {}

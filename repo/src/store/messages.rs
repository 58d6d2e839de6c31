//! Messages and their seq.

use super::StoreError;
use async_trait::async_trait;
use natter_proto::repo::{
    AppendMessageRequest, AppendMessageResponse, ListMessagesRequest, ListMessagesResponse,
    SyncMessagesRequest,
};

#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// One transaction: if (sender, client_msg_id) is already stored, return that message with
    /// `duplicate = true` and consume no seq; otherwise take `last_seq + 1`, insert, bump the
    /// conversation's `updated_at`. `NotFound` if the conversation does not exist, `NotMember`
    /// if the sender is not a member. `member_ids` lists every member (the sender included).
    /// Seqs are 1, 2, 3, ... with no gaps, even under concurrent senders.
    async fn append_message(
        &self,
        req: AppendMessageRequest,
    ) -> Result<AppendMessageResponse, StoreError>;
    /// Newest first, seq < before_seq (before_seq <= 0: from the newest); `has_more` when older
    /// ones remain.
    async fn list_messages(
        &self,
        req: ListMessagesRequest,
    ) -> Result<ListMessagesResponse, StoreError>;
    /// Oldest first, seq > after_seq; `has_more` when newer ones remain beyond the page.
    async fn sync_messages(
        &self,
        req: SyncMessagesRequest,
    ) -> Result<ListMessagesResponse, StoreError>;
}

//! Messages and their seq, tombstones, read receipts and the replay behind StreamMessages.

use super::StoreError;
use async_trait::async_trait;
use natter_proto::repo::{
    AppendMessageRequest, AppendMessageResponse, GetMessageForRequest, ListMessagesRequest,
    ListMessagesResponse, Message, MessageFor, ReplayMessagesRequest, SyncMessagesRequest,
};

#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// Atomic per message (concurrent appends may share a transaction, see `append_batch`,
    /// but each gets exactly this answer): if (sender, client_msg_id) is already stored,
    /// return that message with `duplicate = true` and consume no seq; otherwise take
    /// `last_seq + 1`, insert, bump the conversation's `updated_at` (never backward) and unhide
    /// it for members who hid it. `NotFound` if the conversation does not exist, `NotMember` if
    /// the sender is not a member. `member_ids` lists every member (the sender included).
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
    /// The message `message_id` of the conversation; `NotFound("message")` otherwise.
    async fn get_message(
        &self,
        conversation_id: &str,
        message_id: &str,
    ) -> Result<Message, StoreError>;
    /// Turns the message into a tombstone: content "" and metadata "{}", `deleted_at = now`.
    /// Its seq stays, so history and sync keep no gap. A tombstone is answered unchanged (its
    /// first deletion time kept). `NotFound("message")` if the conversation has no such message.
    async fn delete_message(
        &self,
        conversation_id: &str,
        message_id: &str,
        now: i64,
    ) -> Result<Message, StoreError>;
    /// The message with the conversation's kind, the viewer's role and its readers (members
    /// other than the sender with `read_seq >= seq`). `NotFound("conversation")` when the
    /// conversation does not exist; `message` is None when it has no such message.
    async fn get_message_for(&self, req: GetMessageForRequest) -> Result<MessageFor, StoreError>;
    /// One page of stored messages for a stream's replay (see `ReplayMessagesRequest`);
    /// `has_more` when more remain after the page.
    async fn replay_messages(
        &self,
        req: ReplayMessagesRequest,
    ) -> Result<ListMessagesResponse, StoreError>;
}

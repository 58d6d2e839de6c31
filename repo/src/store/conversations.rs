//! Conversations and their members.

use super::StoreError;
use async_trait::async_trait;
use natter_proto::repo::{
    Conversation, CreateGroupRequest, GetOrCreateDirectRequest, GetOrCreateDirectResponse,
    ListConversationsRequest, ListConversationsResponse,
};

#[async_trait]
pub trait ConversationStore: Send + Sync + 'static {
    /// The pair's direct conversation, created (with both members) on first use.
    /// `created` is false when it already existed. The pair is unordered: (a, b) == (b, a).
    async fn get_or_create_direct(
        &self,
        req: GetOrCreateDirectRequest,
    ) -> Result<GetOrCreateDirectResponse, StoreError>;
    /// Creates a group; the owner gets role "owner", every other listed id role "member"
    /// (duplicates and the owner's own id in `member_ids` are ignored).
    async fn create_group(&self, req: CreateGroupRequest) -> Result<Conversation, StoreError>;
    /// With `viewer_id`, `NotFound` unless they are a member, and `read_seq` is theirs.
    /// `member_ids` is filled; `last_message` is the message with seq == last_seq, if any.
    async fn get_conversation(
        &self,
        conversation_id: &str,
        viewer_id: Option<&str>,
    ) -> Result<Conversation, StoreError>;
    /// The user's conversations, most recent activity first (`updated_at` desc, then id), with
    /// `member_ids`, `last_message` and the user's `read_seq`; `next_cursor` when more remain.
    /// `total_unread` sums `last_seq - read_seq` over all of the user's conversations.
    async fn list_conversations(
        &self,
        req: ListConversationsRequest,
    ) -> Result<ListConversationsResponse, StoreError>;
    /// Moves the member's read pointer forward to `min(seq, last_seq)`; never backward.
    /// Returns the pointer after the call. `NotFound` if not a member.
    async fn set_read_seq(
        &self,
        conversation_id: &str,
        user_id: &str,
        seq: i64,
    ) -> Result<i64, StoreError>;
}

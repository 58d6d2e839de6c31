//! Conversations and their members.

use super::StoreError;
use async_trait::async_trait;
use natter_proto::repo::{
    AddMembersRequest, Conversation, CreateGroupRequest, GetOrCreateDirectRequest,
    GetOrCreateDirectResponse, GroupChange, ListConversationsRequest, ListConversationsResponse,
    ListMembersRequest, ListMembersResponse, ListUserGroupsRequest, Member, RemoveMemberRequest,
    SetMemberRoleRequest, UpdateConversationRequest,
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
    /// (duplicates and the owner's own id in `member_ids` are ignored). A "created" system
    /// message is its seq 1, written in the same transaction (it is the `last_message`).
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

    // Group changes. Each runs in one transaction that also appends the system messages
    // recording it (kind "system", sender `by`, metadata {"event", "user_id", "by", ...}, a
    // short sentence as content), each taking the next seq like any message, so that a client
    // syncing the conversation sees membership changes in order with what was said around them.
    // `NotFound("conversation")` when the conversation is missing; `FailedPrecondition` when it
    // is not a group.

    /// Sets the given fields; a new name writes a "renamed" message. `FailedPrecondition` when
    /// `max_members` would fall below the member count.
    async fn update_group(&self, req: UpdateConversationRequest)
    -> Result<GroupChange, StoreError>;
    /// Adds the users not yet in the group, all or none: `FailedPrecondition("group is full")`
    /// past `max_members`, `NotFound("user")` for an unknown id. One "joined" (by == user) or
    /// "added" message per new member. The first member of an empty group becomes its owner.
    async fn add_members(&self, req: AddMembersRequest) -> Result<GroupChange, StoreError>;
    /// Removes a member ("left" when by == user, else "removed"); `NotFound("member")` if not
    /// in the group. The owner can only leave: a leaving owner hands ownership to the oldest
    /// admin, else the oldest member (by `joined_at`, then id), recorded as "role_changed".
    /// The recipients include the removed user.
    async fn remove_member(&self, req: RemoveMemberRequest) -> Result<GroupChange, StoreError>;
    /// Sets a member's role ("member", "admin", or "owner": a transfer, the old owner becomes
    /// an admin). The same role again changes nothing and writes no message. The owner's own
    /// role changes only by a transfer (`FailedPrecondition`).
    async fn set_member_role(&self, req: SetMemberRoleRequest) -> Result<GroupChange, StoreError>;
    /// `NotFound("member")` unless the user is in the conversation.
    async fn get_member(&self, conversation_id: &str, user_id: &str) -> Result<Member, StoreError>;
    /// Members ordered by user id, after `after_user_id`; `next_cursor` when more remain.
    async fn list_members(
        &self,
        req: ListMembersRequest,
    ) -> Result<ListMembersResponse, StoreError>;
    /// Hides the conversation from the member's list until its next message.
    async fn set_hidden(&self, conversation_id: &str, user_id: &str) -> Result<(), StoreError>;
    /// The groups `user_id` is in that `viewer_id` may see (all when they are the same user,
    /// else public or shared ones), by id, with the viewer's `read_seq`.
    async fn list_user_groups(
        &self,
        req: ListUserGroupsRequest,
    ) -> Result<ListConversationsResponse, StoreError>;
    /// Friends of `user_id` and members of its conversations not hidden from it, groups of
    /// more than `max_group_members` left out; distinct, by id, at most `limit`, without
    /// `user_id` itself.
    async fn list_contacts(
        &self,
        user_id: &str,
        max_group_members: i64,
        limit: i64,
    ) -> Result<Vec<String>, StoreError>;
}

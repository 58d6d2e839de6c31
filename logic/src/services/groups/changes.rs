//! Making a group change through the repo and telling the members: the system messages a
//! change wrote go out as ordinary `message` pushes (with their seq, so comet keeps them in
//! order with the rest of the conversation). No separate `members` push: the system message
//! carries `{event, user_id, by}`, and one ordered stream is simpler for clients than two.

use super::super::now_ms;
use crate::{LogicError, convert};
use natter_proto::{
    bus::Push,
    json::{self, MessageJson},
    logic::Conversation,
    repo::{self, GroupChange},
};
use tonic::{Code, Status};

/// The fields of a group a change may set (already validated).
#[derive(Default)]
pub(crate) struct Patch {
    pub(crate) name: Option<String>,
    pub(crate) avatar_url: Option<String>,
    pub(crate) is_public: Option<bool>,
    pub(crate) max_members: Option<i32>,
}

/// The repo's answer to a group write, in the client's words.
pub(crate) fn change_error(status: Status) -> LogicError {
    match (status.code(), status.message()) {
        (Code::NotFound, "member not found") => {
            LogicError::NotFound("user is not a member of this group")
        }
        (Code::NotFound, "user not found") => LogicError::invalid("a listed user does not exist"),
        (Code::NotFound, _) => LogicError::NotFound("group not found"),
        (Code::FailedPrecondition, msg) => LogicError::FailedPrecondition(msg.to_owned()),
        _ => LogicError::upstream(status),
    }
}

impl crate::Logic {
    /// Pushes `messages` (system messages, in seq order) to `recipients`, one after another so
    /// that each comet node receives them in order.
    pub(crate) async fn push_messages(&self, messages: &[repo::Message], recipients: &[String]) {
        let timeout = self.inner.config.fanout_timeout;
        for stored in messages {
            let message = convert::message(stored.clone());
            let push = Push {
                frame: json::push_frame("message", &MessageJson(&message)).into(),
                exclude_connection_id: String::new(),
                conversation_id: message.conversation_id.clone(),
                seq: message.seq,
            };
            self.inner
                .fanout
                .push(recipients.to_vec(), push, timeout)
                .await;
        }
    }

    pub(crate) async fn publish(&self, change: &GroupChange) {
        self.push_messages(&change.system_messages, &change.recipient_ids)
            .await;
    }

    /// Applies `patch` to a group the caller manages (owner or admin) and answers the group as
    /// the caller sees it.
    pub(crate) async fn update_group_as(
        &self,
        me: &str,
        id: &str,
        patch: Patch,
    ) -> Result<Conversation, LogicError> {
        self.group_access(id, me).await?.admin()?;
        let change = self
            .inner
            .repo
            .conversations
            .clone()
            .update_conversation(repo::UpdateConversationRequest {
                conversation_id: id.to_owned(),
                name: patch.name,
                avatar_url: patch.avatar_url,
                is_public: patch.is_public,
                max_members: patch.max_members,
                now: now_ms(),
                by: me.to_owned(),
            })
            .await
            .map_err(change_error)?
            .into_inner();
        self.publish(&change).await;
        self.fetch_for(id, me).await
    }

    /// Removes `user_id` from the group (`me` leaving when they are the same) and tells
    /// everyone concerned, the removed user included.
    pub(crate) async fn remove_as(
        &self,
        me: &str,
        id: &str,
        user_id: &str,
    ) -> Result<(), LogicError> {
        let change = self
            .inner
            .repo
            .conversations
            .clone()
            .remove_member(repo::RemoveMemberRequest {
                conversation_id: id.to_owned(),
                user_id: user_id.to_owned(),
                by: me.to_owned(),
                now: now_ms(),
            })
            .await
            .map_err(change_error)?
            .into_inner();
        self.publish(&change).await;
        Ok(())
    }

    /// Adds users (or the caller joining) and tells every member, the new ones included.
    pub(crate) async fn add_as(
        &self,
        me: &str,
        id: &str,
        user_ids: Vec<String>,
    ) -> Result<(), LogicError> {
        let change = self
            .inner
            .repo
            .conversations
            .clone()
            .add_members(repo::AddMembersRequest {
                conversation_id: id.to_owned(),
                user_ids,
                now: now_ms(),
                by: me.to_owned(),
            })
            .await
            .map_err(change_error)?
            .into_inner();
        self.publish(&change).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_answers_become_client_errors() {
        let full = change_error(Status::failed_precondition("group is full"));
        assert_eq!(Status::from(full).message(), "group is full");
        let gone = change_error(Status::not_found("member not found"));
        assert_eq!(Status::from(gone).code(), Code::NotFound);
        let unknown = change_error(Status::not_found("user not found"));
        assert_eq!(Status::from(unknown).code(), Code::InvalidArgument);
    }
}

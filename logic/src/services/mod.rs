//! One module per `im.logic.v1` service. Handlers parse, check, call the repo, fan out; their
//! errors are [`crate::LogicError`]s, which become statuses in one `From` impl.

mod auth;
mod conversations;
mod friends;
mod groups;
mod messages;
mod presence;
mod users;

use crate::{LogicError, convert};
use natter_proto::repo::{Conversation, GetConversationRequest};
use tonic::{Code, Status};

impl crate::Logic {
    /// The conversation, if `user_id` is a member: NOT_FOUND when it does not exist,
    /// PERMISSION_DENIED when the user is not in it.
    pub(crate) async fn member_view(
        &self,
        conversation_id: &str,
        user_id: &str,
    ) -> Result<Conversation, LogicError> {
        let req = GetConversationRequest {
            conversation_id: conversation_id.to_owned(),
            viewer_id: String::new(),
        };
        let conv = self
            .inner
            .repo
            .conversations
            .clone()
            .get_conversation(req)
            .await
            .map_err(not_found_as("conversation not found"))?
            .into_inner();
        if !conv.member_ids.iter().any(|m| m == user_id) {
            return Err(LogicError::PermissionDenied(
                "not a member of this conversation",
            ));
        }
        Ok(conv)
    }

    /// Member ids of a conversation other than `user_id`.
    pub(crate) fn others(conv: &Conversation, user_id: &str) -> Vec<String> {
        conv.member_ids
            .iter()
            .filter(|m| *m != user_id)
            .cloned()
            .collect()
    }
}

/// Maps the repo's NOT_FOUND to ours with a message for the client; anything else is upstream.
pub(crate) fn not_found_as(message: &'static str) -> impl Fn(Status) -> LogicError {
    move |status| match status.code() {
        Code::NotFound => LogicError::NotFound(message),
        _ => LogicError::upstream(status),
    }
}

pub(crate) fn now_ms() -> i64 {
    convert::now_ms()
}

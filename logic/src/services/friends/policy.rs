//! What friendship and blocks mean for the rest of the logic tier: who may open or write in a
//! direct chat, and the repo rows turned into the public shapes and pushes of this domain.

use crate::LogicError;
use natter_proto::{
    bus::Push,
    json,
    logic::{FriendRequest, FriendRequestStatus},
    repo::{self, Relation, UserPair},
};

/// A repo request row in the public shape.
pub(super) fn request(r: repo::FriendRequest) -> FriendRequest {
    let status = match r.status.as_str() {
        "accepted" => FriendRequestStatus::Accepted,
        "declined" => FriendRequestStatus::Declined,
        _ => FriendRequestStatus::Pending,
    };
    FriendRequest {
        request_id: r.request_id,
        from_user_id: r.from_user_id,
        to_user_id: r.to_user_id,
        status: status as i32,
        created_at: r.created_at,
    }
}

impl crate::Logic {
    /// Opening a direct chat with `other`: refused across a block (PERMISSION_DENIED), and
    /// between non-friends when the configuration asks for friendship (FAILED_PRECONDITION).
    /// Sending into one applies the same rule inside the repo's append (`messages.rs`).
    pub(crate) async fn check_direct_pair(&self, me: &str, other: &str) -> Result<(), LogicError> {
        let relation = self
            .inner
            .repo
            .friends
            .clone()
            .get_relation(UserPair {
                user_id: me.to_owned(),
                other_user_id: other.to_owned(),
            })
            .await
            .map_err(LogicError::upstream)?
            .into_inner();
        self.allow_direct(&relation)
    }

    fn allow_direct(&self, relation: &Relation) -> Result<(), LogicError> {
        if relation.blocked {
            return Err(LogicError::PermissionDenied("blocked"));
        }
        if self.inner.config.direct_requires_friendship && !relation.friends {
            return Err(LogicError::FailedPrecondition("you are not friends".into()));
        }
        Ok(())
    }

    /// Tells every socket of `user_id` about a change (best effort, like every push).
    pub(super) async fn push_to(&self, user_id: &str, kind: &str, data: serde_json::Value) {
        let push = Push {
            frame: json::push_frame(kind, &data).into(),
            exclude_connection_id: String::new(),
            conversation_id: String::new(),
            seq: 0,
        };
        let timeout = self.inner.config.fanout_timeout;
        self.inner
            .fanout
            .push(vec![user_id.to_owned()], push, timeout)
            .await;
    }

    /// A `friend_request` / `friend_accepted` / `friend_declined` push: `{request}`.
    pub(super) async fn push_request(&self, user_id: &str, kind: &str, r: &FriendRequest) {
        let data = serde_json::json!({ "request": json::friend_request(r) });
        self.push_to(user_id, kind, data).await;
    }
}

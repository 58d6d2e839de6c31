//! `FriendService`: friend requests, friendships and blocks. Each change that the other user
//! should see is pushed to all of their sockets; [`policy`] holds what blocks and friendship mean
//! for direct chats.

mod policy;

use super::now_ms;
use crate::{Caller, LogicError, convert, validate};
use natter_proto::logic::{
    Empty, FriendRequest, FriendRequestAction, ListBlockedResponse, ListFriendRequestsRequest,
    ListFriendRequestsResponse, ListFriendsRequest, ListFriendsResponse, RequestDirection,
    SendFriendRequestRequest, UserRef, friend_service_server::FriendService,
    send_friend_request_request::Target,
};
use natter_proto::repo::{
    self, CreateFriendRequestRequest, FriendRequestRef, GetUsersRequest, NicknameRef,
    SetFriendRequestStatusRequest, UserPair,
};
use tonic::{Code, Request, Response, Status};

const DEFAULT_PAGE: i32 = 50;
const MAX_PAGE: i32 = 200;

#[tonic::async_trait]
impl FriendService for crate::Logic {
    /// A request to someone who already asked the caller accepts theirs instead: both wanted it.
    async fn send_friend_request(
        &self,
        req: Request<SendFriendRequestRequest>,
    ) -> Result<Response<FriendRequest>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let to = self.resolve_target(req.get_ref().target.as_ref()).await?;
        if to == me.id {
            return Err(LogicError::invalid("you cannot send a friend request to yourself").into());
        }
        let stored = self
            .inner
            .repo
            .friends
            .clone()
            .create_friend_request(CreateFriendRequestRequest {
                request_id: convert::new_id(),
                from_user_id: me.id.to_owned(),
                to_user_id: to.clone(),
                created_at: now_ms(),
            })
            .await
            .map_err(|s| match s.code() {
                Code::FailedPrecondition if s.message() == "blocked" => {
                    LogicError::PermissionDenied("blocked: you cannot send this user a request")
                }
                Code::AlreadyExists if s.message() == "friendship" => {
                    LogicError::AlreadyExists("you are already friends")
                }
                Code::AlreadyExists => {
                    LogicError::AlreadyExists("a friend request to this user is already pending")
                }
                Code::NotFound => LogicError::NotFound("user not found"),
                _ => LogicError::upstream(s),
            })?
            .into_inner();
        let request = policy::request(stored);
        let kind = if request.from_user_id == me.id {
            "friend_request"
        } else {
            "friend_accepted"
        };
        self.push_request(&to, kind, &request).await;
        Ok(Response::new(request))
    }

    async fn accept_friend_request(
        &self,
        req: Request<FriendRequestAction>,
    ) -> Result<Response<FriendRequest>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let request = self
            .answer(me.id, &req.get_ref().request_id, "accepted")
            .await?;
        self.push_request(&request.from_user_id, "friend_accepted", &request)
            .await;
        Ok(Response::new(request))
    }

    async fn decline_friend_request(
        &self,
        req: Request<FriendRequestAction>,
    ) -> Result<Response<FriendRequest>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let request = self
            .answer(me.id, &req.get_ref().request_id, "declined")
            .await?;
        self.push_request(&request.from_user_id, "friend_declined", &request)
            .await;
        Ok(Response::new(request))
    }

    async fn remove_friend(&self, req: Request<UserRef>) -> Result<Response<Empty>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let other = validate::id(&req.get_ref().user_id, "user_id")?;
        self.inner
            .repo
            .friends
            .clone()
            .remove_friend(pair(me.id, other))
            .await
            .map_err(super::not_found_as("you are not friends with this user"))?;
        let data = serde_json::json!({ "user_id": me.id });
        self.push_to(other, "friend_removed", data).await;
        Ok(Response::new(Empty {}))
    }

    async fn list_friends(
        &self,
        req: Request<ListFriendsRequest>,
    ) -> Result<Response<ListFriendsResponse>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let req = req.get_ref();
        let limit = match req.limit {
            0 => DEFAULT_PAGE,
            1..=MAX_PAGE => req.limit,
            _ => return Err(LogicError::invalid("limit must be between 1 and 200").into()),
        };
        let after = req.cursor.as_deref().filter(|c| !c.is_empty());
        if after.is_some_and(|c| c.len() > 64) {
            return Err(LogicError::invalid("cursor is not valid").into());
        }
        let page = self
            .inner
            .repo
            .friends
            .clone()
            .list_friends(repo::ListFriendsRequest {
                user_id: me.id.to_owned(),
                limit,
                after_user_id: after.map(str::to_owned),
            })
            .await
            .map_err(LogicError::upstream)?
            .into_inner();
        // The cursor is the last id of the page: friends are listed in id order.
        let next_cursor = page
            .has_more
            .then(|| page.user_ids.last().cloned())
            .flatten();
        Ok(Response::new(ListFriendsResponse {
            friend_user_ids: page.user_ids,
            next_cursor,
        }))
    }

    async fn list_friend_requests(
        &self,
        req: Request<ListFriendRequestsRequest>,
    ) -> Result<Response<ListFriendRequestsResponse>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let (incoming, outgoing) = match req.get_ref().direction() {
            RequestDirection::Incoming => (true, false),
            RequestDirection::Outgoing => (false, true),
            RequestDirection::Unspecified => (true, true),
        };
        let found = self
            .inner
            .repo
            .friends
            .clone()
            .list_friend_requests(repo::ListFriendRequestsRequest {
                user_id: me.id.to_owned(),
                incoming,
                outgoing,
            })
            .await
            .map_err(LogicError::upstream)?
            .into_inner();
        Ok(Response::new(ListFriendRequestsResponse {
            requests: found.requests.into_iter().map(policy::request).collect(),
        }))
    }

    /// Also ends the friendship (the other side gets `friend_removed`) and drops pending
    /// requests between the two. Blocking twice is fine.
    async fn block_user(&self, req: Request<UserRef>) -> Result<Response<Empty>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let other = validate::id(&req.get_ref().user_id, "user_id")?;
        if other == me.id {
            return Err(LogicError::invalid("you cannot block yourself").into());
        }
        let mut friends = self.inner.repo.friends.clone();
        let were_friends = friends
            .are_friends(pair(me.id, other))
            .await
            .map_err(LogicError::upstream)?
            .into_inner()
            .value;
        friends
            .block(pair(me.id, other))
            .await
            .map_err(|s| match s.code() {
                Code::NotFound => LogicError::NotFound("user not found"),
                Code::FailedPrecondition => LogicError::FailedPrecondition(s.message().to_owned()),
                _ => LogicError::upstream(s),
            })?;
        if were_friends {
            let data = serde_json::json!({ "user_id": me.id });
            self.push_to(other, "friend_removed", data).await;
        }
        Ok(Response::new(Empty {}))
    }

    async fn unblock_user(&self, req: Request<UserRef>) -> Result<Response<Empty>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let other = validate::id(&req.get_ref().user_id, "user_id")?;
        self.inner
            .repo
            .friends
            .clone()
            .unblock(pair(me.id, other))
            .await
            .map_err(super::not_found_as("you have not blocked this user"))?;
        Ok(Response::new(Empty {}))
    }

    async fn list_blocked(
        &self,
        req: Request<Empty>,
    ) -> Result<Response<ListBlockedResponse>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let found = self
            .inner
            .repo
            .friends
            .clone()
            .list_blocked(repo::UserRef {
                user_id: me.id.to_owned(),
            })
            .await
            .map_err(LogicError::upstream)?
            .into_inner();
        Ok(Response::new(ListBlockedResponse {
            user_ids: found.users.into_iter().map(|u| u.user_id).collect(),
        }))
    }
}

fn pair(user_id: &str, other_user_id: &str) -> UserPair {
    UserPair {
        user_id: user_id.to_owned(),
        other_user_id: other_user_id.to_owned(),
    }
}

impl crate::Logic {
    /// The id of the live user a request is for: by id or by nickname, 404 if none.
    async fn resolve_target(&self, target: Option<&Target>) -> Result<String, LogicError> {
        match target {
            None => Err(LogicError::invalid("user_id or nickname is required")),
            Some(Target::Nickname(raw)) => {
                let nickname = validate::nickname(raw)?;
                let found = self
                    .inner
                    .repo
                    .friends
                    .clone()
                    .find_user_by_nickname(NicknameRef { nickname })
                    .await
                    .map_err(super::not_found_as("user not found"))?;
                Ok(found.into_inner().user_id)
            }
            Some(Target::UserId(raw)) => {
                let id = validate::id(raw, "user_id")?;
                let found = self
                    .inner
                    .repo
                    .users
                    .clone()
                    .get_users(GetUsersRequest {
                        user_ids: vec![id.to_owned()],
                    })
                    .await
                    .map_err(LogicError::upstream)?
                    .into_inner();
                if !found.users.iter().any(|u| u.user_id == id && !u.deleted) {
                    return Err(LogicError::NotFound("user not found"));
                }
                Ok(id.to_owned())
            }
        }
    }

    /// Accepts or declines a request addressed to `me`: its sender may not (403), anyone else
    /// does not learn it exists (404), and only a pending one can be answered (412).
    async fn answer(
        &self,
        me: &str,
        request_id: &str,
        status: &str,
    ) -> Result<FriendRequest, LogicError> {
        let id = validate::id(request_id, "request_id")?;
        let mut friends = self.inner.repo.friends.clone();
        let current = friends
            .get_friend_request(FriendRequestRef {
                request_id: id.to_owned(),
            })
            .await
            .map_err(super::not_found_as("friend request not found"))?
            .into_inner();
        if current.to_user_id != me {
            return Err(if current.from_user_id == me {
                LogicError::PermissionDenied("only the recipient can answer a friend request")
            } else {
                LogicError::NotFound("friend request not found")
            });
        }
        let updated = friends
            .set_friend_request_status(SetFriendRequestStatusRequest {
                request_id: id.to_owned(),
                status: status.to_owned(),
                now: now_ms(),
            })
            .await
            .map_err(|s| match s.code() {
                Code::FailedPrecondition if s.message() == "blocked" => {
                    LogicError::PermissionDenied("blocked")
                }
                Code::FailedPrecondition => LogicError::FailedPrecondition(s.message().to_owned()),
                Code::NotFound => LogicError::NotFound("friend request not found"),
                _ => LogicError::upstream(s),
            })?
            .into_inner();
        Ok(policy::request(updated))
    }
}

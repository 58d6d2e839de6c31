//! GroupService: groups are conversations with an owner, admins and members.
//!
//! Roles rank owner > admin > member. The owner and admins manage the group (settings, adding
//! and removing members: an admin removes members, only the owner removes admins, nobody
//! removes the owner); only the owner changes roles. Public groups can be looked at and joined
//! by anyone; their messages, like any conversation's, are for members only. Every change is
//! recorded by the repo as system messages in the conversation (see [`changes`]).

mod access;
mod changes;

pub(crate) use access::{avatar_url, cursor, member, page_limit};
pub(crate) use changes::Patch;

use super::now_ms;
use crate::{Caller, LogicError, convert, validate};
use natter_proto::{
    logic::{
        AddMembersRequest, Conversation, CreateGroupRequest, Empty, GroupRef, ListMembersRequest,
        ListMembersResponse, ListUserGroupsRequest, ListUserGroupsResponse, Member, MemberRole,
        RemoveMemberRequest, SetMemberRoleRequest, UpdateGroupRequest,
        group_service_server::GroupService,
    },
    repo::{self, GetUsersRequest},
};
use std::collections::BTreeSet;
use tonic::{Request, Response, Status};

/// `max_members`, when given: 2 to 10,000.
fn max_members(raw: Option<i32>) -> Result<Option<i32>, LogicError> {
    match raw {
        Some(m) if !(2..=validate::DEFAULT_MAX_MEMBERS).contains(&m) => Err(LogicError::invalid(
            "max_members must be between 2 and 10000",
        )),
        other => Ok(other),
    }
}

/// Distinct, well-formed user ids.
fn user_ids(raw: &[String], field: &'static str) -> Result<BTreeSet<String>, LogicError> {
    raw.iter()
        .map(|id| validate::id(id, field).map(str::to_owned))
        .collect()
}

#[tonic::async_trait]
impl GroupService for crate::Logic {
    async fn create_group(
        &self,
        req: Request<CreateGroupRequest>,
    ) -> Result<Response<Conversation>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let req = req.get_ref();
        let name = validate::group_name(&req.name)?;
        let max_members = max_members(req.max_members)?.unwrap_or(validate::DEFAULT_MAX_MEMBERS);
        let avatar_url = access::avatar_url(req.avatar_url.as_deref().unwrap_or_default())?;
        let mut members = user_ids(&req.member_ids, "member_ids entry")?;
        members.remove(me.id);
        if members.len() + 1 > max_members as usize {
            return Err(LogicError::invalid(format!(
                "{} members exceed max_members ({max_members})",
                members.len() + 1
            ))
            .into());
        }
        let wanted: Vec<String> = members.into_iter().collect();
        self.require_users(&wanted).await?;
        let conv = self
            .inner
            .repo
            .conversations
            .clone()
            .create_group(repo::CreateGroupRequest {
                conversation_id: convert::new_id(),
                owner_id: me.id.to_owned(),
                name,
                member_ids: wanted,
                max_members,
                is_public: req.is_public,
                avatar_url,
                now: now_ms(),
            })
            .await
            .map_err(LogicError::upstream)?
            .into_inner();
        // Seq 1, "created": every member learns of the group from it.
        if let Some(created) = &conv.last_message {
            self.push_messages(std::slice::from_ref(created), &conv.member_ids)
                .await;
        }
        Ok(Response::new(convert::conversation(conv)))
    }

    /// Members see the group with their read pointer; anyone may look at a public group.
    async fn get_group(&self, req: Request<GroupRef>) -> Result<Response<Conversation>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let id = validate::id(&req.get_ref().group_id, "group_id")?;
        let access = self.group_access(id, me.id).await?;
        access.visible()?;
        let conv = match access.role {
            Some(_) => self.fetch_for(id, me.id).await?,
            None => convert::conversation(access.conv),
        };
        Ok(Response::new(conv))
    }

    async fn update_group(
        &self,
        req: Request<UpdateGroupRequest>,
    ) -> Result<Response<Conversation>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let req = req.get_ref();
        let id = validate::id(&req.group_id, "group_id")?;
        let patch = Patch {
            name: req.name.as_deref().map(validate::group_name).transpose()?,
            avatar_url: req
                .avatar_url
                .as_deref()
                .map(access::avatar_url)
                .transpose()?,
            is_public: req.is_public,
            max_members: max_members(req.max_members)?,
        };
        Ok(Response::new(self.update_group_as(me.id, id, patch).await?))
    }

    /// Public groups only; joining a group one is already in changes nothing.
    async fn join_group(&self, req: Request<GroupRef>) -> Result<Response<Conversation>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let id = validate::id(&req.get_ref().group_id, "group_id")?;
        let access = self.group_access(id, me.id).await?;
        if access.role.is_none() {
            if !access.conv.is_public {
                return Err(LogicError::PermissionDenied(
                    "this group is not public: an admin must add you",
                )
                .into());
            }
            self.add_as(me.id, id, vec![me.id.to_owned()]).await?;
        }
        Ok(Response::new(self.fetch_for(id, me.id).await?))
    }

    async fn leave_group(&self, req: Request<GroupRef>) -> Result<Response<Empty>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let id = validate::id(&req.get_ref().group_id, "group_id")?;
        self.group_access(id, me.id).await?.member()?;
        self.remove_as(me.id, id, me.id).await?;
        Ok(Response::new(Empty {}))
    }

    async fn add_members(
        &self,
        req: Request<AddMembersRequest>,
    ) -> Result<Response<Conversation>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let req = req.get_ref();
        let id = validate::id(&req.group_id, "group_id")?;
        if req.user_ids.is_empty() || req.user_ids.len() > access::MAX_ADD {
            return Err(LogicError::invalid("user_ids must list 1 to 100 users").into());
        }
        let wanted: Vec<String> = user_ids(&req.user_ids, "user_ids entry")?
            .into_iter()
            .collect();
        self.group_access(id, me.id).await?.admin()?;
        self.require_users(&wanted).await?;
        self.add_as(me.id, id, wanted).await?;
        Ok(Response::new(self.fetch_for(id, me.id).await?))
    }

    /// Removing oneself is leaving.
    async fn remove_member(
        &self,
        req: Request<RemoveMemberRequest>,
    ) -> Result<Response<Empty>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let req = req.get_ref();
        let id = validate::id(&req.group_id, "group_id")?;
        let target = validate::id(&req.user_id, "user_id")?;
        let mine = self.group_access(id, me.id).await?.member()?;
        if target != me.id {
            if mine == MemberRole::Member {
                return Err(LogicError::PermissionDenied("members cannot remove anyone").into());
            }
            let theirs = self
                .member_role(id, target)
                .await?
                .ok_or(LogicError::NotFound("user is not a member of this group"))?;
            if theirs == MemberRole::Owner {
                return Err(LogicError::PermissionDenied("nobody can remove the owner").into());
            }
            if theirs == MemberRole::Admin && mine != MemberRole::Owner {
                return Err(
                    LogicError::PermissionDenied("only the owner can remove an admin").into(),
                );
            }
        }
        self.remove_as(me.id, id, target).await?;
        Ok(Response::new(Empty {}))
    }

    /// Owner only. MEMBER_ROLE_OWNER transfers ownership (the old owner becomes an admin).
    async fn set_member_role(
        &self,
        req: Request<SetMemberRoleRequest>,
    ) -> Result<Response<Member>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let req = req.get_ref();
        let id = validate::id(&req.group_id, "group_id")?;
        let target = validate::id(&req.user_id, "user_id")?;
        let role = match req.role() {
            MemberRole::Unspecified => {
                return Err(LogicError::invalid("role must be member, admin or owner").into());
            }
            role => natter_proto::json::role_name(role),
        };
        if self.group_access(id, me.id).await?.member()? != MemberRole::Owner {
            return Err(LogicError::PermissionDenied("only the owner can change roles").into());
        }
        let change = self
            .inner
            .repo
            .conversations
            .clone()
            .set_member_role(repo::SetMemberRoleRequest {
                conversation_id: id.to_owned(),
                user_id: target.to_owned(),
                role: role.to_owned(),
                by: me.id.to_owned(),
                now: now_ms(),
            })
            .await
            .map_err(changes::change_error)?
            .into_inner();
        self.publish(&change).await;
        let updated = change
            .member
            .ok_or_else(|| LogicError::Internal("repo returned no member".into()))?;
        Ok(Response::new(member(updated)))
    }

    /// Members of the group, or of any public group.
    async fn list_members(
        &self,
        req: Request<ListMembersRequest>,
    ) -> Result<Response<ListMembersResponse>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let req = req.get_ref();
        let id = validate::id(&req.group_id, "group_id")?;
        let limit = page_limit(req.limit)?;
        let after = cursor(req.cursor.as_deref())?;
        self.group_access(id, me.id).await?.visible()?;
        let (members, next_cursor) = self.members_page(id, limit, after).await?;
        Ok(Response::new(ListMembersResponse {
            members,
            next_cursor,
        }))
    }

    /// The caller's groups; another user's only where the caller may see them (public ones,
    /// and those they share with the caller).
    async fn list_user_groups(
        &self,
        req: Request<ListUserGroupsRequest>,
    ) -> Result<Response<ListUserGroupsResponse>, Status> {
        let caller = Caller::of(&req);
        let me = caller.user()?;
        let req = req.get_ref();
        let user_id = if req.user_id.is_empty() {
            me.id
        } else {
            validate::id(&req.user_id, "user_id")?
        };
        let limit = page_limit(req.limit)?;
        let after_id = cursor(req.cursor.as_deref())?;
        if user_id != me.id {
            self.require_user_found(user_id).await?;
        }
        let page = self
            .inner
            .repo
            .conversations
            .clone()
            .list_user_groups(repo::ListUserGroupsRequest {
                user_id: user_id.to_owned(),
                viewer_id: me.id.to_owned(),
                limit,
                after_id,
            })
            .await
            .map_err(LogicError::upstream)?
            .into_inner();
        Ok(Response::new(ListUserGroupsResponse {
            groups: page
                .conversations
                .into_iter()
                .map(convert::conversation)
                .collect(),
            next_cursor: page.next_cursor,
        }))
    }
}

impl crate::Logic {
    /// NOT_FOUND unless `user_id` is a (live) user.
    async fn require_user_found(&self, user_id: &str) -> Result<(), LogicError> {
        let found = self
            .inner
            .repo
            .users
            .clone()
            .get_users(GetUsersRequest {
                user_ids: vec![user_id.to_owned()],
            })
            .await
            .map_err(LogicError::upstream)?
            .into_inner();
        if found
            .users
            .iter()
            .any(|u| u.user_id == user_id && !u.deleted)
        {
            Ok(())
        } else {
            Err(LogicError::NotFound("user not found"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_members_is_2_to_10000_when_given() {
        assert_eq!(max_members(None).unwrap(), None);
        assert_eq!(max_members(Some(2)).unwrap(), Some(2));
        assert!(max_members(Some(1)).is_err());
        assert!(max_members(Some(10_001)).is_err());
    }
}

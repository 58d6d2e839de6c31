//! Who may do what in a group: the caller's role, the checks on it, and the reads (members,
//! users) that group handlers share with the conversation service.

use super::super::not_found_as;
use crate::LogicError;
use natter_proto::{
    logic::{Member, MemberRole},
    repo::{self, GetConversationRequest, GetUsersRequest, MemberRef},
};
use std::collections::BTreeSet;
use tonic::Code;

/// Most users one AddMembers call may add: each gets a system message in one transaction.
pub(crate) const MAX_ADD: usize = 100;
/// Longest avatar URL kept.
pub(crate) const MAX_AVATAR_URL: usize = 1024;
const DEFAULT_PAGE: i32 = 50;
const MAX_PAGE: i32 = 200;

/// The store's role names; roles rank owner > admin > member (the enum's order).
pub(crate) fn role_of(name: &str) -> MemberRole {
    match name {
        "owner" => MemberRole::Owner,
        "admin" => MemberRole::Admin,
        _ => MemberRole::Member,
    }
}

pub(crate) fn member(m: repo::Member) -> Member {
    Member {
        user_id: m.user_id,
        role: role_of(&m.role) as i32,
        joined_at: m.joined_at,
        read_seq: m.read_seq,
    }
}

/// A page size the client asked for: 0 is the default (50); beyond 200 is refused, so the
/// client learns the bound instead of getting a silently shorter page.
pub(crate) fn page_limit(limit: i32) -> Result<i32, LogicError> {
    match limit {
        0 => Ok(DEFAULT_PAGE),
        1..=MAX_PAGE => Ok(limit),
        _ => Err(LogicError::invalid("limit must be between 1 and 200")),
    }
}

/// A cursor the client got from us: an id, so bounded like one.
pub(crate) fn cursor(raw: Option<&str>) -> Result<Option<String>, LogicError> {
    match raw.filter(|c| !c.is_empty()) {
        Some(c) if c.len() > 64 => Err(LogicError::invalid("cursor is not valid")),
        other => Ok(other.map(str::to_owned)),
    }
}

/// An avatar URL: empty clears it; otherwise at most 1024 characters without spaces.
pub(crate) fn avatar_url(raw: &str) -> Result<String, LogicError> {
    crate::validate::no_nul(raw, "avatar_url")?;
    let url = raw.trim();
    if url.chars().count() > MAX_AVATAR_URL || url.chars().any(char::is_whitespace) {
        return Err(LogicError::invalid(
            "avatar_url must be at most 1024 characters without spaces",
        ));
    }
    Ok(url.to_owned())
}

/// A group as stored and the caller's role in it (`None`: not a member).
pub(crate) struct Access {
    pub(crate) conv: repo::Conversation,
    pub(crate) role: Option<MemberRole>,
}

impl Access {
    pub(crate) fn member(&self) -> Result<MemberRole, LogicError> {
        self.role
            .ok_or(LogicError::PermissionDenied("not a member of this group"))
    }

    /// Group settings and membership are managed by the owner and admins.
    pub(crate) fn admin(&self) -> Result<MemberRole, LogicError> {
        let role = self.member()?;
        if role < MemberRole::Admin {
            return Err(LogicError::PermissionDenied(
                "only the owner or an admin may do this",
            ));
        }
        Ok(role)
    }

    /// Public groups can be looked at (not read) by anyone, so they can decide to join.
    pub(crate) fn visible(&self) -> Result<(), LogicError> {
        if self.role.is_some() || self.conv.is_public {
            Ok(())
        } else {
            Err(LogicError::PermissionDenied("not a member of this group"))
        }
    }
}

impl crate::Logic {
    /// The group and the caller's role: NOT_FOUND when there is no group of that id (a direct
    /// chat is not a group).
    pub(crate) async fn group_access(&self, id: &str, me: &str) -> Result<Access, LogicError> {
        let conv = self
            .inner
            .repo
            .conversations
            .clone()
            .get_conversation(GetConversationRequest {
                conversation_id: id.to_owned(),
                viewer_id: String::new(),
            })
            .await
            .map_err(not_found_as("group not found"))?
            .into_inner();
        if conv.kind != "group" {
            return Err(LogicError::NotFound("group not found"));
        }
        let role = if conv.member_ids.iter().any(|m| m == me) {
            self.member_role(id, me).await?
        } else {
            None
        };
        Ok(Access { conv, role })
    }

    /// The user's role in the conversation; `None` if not a member.
    pub(crate) async fn member_role(
        &self,
        id: &str,
        user_id: &str,
    ) -> Result<Option<MemberRole>, LogicError> {
        let found = self
            .inner
            .repo
            .conversations
            .clone()
            .get_member(MemberRef {
                conversation_id: id.to_owned(),
                user_id: user_id.to_owned(),
            })
            .await;
        match found {
            Ok(m) => Ok(Some(role_of(&m.into_inner().role))),
            Err(s) if s.code() == Code::NotFound => Ok(None),
            Err(s) => Err(LogicError::upstream(s)),
        }
    }

    /// INVALID_ARGUMENT naming the first id that is no (live) user.
    pub(crate) async fn require_users(&self, ids: &[String]) -> Result<(), LogicError> {
        if ids.is_empty() {
            return Ok(());
        }
        let found = self
            .inner
            .repo
            .users
            .clone()
            .get_users(GetUsersRequest {
                user_ids: ids.to_vec(),
            })
            .await
            .map_err(LogicError::upstream)?
            .into_inner();
        let known: BTreeSet<_> = found
            .users
            .iter()
            .filter(|u| !u.deleted)
            .map(|u| u.user_id.as_str())
            .collect();
        match ids.iter().find(|id| !known.contains(id.as_str())) {
            Some(missing) => Err(LogicError::invalid(format!(
                "user {missing} does not exist"
            ))),
            None => Ok(()),
        }
    }

    /// One page of a conversation's members, by user id.
    pub(crate) async fn members_page(
        &self,
        id: &str,
        limit: i32,
        cursor: Option<String>,
    ) -> Result<(Vec<Member>, Option<String>), LogicError> {
        let page = self
            .inner
            .repo
            .conversations
            .clone()
            .list_members(repo::ListMembersRequest {
                conversation_id: id.to_owned(),
                limit,
                after_user_id: cursor,
            })
            .await
            .map_err(LogicError::upstream)?
            .into_inner();
        Ok((
            page.members.into_iter().map(member).collect(),
            page.next_cursor,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_rank_owner_over_admin_over_member() {
        assert!(role_of("owner") > role_of("admin"));
        assert!(role_of("admin") > role_of("member"));
        assert_eq!(role_of("anything else"), MemberRole::Member);
    }

    #[test]
    fn page_limits_default_and_are_bounded() {
        assert_eq!(page_limit(0).unwrap(), 50);
        assert_eq!(page_limit(200).unwrap(), 200);
        assert!(page_limit(201).is_err());
        assert!(page_limit(-1).is_err());
    }

    #[test]
    fn avatar_urls_are_bounded_and_may_be_cleared() {
        assert_eq!(avatar_url("").unwrap(), "");
        assert!(avatar_url("https://x.org/a.png").is_ok());
        assert!(avatar_url("https://x.org/a b.png").is_err());
        assert!(avatar_url(&"a".repeat(1025)).is_err());
    }
}

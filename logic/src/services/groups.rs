use super::now_ms;
use crate::{Caller, LogicError, convert, validate};
use natter_proto::{
    logic::{Conversation, CreateGroupRequest, group_service_server::GroupService},
    repo::{self, GetUsersRequest},
};
use std::collections::BTreeSet;
use tonic::{Request, Response, Status};

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
        let max_members = req.max_members.unwrap_or(validate::DEFAULT_MAX_MEMBERS);
        if !(2..=validate::DEFAULT_MAX_MEMBERS).contains(&max_members) {
            return Err(LogicError::invalid("max_members must be between 2 and 10000").into());
        }
        let mut members = BTreeSet::new();
        for id in &req.member_ids {
            members.insert(validate::id(id, "member_ids entry")?.to_owned());
        }
        members.remove(me.id);
        if members.len() + 1 > max_members as usize {
            return Err(LogicError::invalid(format!(
                "{} members exceed max_members ({max_members})",
                members.len() + 1
            ))
            .into());
        }
        let wanted: Vec<String> = members.into_iter().collect();
        if !wanted.is_empty() {
            let mut users = self.inner.repo.users.clone();
            let found = users
                .get_users(GetUsersRequest {
                    user_ids: wanted.clone(),
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
            if let Some(missing) = wanted.iter().find(|id| !known.contains(id.as_str())) {
                return Err(LogicError::invalid(format!("member {missing} does not exist")).into());
            }
        }
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
                avatar_url: req.avatar_url.clone().unwrap_or_default(),
                now: now_ms(),
            })
            .await
            .map_err(LogicError::upstream)?
            .into_inner();
        Ok(Response::new(convert::conversation(conv)))
    }
}

//! `im.logic.v1.UserService`: profiles, user search and account deletion.
//!
//! Profiles are public to any signed-in user (search exists to find people); only the owner
//! changes or deletes theirs. A deleted account keeps its row, so its messages still name their
//! sender; the profile then says `deleted` and carries no personal data.

use crate::{Caller, LogicError, validate};
use natter_proto::{
    logic::{
        BatchGetProfilesRequest, BatchGetProfilesResponse, Empty, GetProfileRequest, Profile,
        SearchUsersRequest, SearchUsersResponse, UpdateProfileRequest,
        user_service_server::UserService,
    },
    repo::{self, DeleteUserRequest, GetUsersRequest, UpdateUserRequest},
};
use std::collections::HashMap;
use tonic::{Code, Request, Response, Status};

pub const MAX_BATCH: usize = 100;
pub const MAX_BIO_CHARS: usize = 500;
pub const MAX_AVATAR_URL_CHARS: usize = 2048;
pub const MAX_SEARCH_LIMIT: i32 = 50;
pub const DEFAULT_SEARCH_LIMIT: i32 = 20;
/// Deleted accounts get `deleted_<12 hex>`; nobody may choose a nickname that could collide.
pub const DELETED_PREFIX: &str = "deleted_";

/// The public face of a stored user.
pub(crate) fn profile(u: repo::User) -> Profile {
    Profile {
        user_id: u.user_id,
        nickname: u.nickname,
        bio: u.bio,
        avatar_url: u.avatar_url,
        created_at: u.created_at,
        is_guest: u.is_guest,
        deleted: u.deleted,
    }
}

/// A nickname a person picks: the protocol's pattern, minus the prefix deleted accounts use.
pub(crate) fn chosen_nickname(raw: &str) -> Result<String, LogicError> {
    let nickname = validate::nickname(raw)?;
    if nickname.starts_with(DELETED_PREFIX) {
        return Err(LogicError::invalid(
            "nicknames starting with deleted_ are reserved",
        ));
    }
    Ok(nickname)
}

/// At most 500 characters.
fn bio(raw: &str) -> Result<String, LogicError> {
    validate::no_nul(raw, "bio")?;
    if raw.chars().count() > MAX_BIO_CHARS {
        return Err(LogicError::invalid("bio must be at most 500 characters"));
    }
    Ok(raw.to_owned())
}

/// Empty (no avatar), or an http(s) URL of at most 2048 characters: clients render it, so no
/// `javascript:` or `data:` URLs.
fn avatar_url(raw: &str) -> Result<String, LogicError> {
    validate::no_nul(raw, "avatar_url")?;
    let url = raw.trim();
    if url.is_empty() {
        return Ok(String::new());
    }
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    let ok = url.chars().count() <= MAX_AVATAR_URL_CHARS
        && rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(url.to_owned())
    } else {
        Err(LogicError::invalid(
            "avatar_url must be an http(s) URL of at most 2048 characters",
        ))
    }
}

/// A search query: a nickname prefix, lower-cased, 1 to 20 characters of a-z, 0-9 and _.
fn search_query(raw: &str) -> Result<String, LogicError> {
    let query = raw.trim().to_lowercase();
    let ok = (1..=20).contains(&query.len())
        && query
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(query)
    } else {
        Err(LogicError::invalid(
            "query must be 1 to 20 characters of a-z, 0-9 and _",
        ))
    }
}

/// 0 means the default; otherwise 1 to 50.
fn search_limit(raw: i32) -> Result<i32, LogicError> {
    match raw {
        0 => Ok(DEFAULT_SEARCH_LIMIT),
        1..=MAX_SEARCH_LIMIT => Ok(raw),
        _ => Err(LogicError::invalid("limit must be 1 to 50")),
    }
}

/// The nickname a deleted account takes: unique (from its id), and free for no one to pick.
fn deleted_nickname(user_id: &str) -> String {
    let hex: String = user_id.chars().filter(char::is_ascii_hexdigit).collect();
    // UUIDv7 ids start with a timestamp: the tail is the random part.
    let tail = &hex[hex.len().saturating_sub(12)..];
    format!("{DELETED_PREFIX}{}", tail.to_ascii_lowercase())
}

impl crate::Logic {
    /// Users by id (deleted ones included, flagged), in no particular order.
    async fn users_by_id(&self, user_ids: Vec<String>) -> Result<Vec<repo::User>, LogicError> {
        Ok(self
            .inner
            .repo
            .users
            .clone()
            .get_users(GetUsersRequest { user_ids })
            .await
            .map_err(LogicError::upstream)?
            .into_inner()
            .users)
    }

    async fn one_profile(&self, user_id: &str) -> Result<Profile, LogicError> {
        let found = self.users_by_id(vec![user_id.to_owned()]).await?;
        let user = found
            .into_iter()
            .next()
            .ok_or(LogicError::NotFound("user not found"))?;
        Ok(profile(user))
    }

    /// Soft-deletes the user; a nickname collision (only possible with data older than the
    /// reserved prefix) retries once with a random suffix.
    async fn delete_user(&self, user_id: &str) -> Result<Vec<String>, LogicError> {
        let mut users = self.inner.repo.users.clone();
        let mut nickname = deleted_nickname(user_id);
        for attempt in 0..2 {
            let req = DeleteUserRequest {
                user_id: user_id.to_owned(),
                deleted_nickname: nickname.clone(),
                now: crate::convert::now_ms(),
            };
            match users.delete_user(req).await {
                Ok(out) => return Ok(out.into_inner().session_ids),
                Err(s) if s.code() == Code::AlreadyExists && attempt == 0 => {
                    nickname = deleted_nickname(&uuid::Uuid::new_v4().simple().to_string());
                }
                Err(s) if s.code() == Code::NotFound => {
                    return Err(LogicError::NotFound("user not found"));
                }
                Err(s) => return Err(LogicError::upstream(s)),
            }
        }
        Err(LogicError::Internal(
            "deleted nickname collided twice".into(),
        ))
    }
}

#[tonic::async_trait]
impl UserService for crate::Logic {
    async fn get_profile(
        &self,
        req: Request<GetProfileRequest>,
    ) -> Result<Response<Profile>, Status> {
        Caller::of(&req).user()?;
        let user_id = validate::id(&req.get_ref().user_id, "user_id")?;
        Ok(Response::new(self.one_profile(user_id).await?))
    }

    async fn batch_get_profiles(
        &self,
        req: Request<BatchGetProfilesRequest>,
    ) -> Result<Response<BatchGetProfilesResponse>, Status> {
        Caller::of(&req).user()?;
        let ids = req.into_inner().user_ids;
        if ids.len() > MAX_BATCH {
            return Err(LogicError::invalid("at most 100 user_ids per call").into());
        }
        for id in &ids {
            validate::id(id, "every user_id")?;
        }
        let mut found: HashMap<String, repo::User> = self
            .users_by_id(ids.clone())
            .await?
            .into_iter()
            .map(|u| (u.user_id.clone(), u))
            .collect();
        // In the order asked, once each; unknown ids are left out.
        let profiles = ids
            .iter()
            .filter_map(|id| found.remove(id))
            .map(profile)
            .collect();
        Ok(Response::new(BatchGetProfilesResponse { profiles }))
    }

    async fn update_profile(
        &self,
        req: Request<UpdateProfileRequest>,
    ) -> Result<Response<Profile>, Status> {
        let caller = Caller::of(&req);
        let user_id = caller.user()?.id.to_owned();
        let req = req.into_inner();
        let update = UpdateUserRequest {
            user_id: user_id.clone(),
            nickname: req.nickname.as_deref().map(chosen_nickname).transpose()?,
            bio: req.bio.as_deref().map(bio).transpose()?,
            avatar_url: req.avatar_url.as_deref().map(avatar_url).transpose()?,
            email: None,
            password_hash: None,
        };
        if update.nickname.is_none() && update.bio.is_none() && update.avatar_url.is_none() {
            return Ok(Response::new(self.one_profile(&user_id).await?));
        }
        let mut users = self.inner.repo.users.clone();
        match users.update_user(update).await {
            Ok(user) => Ok(Response::new(profile(user.into_inner()))),
            Err(s) if s.code() == Code::AlreadyExists => {
                Err(LogicError::AlreadyExists("nickname is already taken").into())
            }
            Err(s) if s.code() == Code::NotFound => {
                Err(LogicError::NotFound("user not found").into())
            }
            Err(s) => Err(LogicError::upstream(s).into()),
        }
    }

    async fn search_users(
        &self,
        req: Request<SearchUsersRequest>,
    ) -> Result<Response<SearchUsersResponse>, Status> {
        Caller::of(&req).user()?;
        let req = req.into_inner();
        let prefix = search_query(&req.query)?;
        let limit = search_limit(req.limit)?;
        // The cursor is the last nickname of the previous page.
        let after_nickname = match req.cursor.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => {
                Some(validate::nickname(c).map_err(|_| LogicError::invalid("invalid cursor"))?)
            }
            None => None,
        };
        let search = repo::SearchUsersRequest {
            prefix,
            limit: limit + 1,
            after_nickname,
        };
        let mut users = self
            .inner
            .repo
            .users
            .clone()
            .search_users(search)
            .await
            .map_err(LogicError::upstream)?
            .into_inner()
            .users;
        let more = users.len() > limit as usize;
        users.truncate(limit as usize);
        let next_cursor = more
            .then(|| users.last().map(|u| u.nickname.clone()))
            .flatten();
        Ok(Response::new(SearchUsersResponse {
            results: users.into_iter().map(profile).collect(),
            next_cursor,
        }))
    }

    async fn delete_account(&self, req: Request<Empty>) -> Result<Response<Empty>, Status> {
        let caller = Caller::of(&req);
        let user_id = caller.user()?.id.to_owned();
        let mut sessions = self.delete_user(&user_id).await?;
        // The calling session is among them; kept explicit in case it was revoked already.
        if let Some(own) = caller.session_id.clone().filter(|s| !sessions.contains(s)) {
            sessions.push(own);
        }
        tracing::info!(%user_id, sessions = sessions.len(), "account deleted");
        self.end_sessions(user_id, sessions).await;
        Ok(Response::new(Empty {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avatar_urls_must_be_http_or_https() {
        assert_eq!(avatar_url("").unwrap(), "");
        assert!(avatar_url("https://example.org/a.png").is_ok());
        assert!(avatar_url("HTTP://example.org/a.png").is_ok());
        let long = format!("https://example.org/{}", "a".repeat(2048));
        for bad in [
            "javascript:alert(1)",
            "ftp://example.org/a",
            "https://",
            "https:///path",
            "https://exa mple.org",
            "example.org/a.png",
            long.as_str(),
        ] {
            assert!(avatar_url(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn bios_and_search_input_are_bounded() {
        assert!(bio(&"é".repeat(500)).is_ok());
        assert!(bio(&"x".repeat(501)).is_err());
        assert_eq!(search_query(" Ann ").unwrap(), "ann");
        assert!(search_query("").is_err() && search_query("a-b").is_err());
        assert_eq!(search_limit(0).unwrap(), DEFAULT_SEARCH_LIMIT);
        assert!(search_limit(50).is_ok());
        assert!(search_limit(51).is_err() && search_limit(-1).is_err());
    }

    #[test]
    fn deleted_nicknames_are_valid_unique_and_reserved() {
        let id = "0190a5b4-7c3e-7d21-9f00-1234567890ab";
        let nick = deleted_nickname(id);
        assert_eq!(nick, "deleted_1234567890ab");
        assert!(validate::nickname(&nick).is_ok());
        assert!(chosen_nickname(&nick).is_err());
        assert!(chosen_nickname("ann").is_ok());
    }
}

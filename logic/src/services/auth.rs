//! `im.logic.v1.AuthService`: accounts, sessions and tokens, logout, guest upgrade, and the
//! access check backend services ask before acting in a conversation.

use super::users::{chosen_nickname, profile};
use crate::{Caller, LogicError, convert, passwords, validate};
use natter_proto::{
    access::AccessClaims,
    logic::{
        CheckAccessRequest, CheckAccessResponse, Empty, GuestLoginRequest, LoginRequest,
        MemberRole, Profile, RefreshRequest, RegisterRequest, Tokens, UpgradeGuestRequest,
        ValidateTokenRequest, ValidateTokenResponse, VerifyingKey,
        auth_service_server::AuthService,
    },
    repo::{
        self, Conversation, CreateSessionRequest, CreateUserRequest, GetUserByEmailRequest,
        GetUsersRequest, MemberRef, RotateOutcome, RotateRefreshTokenRequest, SessionRef,
    },
};
use sha2::{Digest, Sha256};
use tonic::{Code, Request, Response, Status};

impl crate::Logic {
    /// Opens a session for `user_id` on `device_id` and issues its first token pair.
    async fn open_session(&self, user_id: String, device_id: String) -> Result<Tokens, LogicError> {
        let session_id = convert::new_id();
        let refresh = new_refresh_token();
        let now = convert::now_ms();
        let req = CreateSessionRequest {
            session_id: session_id.clone(),
            user_id: user_id.clone(),
            device_id,
            refresh_token_hash: hash_refresh(&refresh),
            created_at: now,
            refresh_expires_at: now + self.inner.config.refresh_ttl.as_millis() as i64,
        };
        let mut sessions = self.inner.repo.sessions.clone();
        sessions
            .create_session(req)
            .await
            .map_err(LogicError::upstream)?;
        Ok(self.tokens(user_id, session_id, refresh))
    }

    fn tokens(&self, user_id: String, session_id: String, refresh_token: String) -> Tokens {
        let ttl = self.inner.config.access_ttl.as_secs() as i64;
        let iat = convert::now_ms() / 1000;
        let claims = AccessClaims {
            sub: user_id.clone(),
            sid: session_id.clone(),
            iat,
            exp: iat + ttl,
        };
        Tokens {
            user_id,
            access_token: self.inner.keys.sign(&claims),
            refresh_token,
            expires_in: ttl,
            session_id,
        }
    }

    async fn create_user(&self, req: CreateUserRequest) -> Result<String, LogicError> {
        let mut users = self.inner.repo.users.clone();
        match users.create_user(req).await {
            Ok(user) => Ok(user.into_inner().user_id),
            Err(s) if s.code() == Code::AlreadyExists && s.message() == "email" => {
                Err(LogicError::AlreadyExists("email is already registered"))
            }
            Err(s) if s.code() == Code::AlreadyExists => {
                Err(LogicError::AlreadyExists("nickname is already taken"))
            }
            Err(s) => Err(LogicError::upstream(s)),
        }
    }

    /// Marks sessions revoked on this instance at once (others learn it by polling) and
    /// closes their sockets on every comet node with 4003.
    pub(crate) async fn end_sessions(&self, user_id: String, session_ids: Vec<String>) {
        let now = convert::now_ms();
        for id in &session_ids {
            self.inner.revocations.insert(id.clone(), now);
        }
        self.inner.fanout.kick(user_id, session_ids, 4003).await;
    }

    /// The caller's role in `conv`. Admins are known only to the member row (GetMember); until
    /// the repo serves it, the owner is told apart by the conversation's owner_id.
    async fn role_in(&self, conv: &Conversation, user_id: &str) -> Result<MemberRole, LogicError> {
        let req = MemberRef {
            conversation_id: conv.conversation_id.clone(),
            user_id: user_id.to_owned(),
        };
        let mut conversations = self.inner.repo.conversations.clone();
        let role = match conversations.get_member(req).await {
            Ok(member) => member.into_inner().role,
            Err(s) if s.code() == Code::NotFound => {
                return Err(LogicError::PermissionDenied(
                    "not a member of this conversation",
                ));
            }
            Err(s) => return Err(LogicError::upstream(s)),
        };
        Ok(match role.as_str() {
            "owner" => MemberRole::Owner,
            "admin" => MemberRole::Admin,
            _ => MemberRole::Member,
        })
    }
}

/// What CheckAccess can be asked about.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Action {
    Read,
    Write,
    Admin,
}

impl Action {
    fn parse(raw: &str) -> Result<Self, LogicError> {
        match raw {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "admin" => Ok(Self::Admin),
            other => Err(LogicError::invalid(format!(
                "action must be read, write or admin, not {other:?}"
            ))),
        }
    }

    /// Every member reads and writes; administering needs an admin or the owner.
    fn allowed_for(self, role: MemberRole) -> bool {
        match self {
            Self::Read | Self::Write => true,
            Self::Admin => matches!(role, MemberRole::Admin | MemberRole::Owner),
        }
    }
}

fn not_a_guest() -> LogicError {
    LogicError::FailedPrecondition("only a guest account can be upgraded".into())
}

/// 256 random bits (two v4 UUIDs' worth of the OS CSPRNG), hex.
fn new_refresh_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Refresh tokens are stored only as this hash: a leaked table cannot be replayed.
fn hash_refresh(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A nickname for an account that did not choose one; matches `^[a-z0-9_]{3,20}$`.
fn generated_nickname(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

#[tonic::async_trait]
impl AuthService for crate::Logic {
    async fn register(&self, req: Request<RegisterRequest>) -> Result<Response<Tokens>, Status> {
        let req = req.into_inner();
        let email = validate::email(&req.email)?;
        validate::password(&req.password)?;
        let nickname = match req.nickname.as_deref() {
            Some(n) => chosen_nickname(n)?,
            None => generated_nickname("user"),
        };
        let device_id = validate::device_id(req.device_id.as_deref())?;
        let password_hash = passwords::hash(req.password).await?;
        let user_id = self
            .create_user(CreateUserRequest {
                user_id: convert::new_id(),
                email: Some(email),
                password_hash,
                nickname,
                is_guest: false,
                created_at: convert::now_ms(),
            })
            .await?;
        Ok(Response::new(self.open_session(user_id, device_id).await?))
    }

    async fn login(&self, req: Request<LoginRequest>) -> Result<Response<Tokens>, Status> {
        let req = req.into_inner();
        const WRONG: LogicError = LogicError::Unauthenticated("wrong email or password");
        let device_id = validate::device_id(req.device_id.as_deref())?;
        let email = validate::email(&req.email).map_err(|_| WRONG)?;
        let mut users = self.inner.repo.users.clone();
        let user = match users
            .get_user_by_email(GetUserByEmailRequest { email })
            .await
        {
            Ok(user) => Some(user.into_inner()),
            Err(s) if s.code() == Code::NotFound => None,
            Err(s) => return Err(LogicError::upstream(s).into()),
        };
        let phc = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_default();
        if !passwords::verify(req.password, phc).await? {
            return Err(WRONG.into());
        }
        let user = user.ok_or(WRONG)?;
        Ok(Response::new(
            self.open_session(user.user_id, device_id).await?,
        ))
    }

    async fn guest_login(
        &self,
        req: Request<GuestLoginRequest>,
    ) -> Result<Response<Tokens>, Status> {
        let req = req.into_inner();
        let nickname = match req.nickname.as_deref() {
            Some(n) => chosen_nickname(n)?,
            None => generated_nickname("guest"),
        };
        let device_id = validate::device_id(req.device_id.as_deref())?;
        let user_id = self
            .create_user(CreateUserRequest {
                user_id: convert::new_id(),
                email: None,
                password_hash: String::new(),
                nickname,
                is_guest: true,
                created_at: convert::now_ms(),
            })
            .await?;
        Ok(Response::new(self.open_session(user_id, device_id).await?))
    }

    async fn refresh(&self, req: Request<RefreshRequest>) -> Result<Response<Tokens>, Status> {
        let presented = req.into_inner().refresh_token;
        if presented.is_empty() {
            return Err(LogicError::invalid("refresh_token is required").into());
        }
        let fresh = new_refresh_token();
        let now = convert::now_ms();
        let rotate = RotateRefreshTokenRequest {
            old_hash: hash_refresh(&presented),
            new_hash: hash_refresh(&fresh),
            now,
            new_expires_at: now + self.inner.config.refresh_ttl.as_millis() as i64,
        };
        let mut sessions = self.inner.repo.sessions.clone();
        let out = sessions
            .rotate_refresh_token(rotate)
            .await
            .map_err(LogicError::upstream)?
            .into_inner();
        match out.outcome() {
            RotateOutcome::Rotated => Ok(Response::new(self.tokens(
                out.user_id,
                out.session_id,
                fresh,
            ))),
            RotateOutcome::Reused => {
                tracing::warn!(session_id = %out.session_id, "refresh token reused: session revoked");
                self.end_sessions(out.user_id, vec![out.session_id]).await;
                Err(LogicError::Unauthenticated(
                    "refresh token was already used: the session is revoked",
                )
                .into())
            }
            RotateOutcome::Expired => {
                Err(LogicError::Unauthenticated("refresh token expired").into())
            }
            RotateOutcome::Revoked => {
                Err(LogicError::Unauthenticated("session was revoked").into())
            }
            _ => Err(LogicError::Unauthenticated("unknown refresh token").into()),
        }
    }

    async fn validate_token(
        &self,
        req: Request<ValidateTokenRequest>,
    ) -> Result<Response<ValidateTokenResponse>, Status> {
        let token = req.into_inner().access_token;
        let claims = self
            .inner
            .keys
            .verifier()
            .verify(&token)
            .map_err(|_| LogicError::Unauthenticated("invalid or expired access token"))?;
        if self.inner.revocations.is_revoked(&claims.sid) {
            return Err(LogicError::Unauthenticated("session was revoked").into());
        }
        let mut sessions = self.inner.repo.sessions.clone();
        let session = sessions
            .get_session(SessionRef {
                session_id: claims.sid.clone(),
            })
            .await
            .map_err(|_| LogicError::Unauthenticated("session not found"))?
            .into_inner();
        if session.revoked {
            return Err(LogicError::Unauthenticated("session was revoked").into());
        }
        Ok(Response::new(ValidateTokenResponse {
            user_id: claims.sub,
            session_id: claims.sid,
            expires_at: claims.exp * 1000,
        }))
    }

    async fn logout(&self, req: Request<Empty>) -> Result<Response<Empty>, Status> {
        let caller = Caller::of(&req);
        let user = caller.user()?;
        if user.session_id.is_empty() {
            return Err(LogicError::Unauthenticated(
                "logout needs the caller's session: call it with an access token",
            )
            .into());
        }
        let session_id = user.session_id.to_owned();
        // The session id comes from a verified token (or a comet node that verified one), so
        // it is the caller's own.
        self.inner
            .repo
            .sessions
            .clone()
            .revoke_session(SessionRef {
                session_id: session_id.clone(),
            })
            .await
            .map_err(LogicError::upstream)?;
        self.end_sessions(user.id.to_owned(), vec![session_id])
            .await;
        Ok(Response::new(Empty {}))
    }

    async fn upgrade_guest(
        &self,
        req: Request<UpgradeGuestRequest>,
    ) -> Result<Response<Profile>, Status> {
        let caller = Caller::of(&req);
        let user_id = caller.user()?.id.to_owned();
        let req = req.into_inner();
        let email = validate::email(&req.email)?;
        validate::password(&req.password)?;
        // A cheap read first, so a full account cannot make us spend an argon2 hash.
        let mut users = self.inner.repo.users.clone();
        let current = users
            .get_users(GetUsersRequest {
                user_ids: vec![user_id.clone()],
            })
            .await
            .map_err(LogicError::upstream)?
            .into_inner()
            .users;
        match current.first() {
            Some(u) if u.is_guest && !u.deleted => {}
            Some(u) if !u.deleted => return Err(not_a_guest().into()),
            _ => return Err(LogicError::NotFound("user not found").into()),
        }
        let password_hash = passwords::hash(req.password).await?;
        let upgrade = repo::UpgradeGuestRequest {
            user_id,
            email,
            password_hash,
        };
        let user = match users.upgrade_guest(upgrade).await {
            Ok(user) => user.into_inner(),
            Err(s) => {
                return Err(match s.code() {
                    Code::AlreadyExists => LogicError::AlreadyExists("email is already registered"),
                    Code::FailedPrecondition => not_a_guest(),
                    Code::NotFound => LogicError::NotFound("user not found"),
                    _ => LogicError::upstream(s),
                }
                .into());
            }
        };
        Ok(Response::new(profile(user)))
    }

    async fn check_access(
        &self,
        req: Request<CheckAccessRequest>,
    ) -> Result<Response<CheckAccessResponse>, Status> {
        let caller = Caller::of(&req);
        let user_id = caller.user()?.id.to_owned();
        let req = req.into_inner();
        let conversation_id = validate::id(&req.conversation_id, "conversation_id")?;
        let action = Action::parse(&req.action)?;
        let conv = self.member_view(conversation_id, &user_id).await?;
        let role = self.role_in(&conv, &user_id).await?;
        Ok(Response::new(CheckAccessResponse {
            allowed: action.allowed_for(role),
            role: role as i32,
        }))
    }

    async fn get_verifying_key(
        &self,
        _req: Request<Empty>,
    ) -> Result<Response<VerifyingKey>, Status> {
        Ok(Response::new(VerifyingKey {
            algorithm: "EdDSA".into(),
            public_key_pem: self.inner.keys.public_pem().to_owned(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_read_and_write_and_only_admins_and_owners_administer() {
        for role in [MemberRole::Member, MemberRole::Admin, MemberRole::Owner] {
            assert!(Action::parse("read").unwrap().allowed_for(role));
            assert!(Action::parse("write").unwrap().allowed_for(role));
        }
        let admin = Action::parse("admin").unwrap();
        assert!(!admin.allowed_for(MemberRole::Member));
        assert!(admin.allowed_for(MemberRole::Admin) && admin.allowed_for(MemberRole::Owner));
        assert!(Action::parse("delete").is_err() && Action::parse("").is_err());
    }
}

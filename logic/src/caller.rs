//! Who is calling. Every logic RPC passes through [`interceptor`], which accepts either an end
//! user's access token or the service credential (a comet node or backend service, which may
//! name the user it acts for in `x-natter-*` metadata), and leaves a [`Caller`] in the request.
//! A call made with a revoked session (its own token, or a comet node naming it) is refused
//! here, once, for every service (see [`crate::revocations`]).

use crate::{error::LogicError, revocations::Revocations};
use natter_proto::{
    ServiceToken,
    access::Verifier,
    credential::{CONNECTION_HEADER, SESSION_HEADER, USER_HEADER, bearer_of},
};
use std::sync::Arc;
use tonic::{Request, Status};

/// The identity a request was made with.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The end user, when the call is made by or for one.
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    /// The comet socket that made the call, if any.
    pub connection_id: Option<String>,
    /// The call carried the service credential.
    pub service: bool,
}

/// An authenticated end user.
pub struct User<'a> {
    pub id: &'a str,
    pub session_id: &'a str,
    pub connection_id: &'a str,
}

impl Caller {
    pub fn of<T>(req: &Request<T>) -> Caller {
        req.extensions()
            .get::<Caller>()
            .cloned()
            .unwrap_or_default()
    }

    /// A trusted tier acting for a user: what the `x-natter-*` metadata of a service call
    /// names, or one send of a comet node's `SendMessages`. Empty values are absent.
    pub fn service_for(user_id: &str, session_id: &str, connection_id: &str) -> Caller {
        let given = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        Caller {
            user_id: given(user_id),
            session_id: given(session_id),
            connection_id: given(connection_id),
            service: true,
        }
    }

    /// Refuses a call made with (or for) a session revoked since its token was issued.
    pub fn refuse_revoked(&self, revocations: &Revocations) -> Result<(), Status> {
        if let Some(session) = &self.session_id
            && revocations.is_revoked(session)
        {
            tracing::debug!(user_id = ?self.user_id, "refused a revoked session");
            return Err(Status::unauthenticated("session was revoked"));
        }
        Ok(())
    }

    /// The end user behind the call, or UNAUTHENTICATED.
    pub fn user(&self) -> Result<User<'_>, LogicError> {
        let id = self
            .user_id
            .as_deref()
            .ok_or(LogicError::Unauthenticated("an access token is required"))?;
        Ok(User {
            id,
            session_id: self.session_id.as_deref().unwrap_or_default(),
            connection_id: self.connection_id.as_deref().unwrap_or_default(),
        })
    }

    /// The call came from a trusted tier, or PERMISSION_DENIED.
    pub fn require_service(&self) -> Result<(), LogicError> {
        if self.service {
            Ok(())
        } else {
            Err(LogicError::PermissionDenied(
                "this call needs the service credential",
            ))
        }
    }
}

/// Builds the interceptor every logic service runs first.
pub fn interceptor(
    verifier: Verifier,
    token: ServiceToken,
    revocations: Arc<Revocations>,
) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |mut req: Request<()>| {
        let caller = match bearer_of(&req) {
            None => Caller::default(),
            Some(presented) if token.matches(presented) => Caller::service_for(
                header(&req, USER_HEADER),
                header(&req, SESSION_HEADER),
                header(&req, CONNECTION_HEADER),
            ),
            Some(jwt) => {
                let claims = verifier.verify(jwt).map_err(|err| {
                    tracing::debug!(%err, "refused access token");
                    Status::unauthenticated("invalid or expired access token")
                })?;
                Caller {
                    user_id: Some(claims.sub),
                    session_id: Some(claims.sid),
                    connection_id: None,
                    service: false,
                }
            }
        };
        caller.refuse_revoked(&revocations)?;
        req.extensions_mut().insert(caller);
        Ok(req)
    }
}

fn header<'r, T>(req: &'r Request<T>, name: &str) -> &'r str {
    (req.metadata().get(name)).map_or("", |v| v.to_str().unwrap_or_default())
}

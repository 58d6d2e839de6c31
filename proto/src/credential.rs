//! How tiers prove to each other that a call comes from inside the deployment.
//!
//! Every tier-to-tier call carries `authorization: Bearer <service token>`; a call made on behalf
//! of an end user adds the user's identity in `x-natter-*` metadata, which the callee trusts only
//! because the service token matched. End users calling logic directly present their JWT instead.

use std::{fmt, sync::Arc};
use tonic::{Request, Status, metadata::MetadataValue};

/// The caller's user id, set by a trusted tier calling on a user's behalf.
pub const USER_HEADER: &str = "x-natter-user";
/// The caller's session id (the login session, from the access token's `sid`).
pub const SESSION_HEADER: &str = "x-natter-session";
/// The socket that made the call, so its own push can be left out (it has the reply).
pub const CONNECTION_HEADER: &str = "x-natter-connection";

/// A shared secret between tiers. `Debug` never prints it.
#[derive(Clone)]
pub struct ServiceToken(Arc<str>);

impl ServiceToken {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(Arc::from(secret.into()))
    }

    /// A random token, for the embedded mode where every tier lives in this process.
    pub fn generate() -> Self {
        // v4 UUIDs come from the OS's CSPRNG: 244 random bits.
        Self::new(format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        ))
    }

    /// Constant-time comparison with a presented secret.
    pub fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// The `authorization` header value that carries it.
    pub fn bearer(&self) -> MetadataValue<tonic::metadata::Ascii> {
        MetadataValue::try_from(format!("Bearer {}", self.0))
            .expect("service token is printable ASCII")
    }

    /// An interceptor for tiers only other tiers may call (repo): the service token or nothing.
    pub fn require(&self) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone + use<> {
        let token = self.clone();
        move |req: Request<()>| match bearer_of(&req) {
            Some(presented) if token.matches(presented) => Ok(req),
            _ => Err(Status::unauthenticated(
                "missing or wrong service credential",
            )),
        }
    }
}

impl fmt::Debug for ServiceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServiceToken(***)")
    }
}

/// The bearer value of a request's `authorization` metadata, if any.
pub fn bearer_of<T>(req: &Request<T>) -> Option<&str> {
    req.metadata()
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

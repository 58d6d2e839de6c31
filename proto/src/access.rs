//! Access tokens: EdDSA-signed JWTs. logic signs them with the private key; comet (and logic)
//! verify them with the public key alone, so a comet node can check a socket's token without a
//! call and cannot mint one.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::{Deserialize, Serialize};

/// What an access token says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// The user id.
    pub sub: String,
    /// The login session the token belongs to; logout revokes it.
    pub sid: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
}

/// Why a token was refused. Clients see only "invalid or expired access token".
#[derive(Debug, thiserror::Error)]
#[error("invalid access token: {0}")]
pub struct InvalidToken(#[from] jsonwebtoken::errors::Error);

/// Verifies access tokens against one public key.
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl Verifier {
    /// From the PEM-encoded Ed25519 public key (SPKI), as `GetVerifyingKey` returns it.
    pub fn from_public_pem(pem: &str) -> Result<Self, InvalidToken> {
        let key = DecodingKey::from_ed_pem(pem.as_bytes())?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Self { key, validation })
    }

    pub fn verify(&self, token: &str) -> Result<AccessClaims, InvalidToken> {
        Ok(decode::<AccessClaims>(token, &self.key, &self.validation)?.claims)
    }
}

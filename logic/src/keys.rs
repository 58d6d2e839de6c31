//! The Ed25519 key that signs access tokens. Only logic holds the private half; comet fetches
//! the public half (`GetVerifyingKey`) and verifies tokens itself.

use ed25519_dalek::{
    SigningKey,
    pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding},
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use natter_proto::access::{AccessClaims, Verifier};
use std::{fmt, io, path::Path};

/// The signing key and what is derived from it. `Debug` never prints the key.
#[derive(Clone)]
pub struct SigningKeys {
    encoding: EncodingKey,
    public_pem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("key file {0} is not a PKCS#8 PEM Ed25519 private key")]
    Format(String),
}

impl SigningKeys {
    /// A fresh random key (tests, or a first start that will save it).
    pub fn generate() -> Self {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        Self::from_signing_key(&key)
    }

    /// Loads the PEM private key at `path`, or creates one there (mode 0600) if the file does not
    /// exist, so tokens stay valid across restarts.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        let io_err = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(pem) => {
                let key = SigningKey::from_pkcs8_pem(&pem)
                    .map_err(|_| KeyError::Format(path.display().to_string()))?;
                Ok(Self::from_signing_key(&key))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let key = SigningKey::generate(&mut rand::rngs::OsRng);
                let pem = key
                    .to_pkcs8_pem(LineEnding::LF)
                    .expect("Ed25519 encodes to PKCS#8");
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io_err)?;
                }
                write_private(path, pem.as_bytes()).map_err(io_err)?;
                tracing::info!(path = %path.display(), "created a new token signing key");
                Ok(Self::from_signing_key(&key))
            }
            Err(e) => Err(io_err(e)),
        }
    }

    fn from_signing_key(key: &SigningKey) -> Self {
        let der = key.to_pkcs8_der().expect("Ed25519 encodes to PKCS#8");
        let public_pem = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("Ed25519 public keys encode to SPKI");
        Self {
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            public_pem,
        }
    }

    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    pub fn verifier(&self) -> Verifier {
        Verifier::from_public_pem(&self.public_pem).expect("our own public key parses")
    }

    pub fn sign(&self, claims: &AccessClaims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), claims, &self.encoding)
            .expect("signing with a valid Ed25519 key cannot fail")
    }
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKeys(***)")
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp_offset: i64) -> AccessClaims {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        AccessClaims {
            sub: "u1".into(),
            sid: "s1".into(),
            iat: now,
            exp: now + exp_offset,
        }
    }

    #[test]
    fn a_signed_token_verifies_with_the_public_key_only() {
        let keys = SigningKeys::generate();
        let token = keys.sign(&claims(60));
        assert_eq!(keys.verifier().verify(&token).unwrap().sub, "u1");
    }

    #[test]
    fn another_key_expiry_and_tampering_are_refused() {
        let keys = SigningKeys::generate();
        let other = SigningKeys::generate();
        assert!(other.verifier().verify(&keys.sign(&claims(60))).is_err());
        assert!(keys.verifier().verify(&keys.sign(&claims(-60))).is_err());
        let mut token = keys.sign(&claims(60));
        token.replace_range(token.len() - 3.., "AAA");
        assert!(keys.verifier().verify(&token).is_err());
    }

    #[test]
    fn a_created_key_file_is_reused() {
        let dir = std::env::temp_dir().join(format!("natter-key-{}", uuid::Uuid::new_v4()));
        let path = dir.join("key.pem");
        let first = SigningKeys::load_or_create(&path).unwrap();
        let second = SigningKeys::load_or_create(&path).unwrap();
        assert_eq!(first.public_pem(), second.public_pem());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

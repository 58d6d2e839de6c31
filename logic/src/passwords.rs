//! Password hashing with argon2id (the crate's defaults: 19 MiB, 2 passes). Hashing is slow on
//! purpose, so it runs on the blocking pool and never stalls the async workers.

use crate::error::LogicError;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};

pub async fn hash(password: String) -> Result<String, LogicError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| LogicError::Internal(format!("argon2 hash: {e}")))
    })
    .await
    .map_err(|e| LogicError::Internal(format!("hash task: {e}")))?
}

/// Whether `password` matches `phc`. An empty `phc` (no such user) still costs one hash, so a
/// wrong email and a wrong password take the same time.
pub async fn verify(password: String, phc: String) -> Result<bool, LogicError> {
    tokio::task::spawn_blocking(move || {
        if phc.is_empty() {
            let _ = Argon2::default().verify_password(password.as_bytes(), dummy_hash());
            return false;
        }
        Argon2::default()
            .verify_password(password.as_bytes(), phc.as_str())
            .is_ok()
    })
    .await
    .map_err(|e| LogicError::Internal(format!("verify task: {e}")))
}

/// The argon2id hash of a random string nobody knows, used to spend equal time on unknown users.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let secret = uuid::Uuid::new_v4().to_string();
        Argon2::default()
            .hash_password(secret.as_bytes())
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_right_password_verifies_and_a_wrong_one_does_not() {
        let phc = hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify("correct horse".into(), phc.clone()).await.unwrap());
        assert!(!verify("wrong horse".into(), phc).await.unwrap());
        assert!(!verify("anything".into(), String::new()).await.unwrap());
    }
}

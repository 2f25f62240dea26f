//! Password hashing: Argon2id with OWASP's parameters (19 MiB, t=2, p=1), run on the
//! blocking pool and bounded by a semaphore so a login flood can't exhaust memory.
use std::sync::Arc;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use super::DomainError;

pub const MIN_LEN: usize = 10;
/// Longer inputs are refused before any hashing work (bytes).
pub const MAX_LEN: usize = 256;

/// A password as typed. Not `Debug`/`Serialize`, so it can't be logged or sent back.
pub struct Password(String);

impl Password {
    /// Accepts anything within the size cap (sign-in must not reveal the policy).
    pub fn presented(s: String) -> Result<Self, DomainError> {
        if s.len() > MAX_LEN {
            return Err(DomainError::Invalid(format!("Passwords are at most {MAX_LEN} bytes.")));
        }
        Ok(Password(s))
    }
    /// A new password: also enforces the minimum length.
    pub fn new_secret(s: String) -> Result<Self, DomainError> {
        if s.chars().count() < MIN_LEN {
            return Err(DomainError::Invalid(format!("Choose a password of at least {MIN_LEN} characters.")));
        }
        Self::presented(s)
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Stored PHC string. Deliberately not `Debug`/`Serialize`.
pub struct PasswordHashString(pub String);

fn argon2() -> Result<Argon2<'static>, DomainError> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| DomainError::Internal(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    /// Verified against when the account doesn't exist, so timing doesn't tell.
    dummy: Arc<String>,
}

impl Hasher {
    pub fn new(concurrency: usize) -> Result<Self, DomainError> {
        let salt = SaltString::generate(&mut OsRng);
        let dummy = argon2()?
            .hash_password(b"gatehouse-dummy-password", &salt)
            .map_err(|e| DomainError::Internal(e.to_string()))?
            .to_string();
        Ok(Self { permits: Arc::new(Semaphore::new(concurrency.max(1))), dummy: Arc::new(dummy) })
    }

    pub async fn hash(&self, pw: &Password) -> Result<PasswordHashString, DomainError> {
        let _permit = self.permits.acquire().await.map_err(|e| DomainError::Internal(e.to_string()))?;
        let pw = pw.0.clone();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2()?
                .hash_password(pw.as_bytes(), &salt)
                .map(|h| PasswordHashString(h.to_string()))
                .map_err(|e| DomainError::Internal(e.to_string()))
        })
        .await
        .map_err(|e| DomainError::Internal(e.to_string()))?
    }

    /// Verifies against `stored`, or against the dummy hash when there is none (same work).
    pub async fn verify(&self, pw: &Password, stored: Option<&str>) -> Result<bool, DomainError> {
        let _permit = self.permits.acquire().await.map_err(|e| DomainError::Internal(e.to_string()))?;
        let real = stored.is_some();
        let phc = stored.map(str::to_string).unwrap_or_else(|| self.dummy.as_ref().clone());
        let pw = pw.0.clone();
        let ok = tokio::task::spawn_blocking(move || -> Result<bool, DomainError> {
            let parsed = PasswordHash::new(&phc).map_err(|e| DomainError::Internal(e.to_string()))?;
            Ok(argon2()?.verify_password(pw.as_bytes(), &parsed).is_ok())
        })
        .await
        .map_err(|e| DomainError::Internal(e.to_string()))??;
        Ok(ok && real)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let h = Hasher::new(2).expect("hasher");
        let pw = Password::new_secret("correct horse battery".into()).expect("pw");
        let stored = h.hash(&pw).await.expect("hash");
        assert!(stored.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(h.verify(&pw, Some(&stored.0)).await.expect("verify"));
        let wrong = Password::presented("wrong horse battery".into()).expect("pw");
        assert!(!h.verify(&wrong, Some(&stored.0)).await.expect("verify"));
        // Unknown account: the dummy hash never verifies, even with its own password.
        let dummy = Password::presented("gatehouse-dummy-password".into()).expect("pw");
        assert!(!h.verify(&dummy, None).await.expect("verify"));
    }

    #[test]
    fn size_rules() {
        assert!(Password::new_secret("short".into()).is_err());
        assert!(Password::presented("x".repeat(MAX_LEN + 1)).is_err());
        assert!(Password::presented("x".repeat(MAX_LEN)).is_ok());
    }
}

//! Password hashing: Argon2id with OWASP's parameters (19 MiB, t=2, p=1) on a fixed
//! pool of workers with preallocated memory, so a login flood can't exhaust memory.
use std::sync::Arc;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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
}

/// Stored PHC string. Deliberately not `Debug`/`Serialize`.
pub struct PasswordHashString(pub String);

const M_COST_KIB: u32 = 19 * 1024;

fn params() -> Result<Params, DomainError> {
    Params::new(M_COST_KIB, 2, 1, None).map_err(|e| DomainError::Internal(e.to_string()))
}

/// One Argon2 computation, run on a worker with its own preallocated memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Argon2id on a fixed pool of worker threads, one per core, each owning its 19 MiB of
/// blocks for its whole life: no allocation or page faulting per hash, and memory is
/// `workers × 19 MiB` however many sign-ins arrive at once. Queued work is bounded by a
/// semaphore so a flood waits instead of growing the queue.
#[derive(Clone)]
pub struct Hasher {
    jobs: std::sync::mpsc::SyncSender<Job>,
    admission: Arc<Semaphore>,
    /// Verified against when there is no stored hash, so timing doesn't tell.
    dummy: Arc<String>,
}

impl Hasher {
    pub fn new(workers: usize) -> Result<Self, DomainError> {
        let workers = workers.max(1);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(workers * 4);
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let blocks = params()?.block_count();
        for i in 0..workers {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    let mut memory = vec![Block::default(); blocks];
                    loop {
                        let job = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&mut memory),
                            Err(_) => return, // every Hasher dropped
                        }
                    }
                })
                .map_err(|e| DomainError::Internal(format!("starting argon2 workers: {e}")))?;
        }
        let mut this = Self { jobs: tx, admission: Arc::new(Semaphore::new(workers * 64)), dummy: Arc::new(String::new()) };
        // A hash of a random password nobody knows, made the same way as real ones.
        let salt = SaltString::generate(&mut OsRng);
        let dummy = Argon2::new(Algorithm::Argon2id, Version::V0x13, params()?)
            .hash_password(salt.as_str().as_bytes(), &salt)
            .map_err(|e| DomainError::Internal(e.to_string()))?
            .to_string();
        this.dummy = Arc::new(dummy);
        Ok(this)
    }

    /// Runs `f` on a worker and waits for its answer.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static) -> Result<T, DomainError> {
        let _permit = self.admission.acquire().await.map_err(|e| DomainError::Internal(e.to_string()))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |mem| {
            let _ = tx.send(f(mem));
        });
        let jobs = self.jobs.clone();
        // The channel is bounded: hand the job over without blocking the async runtime.
        tokio::task::spawn_blocking(move || jobs.send(job))
            .await
            .map_err(|e| DomainError::Internal(e.to_string()))?
            .map_err(|_| DomainError::Internal("argon2 workers stopped".into()))?;
        rx.await.map_err(|_| DomainError::Internal("argon2 worker dropped a job".into()))
    }

    pub async fn hash(&self, pw: &Password) -> Result<PasswordHashString, DomainError> {
        let pw = pw.0.clone();
        self.run(move |mem| {
            let salt = SaltString::generate(&mut OsRng);
            let mut salt_bytes = [0u8; 64];
            let salt_raw = salt.as_salt().decode_b64(&mut salt_bytes).map_err(|e| DomainError::Internal(e.to_string()))?;
            let mut out = [0u8; 32];
            compute(&params()?, pw.as_bytes(), salt_raw, &mut out, mem)?;
            let output = argon2::password_hash::Output::new(&out).map_err(|e| DomainError::Internal(e.to_string()))?;
            let phc = PasswordHash {
                algorithm: argon2::ARGON2ID_IDENT,
                version: Some(Version::V0x13.into()),
                params: (&params()?).try_into().map_err(|e: argon2::password_hash::Error| DomainError::Internal(e.to_string()))?,
                salt: Some(salt.as_salt()),
                hash: Some(output),
            };
            Ok(PasswordHashString(phc.to_string()))
        })
        .await?
    }

    /// Verifies against `stored`, or against the dummy hash when there is none (same work).
    pub async fn verify(&self, pw: &Password, stored: Option<&str>) -> Result<bool, DomainError> {
        let real = stored.is_some();
        let phc = stored.map(str::to_string).unwrap_or_else(|| self.dummy.as_ref().clone());
        let pw = pw.0.clone();
        let ok = self.run(move |mem| verify_phc(pw.as_bytes(), &phc, mem)).await??;
        Ok(ok && real)
    }
}

/// Argon2id into `out`, using `mem` when it is large enough for `params`.
fn compute(params: &Params, pw: &[u8], salt: &[u8], out: &mut [u8], mem: &mut Vec<Block>) -> Result<(), DomainError> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    if mem.len() < params.block_count() {
        mem.resize(params.block_count(), Block::default());
    }
    argon.hash_password_into_with_memory(pw, salt, out, &mut mem[..params.block_count()]).map_err(|e| DomainError::Internal(e.to_string()))
}

/// Recomputes a stored PHC string's hash and compares in constant time.
fn verify_phc(pw: &[u8], phc: &str, mem: &mut Vec<Block>) -> Result<bool, DomainError> {
    let parsed = PasswordHash::new(phc).map_err(|e| DomainError::Internal(e.to_string()))?;
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return Err(DomainError::Internal(format!("unexpected password hash algorithm {}", parsed.algorithm)));
    }
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(DomainError::Internal("password hash without salt or output".into()));
    };
    let params = Params::try_from(&parsed).map_err(|e| DomainError::Internal(e.to_string()))?;
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(|e| DomainError::Internal(e.to_string()))?;
    let mut out = vec![0u8; expected.len()];
    compute(&params, pw, salt_raw, &mut out, mem)?;
    Ok(subtle::ConstantTimeEq::ct_eq(out.as_slice(), expected.as_bytes()).into())
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
        // Our worker path and the argon2 crate's own verifier agree both ways.
        use argon2::password_hash::PasswordVerifier;
        let parsed = PasswordHash::new(&stored.0).expect("phc");
        assert!(Argon2::default().verify_password(b"correct horse battery", &parsed).is_ok());
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params().expect("params"))
            .hash_password(b"correct horse battery", &SaltString::generate(&mut OsRng))
            .expect("hash")
            .to_string();
        assert!(h.verify(&pw, Some(&theirs)).await.expect("verify"));
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

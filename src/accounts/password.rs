//! Passwords: argon2id hashes (PHC strings) computed on the blocking pool, so that a login storm
//! never stalls the async runtime (DESIGN §6) — and at most one per core at a time: more would
//! only share the same cores while each holds its 19 MiB, so a storm of 32 logins would take
//! 600 MiB and answer every one of them late instead of most of them early.

use std::{
    fmt,
    sync::{Arc, OnceLock},
};

use argon2::{
    Algorithm, Argon2, Params, Version, password_hash::PasswordHasher as _, password_hash::PasswordVerifier as _,
};

use crate::config::PasswordHashing;

/// A clear-text password on its way to being hashed or checked. `Debug` never shows it.
pub struct Password(String);

impl Password {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password must not be empty")]
    Empty,
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

#[derive(Clone, Debug)]
pub struct PasswordHasher {
    params: Params,
    /// A hash of a random password with the configured cost, verified when an account does not
    /// exist so that sign-in takes the same time either way. Made on first need (or by
    /// [`PasswordHasher::prepare_decoy`]) so it does not delay start-up.
    decoy: Arc<OnceLock<String>>,
    /// One permit per core this process may run on.
    permits: Arc<tokio::sync::Semaphore>,
}

impl PasswordHasher {
    pub fn new(cost: PasswordHashing) -> Result<Self, PasswordError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| PasswordError::Hashing(e.to_string()))?;
        // The affinity mask counts (Linux): pinned to one core, one hash at a time.
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Ok(Self { params, decoy: Arc::new(OnceLock::new()), permits: Arc::new(tokio::sync::Semaphore::new(cores)) })
    }

    /// Runs one argon2 computation on the blocking pool once a core is free for it.
    async fn compute<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        // The semaphore is never closed, so acquiring fails only if it were.
        let _permit = self.permits.acquire().await.ok()?;
        tokio::task::spawn_blocking(work).await.ok()
    }

    fn decoy(params: &Params, cell: &OnceLock<String>) -> String {
        cell.get_or_init(|| {
            // Hashing a random password with valid parameters cannot fail; should it anyway, an
            // unparsable decoy still makes verification fail, which is the point.
            Self::argon2(params.clone())
                .hash_password(keys::random_id(32).as_bytes())
                .map(|hash| hash.to_string())
                .unwrap_or_default()
        })
        .clone()
    }

    /// Makes the decoy hash in the background, so the first sign-in for an unknown email does not
    /// take twice as long as one for a known email.
    pub fn prepare_decoy(&self) {
        let (params, cell) = (self.params.clone(), self.decoy.clone());
        tokio::task::spawn_blocking(move || Self::decoy(&params, &cell));
    }

    /// Spends the time of one verification, against the decoy hash.
    pub async fn verify_decoy(&self, password: Password) {
        let (params, cell) = (self.params.clone(), self.decoy.clone());
        self.compute(move || {
            let decoy = Self::decoy(&params, &cell);
            // The result is irrelevant: no password matches a random one.
            let _ = Self::argon2(params).verify_password(password.0.as_bytes(), decoy.as_str());
        })
        .await;
    }

    fn argon2(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// Hashes with a fresh random salt; returns a PHC string (`$argon2id$v=19$…`).
    pub async fn hash(&self, password: Password) -> Result<String, PasswordError> {
        if password.0.is_empty() {
            return Err(PasswordError::Empty);
        }
        let params = self.params.clone();
        self.compute(move || {
            Self::argon2(params)
                .hash_password(password.0.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|e| PasswordError::Hashing(e.to_string()))
        })
        .await
        .ok_or_else(|| PasswordError::Hashing("the hashing task did not finish".to_owned()))?
    }

    /// Checks `password` against a stored PHC string, with the parameters recorded in it.
    pub async fn verify(&self, password: Password, phc: String) -> bool {
        let params = self.params.clone();
        self.compute(move || Self::argon2(params).verify_password(password.0.as_bytes(), phc.as_str()).is_ok())
            .await
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn light() -> PasswordHasher {
        PasswordHasher::new(PasswordHashing { memory_kib: 64, iterations: 1, parallelism: 1 }).unwrap()
    }

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verifiable() {
        let hasher = light();
        let first = hasher.hash(Password::new("correct horse battery")).await.unwrap();
        let second = hasher.hash(Password::new("correct horse battery")).await.unwrap();
        assert!(first.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_ne!(first, second, "salts must differ");
        assert!(hasher.verify(Password::new("correct horse battery"), first.clone()).await);
        assert!(!hasher.verify(Password::new("wrong"), first).await);
    }

    #[tokio::test]
    async fn empty_passwords_are_refused() {
        assert!(matches!(light().hash(Password::new("")).await, Err(PasswordError::Empty)));
    }
}

//! Passwords: argon2id hashes (PHC strings) computed off the async runtime, so that a login storm
//! never stalls it (DESIGN §6), on a fixed set of threads — one per core — that take one hash at a
//! time from a queue. More at once would only share the same cores while each holds its 19 MiB;
//! and on tokio's elastic blocking pool every new thread's malloc arena kept its own 19 MiB after
//! the hash (glibc raises its mmap threshold after the first large free), which took a login
//! storm to 300 MiB.

use std::{
    fmt,
    sync::{Arc, Mutex, OnceLock, mpsc},
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
    threads: HashingThreads,
}

type Job = Box<dyn FnOnce() + Send>;

/// The threads that compute hashes, fed from one queue; they end when the last hasher is dropped.
#[derive(Clone, Debug)]
struct HashingThreads {
    jobs: mpsc::Sender<Job>,
}

impl HashingThreads {
    fn start(count: usize) -> Result<Self, PasswordError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..count {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("ferrid-argon2-{index}"))
                .spawn(move || {
                    loop {
                        // The guard is dropped at the end of the statement: the job runs unlocked.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| PasswordError::Hashing(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(Self { jobs })
    }

    /// Queues `work` and waits for its result.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(work());
            }))
            .ok()?;
        result.await.ok()
    }
}

impl PasswordHasher {
    pub fn new(cost: PasswordHashing) -> Result<Self, PasswordError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| PasswordError::Hashing(e.to_string()))?;
        // The affinity mask counts (Linux): pinned to one core, one hash at a time.
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Ok(Self { params, decoy: Arc::new(OnceLock::new()), threads: HashingThreads::start(cores)? })
    }

    /// Runs one argon2 computation once a hashing thread is free for it.
    async fn compute<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        self.threads.run(work).await
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
        let _ = self.threads.jobs.send(Box::new(move || {
            Self::decoy(&params, &cell);
        }));
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
    async fn hashes_run_on_the_fixed_hashing_threads() {
        let hasher = light();
        let names = futures_util::future::join_all(
            (0..8).map(|_| hasher.compute(|| std::thread::current().name().map(str::to_owned))),
        )
        .await;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let mut distinct: Vec<String> = names.into_iter().map(|name| name.flatten().unwrap()).collect();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.iter().all(|name| name.starts_with("ferrid-argon2-")), "{distinct:?}");
        assert!(distinct.len() <= cores, "at most one thread per core: {distinct:?}");
    }

    #[tokio::test]
    async fn empty_passwords_are_refused() {
        assert!(matches!(light().hash(Password::new("")).await, Err(PasswordError::Empty)));
    }
}

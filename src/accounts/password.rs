//! Passwords: argon2id hashes (PHC strings) computed off the async runtime, so that a login storm
//! never stalls it (DESIGN §6), on a fixed set of threads — one per core — that take one hash at a
//! time from a queue. More at once would only share the same cores while each holds its 19 MiB.
//! Each thread keeps its argon2 working memory from one hash to the next: a fresh 19 MiB per hash
//! is zeroed only to be overwritten, and glibc, which raises its mmap threshold after the first
//! large free, served those from the thread's arena and fragmented it (a login storm left
//! 160 MiB behind).

use std::{
    fmt,
    sync::{Arc, Mutex, OnceLock, mpsc},
};

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::phc::{Output, ParamsString, PasswordHash, Salt},
};
use subtle::ConstantTimeEq as _;

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

type Job = Box<dyn FnOnce(&mut Workspace) + Send>;

/// The argon2 memory of one hashing thread, reused by every hash it computes.
#[derive(Default)]
struct Workspace {
    blocks: Vec<Block>,
}

impl Workspace {
    /// The blocks `params` needs. Memory for the configured cost is kept; a stored hash of a
    /// higher cost gets memory of its own, freed after it.
    fn run<T>(&mut self, params: &Params, kept_blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
        let count = params.block_count();
        if count > kept_blocks {
            return work(&mut vec![Block::new(); count]);
        }
        if self.blocks.len() < count {
            self.blocks.resize(count, Block::new());
        }
        work(&mut self.blocks[..count])
    }
}

/// The threads that compute hashes, fed from one queue; they end when the last hasher is dropped.
#[derive(Clone, Debug)]
struct HashingThreads {
    jobs: mpsc::Sender<Job>,
}

/// The hashing threads' nice value: a request needing a fraction of a millisecond is not made
/// to wait behind a 10 ms hash on a shared core (client_credentials p99 during a login storm
/// went from 300 ms to 5 ms), while hashes still get every cycle nothing else wants. Not lower:
/// at 5 they keep about a quarter of a core that other requests saturate (10 left them a tenth).
const HASHING_NICENESS: i32 = 5;

/// Lowers the calling thread's priority to [`HASHING_NICENESS`]; best effort.
fn yield_to_request_handling() {
    // On Linux `setpriority(PRIO_PROCESS, 0)` sets the calling thread's nice value alone.
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::process::setpriority_process(None, HASHING_NICENESS) {
        tracing::warn!(%error, "cannot lower the priority of a password hashing thread");
    }
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
                    yield_to_request_handling();
                    let mut workspace = Workspace::default();
                    loop {
                        // The guard is dropped at the end of the statement: the job runs unlocked.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&mut workspace),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| PasswordError::Hashing(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(Self { jobs })
    }

    /// Queues `work` and waits for its result.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce(&mut Workspace) -> T + Send + 'static) -> Option<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |workspace: &mut Workspace| {
                let _ = done.send(work(workspace));
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
    async fn compute<T: Send + 'static>(&self, work: impl FnOnce(&mut Workspace) -> T + Send + 'static) -> Option<T> {
        self.threads.run(work).await
    }

    fn decoy(params: &Params, cell: &OnceLock<String>, workspace: &mut Workspace) -> String {
        cell.get_or_init(|| {
            // Hashing a random password with valid parameters cannot fail; should it anyway, an
            // unparsable decoy still makes verification fail, which is the point.
            hash_phc(params, keys::random_id(32).as_bytes(), workspace).unwrap_or_default()
        })
        .clone()
    }

    /// Makes the decoy hash in the background, so the first sign-in for an unknown email does not
    /// take twice as long as one for a known email. Its memory is its own and returned after it:
    /// a server nobody signs in to keeps no argon2 memory.
    pub fn prepare_decoy(&self) {
        let (params, cell) = (self.params.clone(), self.decoy.clone());
        let _ = self.threads.jobs.send(Box::new(move |_: &mut Workspace| {
            Self::decoy(&params, &cell, &mut Workspace::default());
        }));
    }

    /// Spends the time of one verification, against the decoy hash.
    pub async fn verify_decoy(&self, password: Password) {
        let (params, cell) = (self.params.clone(), self.decoy.clone());
        self.compute(move |workspace| {
            let decoy = Self::decoy(&params, &cell, workspace);
            // The result is irrelevant: no password matches a random one.
            verify_phc(&params, password.0.as_bytes(), &decoy, workspace)
        })
        .await;
    }

    /// Hashes with a fresh random salt; returns a PHC string (`$argon2id$v=19$…`).
    pub async fn hash(&self, password: Password) -> Result<String, PasswordError> {
        if password.0.is_empty() {
            return Err(PasswordError::Empty);
        }
        let params = self.params.clone();
        self.compute(move |workspace| hash_phc(&params, password.0.as_bytes(), workspace))
            .await
            .ok_or_else(|| PasswordError::Hashing("the hashing task did not finish".to_owned()))?
    }

    /// Checks `password` against a stored PHC string, with the parameters recorded in it.
    pub async fn verify(&self, password: Password, phc: String) -> bool {
        let params = self.params.clone();
        self.compute(move |workspace| verify_phc(&params, password.0.as_bytes(), &phc, workspace))
            .await
            .unwrap_or(false)
    }
}

fn hashing_error(error: impl fmt::Display) -> PasswordError {
    PasswordError::Hashing(error.to_string())
}

/// argon2id with `params` and a fresh 16-byte salt, as a PHC string.
fn hash_phc(params: &Params, password: &[u8], workspace: &mut Workspace) -> Result<String, PasswordError> {
    let salt = Salt::generate();
    let mut output = vec![0; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    workspace
        .run(params, params.block_count(), |blocks| {
            argon2.hash_password_into_with_memory(password, &salt, &mut output, blocks)
        })
        .map_err(hashing_error)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(hashing_error)?,
        salt: Some(salt),
        hash: Some(Output::new(&output).map_err(hashing_error)?),
    };
    Ok(phc.to_string())
}

/// Recomputes `phc` with its own algorithm, version, parameters and salt, and compares the
/// outputs in constant time. `configured` bounds the memory kept for later hashes.
fn verify_phc(configured: &Params, password: &[u8], phc: &str, workspace: &mut Workspace) -> bool {
    recompute_matches(configured, password, phc, workspace).unwrap_or(false)
}

/// `None` when `phc` cannot be read or recomputed.
fn recompute_matches(configured: &Params, password: &[u8], phc: &str, workspace: &mut Workspace) -> Option<bool> {
    let stored = PasswordHash::new(phc).ok()?;
    let (salt, expected) = (stored.salt.as_ref()?, stored.hash.as_ref()?);
    let algorithm = Algorithm::try_from(stored.algorithm.as_str()).ok()?;
    let version = stored.version.map_or(Ok(Version::V0x13), Version::try_from).ok()?;
    let params = Params::try_from(&stored).ok()?;
    let mut output = vec![0; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    workspace
        .run(&params, configured.block_count(), |blocks| {
            argon2.hash_password_into_with_memory(password, salt, &mut output, blocks)
        })
        .ok()?;
    Some(expected.as_bytes().ct_eq(&output).into())
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
            (0..8).map(|_| hasher.compute(|_| std::thread::current().name().map(str::to_owned))),
        )
        .await;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let mut distinct: Vec<String> = names.into_iter().map(|name| name.flatten().unwrap()).collect();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.iter().all(|name| name.starts_with("ferrid-argon2-")), "{distinct:?}");
        assert!(distinct.len() <= cores, "at most one thread per core: {distinct:?}");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_below_request_handling() {
        let caller = rustix::process::getpriority_process(None).unwrap();
        let niceness = light().compute(|_| rustix::process::getpriority_process(None)).await.unwrap();
        assert!(niceness.unwrap() >= HASHING_NICENESS);
        assert_eq!(rustix::process::getpriority_process(None).unwrap(), caller, "the caller's own is untouched");
    }

    /// The reused-memory path reads and writes the same PHC strings as the argon2 crate's own
    /// hasher and verifier, including a stored hash of another cost.
    #[tokio::test]
    async fn hashes_interoperate_with_the_argon2_crate() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = light();
        let ours = hasher.hash(Password::new("violet harbour")).await.unwrap();
        let crate_verifier = Argon2::default();
        assert!(crate_verifier.verify_password(b"violet harbour", ours.as_str()).is_ok());
        assert!(crate_verifier.verify_password(b"violet harbor", ours.as_str()).is_err());
        let costlier = Params::new(128, 2, 1, None).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, costlier)
            .hash_password(b"violet harbour")
            .unwrap()
            .to_string();
        assert!(hasher.verify(Password::new("violet harbour"), theirs.clone()).await);
        assert!(!hasher.verify(Password::new("violet harbor"), theirs).await);
        assert!(!hasher.verify(Password::new("violet harbour"), "$argon2id$v=19$m=64,t=1,p=1$bm8".into()).await);
    }

    #[tokio::test]
    async fn empty_passwords_are_refused() {
        assert!(matches!(light().hash(Password::new("")).await, Err(PasswordError::Empty)));
    }
}

//! The short-lived state port: values that live seconds to days (authorization codes, OTPs,
//! reset tokens, rate-limit counters, deny-list entries).
//!
//! One narrow interface with two implementations that pass the same conformance suite: an
//! in-process map for the embedded default and Redis for many nodes. `take` is atomic on both, so
//! a single-use value is redeemed at most once even under concurrent requests (DESIGN §7.1).

mod fallback;
mod instrumented;
mod memory;
mod redis;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;

pub use self::fallback::{FallbackStore, Outage};
pub use self::instrumented::InstrumentedStore;
pub use self::memory::MemoryStore;
pub use self::redis::RedisStore;
use super::StoreError;
use crate::config::Sensitive;

/// A fixed-window counter after an increment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    /// Increments within the current window, including this one.
    pub count: u64,
    /// Time until the window closes and the count starts again from zero.
    pub resets_in: Duration,
}

#[async_trait]
pub trait ShortLivedStore: Send + Sync {
    /// Stores `value` under `key` for `ttl`, replacing any previous value.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError>;

    /// Stores `value` only if `key` holds nothing; returns whether it was stored (e.g. to accept
    /// an assertion `jti` once).
    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError>;

    /// Reads a value without consuming it.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Reads several values in one round trip, in the order of `keys`.
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StoreError>;

    /// Removes and returns the value atomically: of N concurrent takes, exactly one gets it.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Adds one to the counter at `key`, opening a new window of length `window` if none is open.
    async fn increment(&self, key: &str, window: Duration) -> Result<Counter, StoreError> {
        let counters = self.increment_many(&[(key, window)]).await?;
        counters.into_iter().next().ok_or(StoreError::Malformed("counter"))
    }

    /// [`Self::increment`] for several counters in one atomic step (one round trip on Redis),
    /// answered in the order of `hits`: a request limited per IP and per IP + email costs one
    /// call.
    async fn increment_many(&self, hits: &[(&str, Duration)]) -> Result<Vec<Counter>, StoreError>;

    /// Whether the backend answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// The backend's name, for readiness reports and logs.
    fn backend(&self) -> &'static str;
}

/// Redis when a URL is configured, else the in-process store.
pub fn connect(redis_url: Option<&Sensitive>, key_prefix: &str) -> Result<Arc<dyn ShortLivedStore>, StoreError> {
    Ok(match redis_url {
        Some(url) => Arc::new(RedisStore::connect(url, key_prefix)?),
        None => Arc::new(MemoryStore::new()),
    })
}

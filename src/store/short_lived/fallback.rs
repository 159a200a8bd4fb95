//! The store behind rate limits and sign-in delays: Redis while it answers, this node's
//! in-process store while it does not (DESIGN §7.7, issue 8 item 1). A limiter that failed open
//! would hand an attacker every outage; one that failed closed would turn a Redis outage into a
//! sign-in outage. So counting continues locally — each node then enforces the limits on its
//! own traffic — and the outage is said once in the log (a warning when it starts, a note when
//! it ends), counted in `ferrid_rate_limit_fallback_total`, shown by the
//! `ferrid_rate_limit_degraded` gauge and by `degraded` on /ready.
//!
//! Only for counters and hints that may be lost: single-use values (codes, tokens) must never
//! fall back to one node's memory, so they use the plain store.

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;

use super::{Counter, MemoryStore, ShortLivedStore};
use crate::{metrics::Metrics, store::StoreError};

/// During an outage Redis is tried again at most this often, so requests do not each wait for
/// a connection attempt.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Whether the shared store is out, shared with readiness.
#[derive(Debug, Default)]
pub struct Outage {
    /// While out: when to try the shared store again.
    retry_at: Mutex<Option<Instant>>,
}

impl Outage {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        // One `Option` assignment per critical section: a poisoned lock still holds a valid value.
        self.retry_at.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether counting has fallen back to this node.
    pub fn is_degraded(&self) -> bool {
        self.lock().is_some()
    }

    fn should_try_shared(&self) -> bool {
        let retry_at = *self.lock();
        retry_at.is_none_or(|retry_at| Instant::now() >= retry_at)
    }

    /// Returns whether this failure started the outage.
    fn failed(&self) -> bool {
        self.lock().replace(Instant::now() + RETRY_EVERY).is_none()
    }

    /// Returns whether this success ended an outage.
    fn recovered(&self) -> bool {
        self.lock().take().is_some()
    }
}

pub struct FallbackStore {
    shared: Arc<dyn ShortLivedStore>,
    local: MemoryStore,
    outage: Arc<Outage>,
    metrics: Arc<Metrics>,
}

impl FallbackStore {
    pub fn new(shared: Arc<dyn ShortLivedStore>, metrics: Arc<Metrics>) -> Self {
        Self { shared, local: MemoryStore::new(), outage: Arc::new(Outage::default()), metrics }
    }

    pub fn outage(&self) -> Arc<Outage> {
        self.outage.clone()
    }

    /// Ends an outage, if there was one.
    fn shared_answered(&self) {
        if self.outage.recovered() {
            tracing::info!(
                backend = self.shared.backend(),
                "the shared store answers again: rate limits are shared across nodes again"
            );
            self.metrics.rate_limit_degraded(false);
        }
    }

    /// Runs `shared` unless an outage says to wait; when it fails, runs `local`.
    /// (Futures do nothing until awaited, so the one not chosen costs nothing.)
    async fn either<T>(
        &self,
        shared: impl Future<Output = Result<T, StoreError>>,
        local: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if self.outage.should_try_shared() {
            match shared.await {
                Ok(value) => {
                    self.shared_answered();
                    return Ok(value);
                }
                Err(error) => {
                    if self.outage.failed() {
                        tracing::warn!(
                            backend = self.shared.backend(),
                            %error,
                            "the shared store is unreachable: rate limits and sign-in delays count on this node \
                             until it returns"
                        );
                        self.metrics.rate_limit_degraded(true);
                    }
                }
            }
        }
        self.metrics.rate_limit_fallback();
        local.await
    }
}

#[async_trait]
impl ShortLivedStore for FallbackStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.either(self.shared.put(key, value, ttl), self.local.put(key, value, ttl)).await
    }

    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        self.either(self.shared.put_if_absent(key, value, ttl), self.local.put_if_absent(key, value, ttl)).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.either(self.shared.get(key), self.local.get(key)).await
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.either(self.shared.get_many(keys), self.local.get_many(keys)).await
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.either(self.shared.take(key), self.local.take(key)).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.either(self.shared.delete(key), self.local.delete(key)).await
    }

    async fn increment_many(&self, hits: &[(&str, Duration)]) -> Result<Vec<Counter>, StoreError> {
        self.either(self.shared.increment_many(hits), self.local.increment_many(hits)).await
    }

    /// Readiness probes through here, so an idle node notices the shared store is back (and says
    /// so on /ready) without waiting for its next counted request.
    async fn ping(&self) -> Result<(), StoreError> {
        let answer = self.shared.ping().await;
        if answer.is_ok() {
            self.shared_answered();
        }
        answer
    }

    fn backend(&self) -> &'static str {
        self.shared.backend()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shared store that is down until told otherwise.
    #[derive(Default)]
    struct Flaky {
        up: std::sync::atomic::AtomicBool,
        inner: MemoryStore,
    }

    impl Flaky {
        fn check(&self) -> Result<(), StoreError> {
            if self.up.load(std::sync::atomic::Ordering::SeqCst) {
                Ok(())
            } else {
                Err(StoreError::Unavailable { backend: "redis", detail: "connection refused".to_owned() })
            }
        }
    }

    #[async_trait]
    impl ShortLivedStore for Flaky {
        async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
            self.check()?;
            self.inner.put(key, value, ttl).await
        }
        async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
            self.check()?;
            self.inner.put_if_absent(key, value, ttl).await
        }
        async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
            self.check()?;
            self.inner.get(key).await
        }
        async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
            self.check()?;
            self.inner.get_many(keys).await
        }
        async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
            self.check()?;
            self.inner.take(key).await
        }
        async fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.check()?;
            self.inner.delete(key).await
        }
        async fn increment_many(&self, hits: &[(&str, Duration)]) -> Result<Vec<Counter>, StoreError> {
            self.check()?;
            self.inner.increment_many(hits).await
        }
        async fn ping(&self) -> Result<(), StoreError> {
            self.check()
        }
        fn backend(&self) -> &'static str {
            "redis"
        }
    }

    #[tokio::test]
    async fn counting_falls_back_to_this_node_and_returns_to_the_shared_store() {
        let shared = Arc::new(Flaky::default());
        let metrics = Arc::new(Metrics::new());
        let store = FallbackStore::new(shared.clone(), metrics.clone());
        let window = Duration::from_secs(60);

        let local = store.increment("k", window).await.unwrap();
        assert_eq!(local.count, 1, "counted locally, never an error");
        assert!(store.outage().is_degraded());
        assert_eq!(store.increment("k", window).await.unwrap().count, 2, "the local count goes on");
        let text = metrics.encode().unwrap();
        assert!(text.contains("ferrid_rate_limit_fallback_total 2\n"), "{text}");
        assert!(text.contains("ferrid_rate_limit_degraded 1\n"), "{text}");

        shared.up.store(true, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(RETRY_EVERY).await;
        assert_eq!(store.increment("k", window).await.unwrap().count, 1, "the shared count");
        assert!(!store.outage().is_degraded());
        assert!(metrics.encode().unwrap().contains("ferrid_rate_limit_degraded 0\n"));
    }

    #[tokio::test]
    async fn a_ping_that_reaches_the_shared_store_ends_the_outage() {
        let shared = Arc::new(Flaky::default());
        let metrics = Arc::new(Metrics::new());
        let store = FallbackStore::new(shared.clone(), metrics.clone());
        store.increment("k", Duration::from_secs(60)).await.unwrap();
        assert!(store.ping().await.is_err() && store.outage().is_degraded());

        shared.up.store(true, std::sync::atomic::Ordering::SeqCst);
        store.ping().await.unwrap();
        assert!(!store.outage().is_degraded(), "no counted request needed");
        assert!(metrics.encode().unwrap().contains("ferrid_rate_limit_degraded 0\n"));
    }
}

//! Counts the short-lived store's failures in `ferrid_store_errors_total{store="short_lived"}`,
//! by operation class, around whichever backend is configured. Readiness probes are not counted:
//! /ready reports them.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;

use super::{Counter, ShortLivedStore};
use crate::{
    metrics::{Metrics, StoreKind},
    store::StoreError,
};

pub struct InstrumentedStore {
    inner: Arc<dyn ShortLivedStore>,
    metrics: Arc<Metrics>,
}

impl InstrumentedStore {
    pub fn wrap(inner: Arc<dyn ShortLivedStore>, metrics: Arc<Metrics>) -> Arc<dyn ShortLivedStore> {
        Arc::new(Self { inner, metrics })
    }

    fn counted<T>(&self, operation: &'static str, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if result.is_err() {
            self.metrics.store_error(StoreKind::ShortLived, operation);
        }
        result
    }
}

#[async_trait]
impl ShortLivedStore for InstrumentedStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.counted("write", self.inner.put(key, value, ttl).await)
    }

    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        self.counted("write", self.inner.put_if_absent(key, value, ttl).await)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.counted("read", self.inner.get(key).await)
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.counted("read", self.inner.get_many(keys).await)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.counted("take", self.inner.take(key).await)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.counted("write", self.inner.delete(key).await)
    }

    async fn increment_many(&self, hits: &[(&str, Duration)]) -> Result<Vec<Counter>, StoreError> {
        self.counted("count", self.inner.increment_many(hits).await)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
}

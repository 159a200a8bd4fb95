//! The in-process short-lived store for a single node: a mutex-guarded map with expiry
//! instants. Critical sections are a few map operations, so a std mutex is the right tool.

use std::{
    collections::HashMap,
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;

use super::{Counter, ShortLivedStore};
use crate::store::StoreError;

/// Writes between sweeps of expired entries, so memory stays bounded without a timer task.
const SWEEP_EVERY: u64 = 1024;

#[derive(Debug)]
enum Value {
    Bytes(Vec<u8>),
    Count(u64),
}

#[derive(Debug)]
struct Entry {
    value: Value,
    expires_at: Instant,
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, Entry>>,
    writes: AtomicU64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Locks the map, sweeping expired entries every [`SWEEP_EVERY`] writes.
    fn lock_for_write(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        let mut entries = self.lock();
        if self.writes.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            let now = Instant::now();
            entries.retain(|_, entry| entry.expires_at > now);
        }
        entries
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock cannot leave the map half-updated (each operation is a
        // single insert/remove), so a poisoned lock is still safe to use.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn live(entry: &Entry, now: Instant) -> bool {
    entry.expires_at > now
}

/// Adds one to the counter at `key`, under the caller's lock.
fn count_one(entries: &mut HashMap<String, Entry>, key: &str, window: Duration, now: Instant) -> Counter {
    let entry = entries
        .entry(key.to_owned())
        .and_modify(|entry| {
            if !live(entry, now) || !matches!(entry.value, Value::Count(_)) {
                *entry = Entry { value: Value::Count(0), expires_at: now + window };
            }
        })
        .or_insert_with(|| Entry { value: Value::Count(0), expires_at: now + window });
    let count = match &mut entry.value {
        Value::Count(count) => {
            *count += 1;
            *count
        }
        Value::Bytes(_) => 1,
    };
    Counter { count, resets_in: entry.expires_at.saturating_duration_since(now) }
}

#[async_trait]
impl ShortLivedStore for MemoryStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let entry = Entry { value: Value::Bytes(value.to_vec()), expires_at: Instant::now() + ttl };
        self.lock_for_write().insert(key.to_owned(), entry);
        Ok(())
    }

    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut entries = self.lock_for_write();
        if entries.get(key).is_some_and(|entry| live(entry, now)) {
            return Ok(false);
        }
        entries.insert(key.to_owned(), Entry { value: Value::Bytes(value.to_vec()), expires_at: now + ttl });
        Ok(true)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = Instant::now();
        Ok(self.lock().get(key).filter(|entry| live(entry, now)).and_then(|entry| match &entry.value {
            Value::Bytes(bytes) => Some(bytes.clone()),
            Value::Count(_) => None,
        }))
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.get(key).await?);
        }
        Ok(values)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = Instant::now();
        Ok(match self.lock().remove(key) {
            Some(Entry { value: Value::Bytes(bytes), expires_at }) if expires_at > now => Some(bytes),
            _ => None,
        })
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.lock().remove(key);
        Ok(())
    }

    async fn increment_many(&self, hits: &[(&str, Duration)]) -> Result<Vec<Counter>, StoreError> {
        let now = Instant::now();
        let mut entries = self.lock_for_write();
        Ok(hits.iter().map(|(key, window)| count_one(&mut entries, key, *window, now)).collect())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}

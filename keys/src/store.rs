//! The storage port for key records, and an in-memory implementation for tests and tools.
//!
//! Cluster safety rests on two guarantees every implementation gives, so that nodes racing on
//! one store agree without a lock service:
//! - at most one record per `(alg, state)` for the states `next` and `active`: an `insert` or
//!   `update_state` that would break this returns `Ok(false)` (SQL: partial unique indexes on
//!   `alg WHERE state = 'next'` and `alg WHERE state = 'active'`, a violation mapped to `false`);
//! - `update_state` is a compare-and-set on the state (SQL: `UPDATE … WHERE kid = ? AND
//!   state = ?`, true iff one row changed), so exactly one node wins each transition.

use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::error::Result;
use crate::record::{KeyRecord, KeyState, Transition};

/// Persistence for the key ring (implemented on SQL by the server).
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Every record, in any order.
    async fn load_all(&self) -> Result<Vec<KeyRecord>>;

    /// Adds a record; `false` when its kid exists or its alg already has a record in its state
    /// (for `next` and `active`).
    async fn insert(&self, record: KeyRecord) -> Result<bool>;

    /// Moves `kid` from `expected` to `new`, writing the given timestamps; `false` when the
    /// record is not in `expected` (another node won) or `new` is taken for its alg.
    async fn update_state(&self, kid: &str, expected: KeyState, new: KeyState, at: Transition) -> Result<bool>;

    /// Deletes a record; `false` when it was already gone.
    async fn delete(&self, kid: &str) -> Result<bool>;
}

/// A [`KeyStore`] in process memory with the same guarantees as the SQL one.
#[derive(Debug, Default)]
pub struct MemoryKeyStore {
    records: Mutex<Vec<KeyRecord>>,
}

impl MemoryKeyStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<KeyRecord>> {
        // A panic while holding the lock cannot leave a half-written record (each operation is
        // one push, assignment or removal), so the data is still consistent.
        self.records.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn slot_taken(records: &[KeyRecord], candidate: &KeyRecord, state: KeyState) -> bool {
    matches!(state, KeyState::Next | KeyState::Active)
        && records.iter().any(|r| r.kid != candidate.kid && r.alg == candidate.alg && r.state == state)
}

#[async_trait]
impl KeyStore for MemoryKeyStore {
    async fn load_all(&self) -> Result<Vec<KeyRecord>> {
        Ok(self.lock().clone())
    }

    async fn insert(&self, record: KeyRecord) -> Result<bool> {
        let mut records = self.lock();
        if records.iter().any(|r| r.kid == record.kid) || slot_taken(&records, &record, record.state) {
            return Ok(false);
        }
        records.push(record);
        Ok(true)
    }

    async fn update_state(&self, kid: &str, expected: KeyState, new: KeyState, at: Transition) -> Result<bool> {
        let mut records = self.lock();
        let Some(index) = records.iter().position(|r| r.kid == kid && r.state == expected) else {
            return Ok(false);
        };
        if slot_taken(&records, &records[index], new) {
            return Ok(false);
        }
        let record = &mut records[index];
        record.state = new;
        at.apply(record);
        Ok(true)
    }

    async fn delete(&self, kid: &str) -> Result<bool> {
        let mut records = self.lock();
        let before = records.len();
        records.retain(|r| r.kid != kid);
        Ok(records.len() != before)
    }
}

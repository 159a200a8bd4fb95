//! The key ring as the server uses it: loaded at start-up (after proving the KEK opens the
//! stored keys), rotated on schedule by whichever node gets there first, re-read by every node
//! at a bounded interval, and published as a cached JWKS with an ETag.

mod kek;

use std::{
    future::Future,
    sync::{Arc, RwLock},
    time::Duration,
};

use chrono::{DateTime, Utc};
use keys::{Change, Kek, KeyAlg, KeyRing, KeyState, KeyStore, KeyUse, RotationOutcome, RotationPolicy};
use ring::digest;

pub use kek::{KEK_FILE, KekError, load_kek};

use crate::{
    audit::{Actor, AuditEvent, AuditLog, kinds},
    clock::Clock,
    config::KeyRingSettings,
    metrics::Metrics,
};

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error(transparent)]
    Kek(#[from] KekError),
    #[error(
        "the key-encryption key does not open the stored keys; refusing to start (set FERRID_KEK to the KEK they were sealed with)"
    )]
    WrongKek,
    #[error("key ring: {0}")]
    Keys(keys::KeyError),
}

impl From<keys::KeyError> for KeyRingError {
    fn from(error: keys::KeyError) -> Self {
        match error {
            keys::KeyError::WrongKek => Self::WrongKek,
            other => Self::Keys(other),
        }
    }
}

/// The ring in use plus its JWKS document, built once per change of the ring.
pub struct PublishedRing {
    pub ring: KeyRing,
    pub jwks: Arc<str>,
    /// A strong ETag over the JWKS bytes (RFC 9110 §8.8.3), quoted.
    pub etag: Arc<str>,
}

impl PublishedRing {
    fn new(ring: KeyRing) -> Self {
        let jwks = keys::jwks_json(&ring);
        let hash = digest::digest(&digest::SHA256, jwks.as_bytes());
        let hex: String = hash.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect();
        let etag = format!("\"{hex}\"").into();
        Self { ring, jwks: jwks.into(), etag }
    }
}

/// A key as an operator sees it: identity, state and dates, never key material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySummary {
    pub kid: String,
    pub alg: KeyAlg,
    pub key_use: KeyUse,
    pub state: KeyState,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub struct KeyRingService {
    store: Arc<dyn KeyStore>,
    kek: Arc<Kek>,
    policy: RotationPolicy,
    clock: Arc<dyn Clock>,
    current: RwLock<Arc<PublishedRing>>,
    metrics: Arc<Metrics>,
}

impl KeyRingService {
    /// Loads the ring, refusing a KEK that does not open the stored keys before anything is
    /// written, then creates or rotates whatever is due (on first start: one active key per
    /// configured algorithm).
    pub async fn start(
        store: Arc<dyn KeyStore>,
        kek: Kek,
        settings: &KeyRingSettings,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, KeyRingError> {
        let records = store.load_all().await?;
        let policy = policy(settings);
        let now = clock.now();
        let nothing_due = keys::plan_rotation(&records, now, &policy).is_empty();
        // Loading opens every sealed key: a wrong KEK fails here, before anything is written.
        let loaded = KeyRing::load(records, &kek)?;
        let ring = if nothing_due {
            loaded
        } else {
            let outcome = KeyRing::rotate_if_due(store.as_ref(), &kek, now, &policy).await?;
            for change in &outcome.applied {
                tracing::info!(?change, "key ring changed");
            }
            outcome.ring
        };
        metrics.key_ring_loaded(ring.records().iter().map(|record| (record.state, record.active_since())));
        let current = RwLock::new(Arc::new(PublishedRing::new(ring)));
        Ok(Self { store, kek: Arc::new(kek), policy, clock, current, metrics })
    }

    /// The key-encryption key, which also seals second-factor secrets and keys one-time-code
    /// digests.
    pub fn kek(&self) -> Arc<Kek> {
        self.kek.clone()
    }

    /// The ring as last loaded.
    pub fn current(&self) -> Arc<PublishedRing> {
        self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Every key of the ring as last loaded (revoked ones until they expire), by algorithm and
    /// then age.
    pub fn summaries(&self) -> Vec<KeySummary> {
        let current = self.current();
        let mut keys: Vec<KeySummary> = current
            .ring
            .records()
            .iter()
            .map(|record| KeySummary {
                kid: record.kid.clone(),
                alg: record.alg,
                key_use: record.key_use,
                state: record.state,
                created_at: record.created_at,
                activated_at: record.activated_at,
                retired_at: record.retired_at,
                expires_at: record.expires_at,
            })
            .collect();
        keys.sort_by(|a, b| (a.alg.as_str(), a.created_at).cmp(&(b.alg.as_str(), b.created_at)));
        keys
    }

    fn publish(&self, ring: KeyRing) -> bool {
        self.metrics.key_ring_loaded(ring.records().iter().map(|record| (record.state, record.active_since())));
        let published = PublishedRing::new(ring);
        let mut current = self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let changed = current.ring.records() != published.ring.records();
        if changed {
            *current = Arc::new(published);
        }
        changed
    }

    /// Runs a ring operation on the blocking pool: generating a key (RSA especially) takes tens
    /// of milliseconds and must not stall the workers serving requests.
    async fn off_the_request_path<F, Fut>(&self, operation: F) -> Result<RotationOutcome, KeyRingError>
    where
        F: FnOnce(Arc<dyn KeyStore>, Arc<Kek>, RotationPolicy, DateTime<Utc>) -> Fut + Send + 'static,
        Fut: Future<Output = keys::Result<RotationOutcome>>,
    {
        let (store, kek, policy, now) = (self.store.clone(), self.kek.clone(), self.policy.clone(), self.clock.now());
        let runtime = tokio::runtime::Handle::current();
        let outcome = tokio::task::spawn_blocking(move || runtime.block_on(operation(store, kek, policy, now)))
            .await
            .map_err(|e| KeyRingError::Keys(keys::KeyError::Crypto(e.to_string())))??;
        for change in &outcome.applied {
            tracing::info!(?change, "key ring changed");
        }
        Ok(outcome)
    }

    /// Rotates if due and re-reads the ring; returns whether the ring this node uses changed.
    pub async fn refresh(&self) -> Result<bool, KeyRingError> {
        Ok(self.refresh_with_changes().await?.0)
    }

    /// [`Self::refresh`], also returning the scheduled changes this node made to the shared ring.
    async fn refresh_with_changes(&self) -> Result<(bool, Vec<Change>), KeyRingError> {
        let outcome = self
            .off_the_request_path(|store, kek, policy, now| async move {
                KeyRing::rotate_if_due(store.as_ref(), &kek, now, &policy).await
            })
            .await?;
        Ok((self.publish(outcome.ring), outcome.applied))
    }

    /// Rotates `alg` now (operator request): the next key becomes active, the active one retires.
    /// Returns the kid active for `alg` afterwards.
    pub async fn rotate(&self, alg: KeyAlg) -> Result<Option<String>, KeyRingError> {
        let outcome = self
            .off_the_request_path(move |store, kek, policy, now| async move {
                KeyRing::rotate(store.as_ref(), &kek, alg, now, &policy).await
            })
            .await?;
        let active = outcome
            .ring
            .records()
            .iter()
            .find(|record| record.alg == alg && record.state == KeyState::Active)
            .map(|record| record.kid.clone());
        self.publish(outcome.ring);
        Ok(active)
    }

    /// Revokes `kid` at once: it leaves the JWKS and signs nothing more.
    pub async fn revoke(&self, kid: &str) -> Result<(), KeyRingError> {
        let kid_owned = kid.to_owned();
        let outcome = self
            .off_the_request_path(move |store, kek, policy, now| async move {
                KeyRing::revoke(store.as_ref(), &kek, &kid_owned, now, &policy).await
            })
            .await?;
        tracing::warn!(kid, "key revoked");
        self.publish(outcome.ring);
        Ok(())
    }

    /// Re-reads the ring every `every` until the returned task is aborted, so that every node
    /// sees a rotation made by another within that bound. A scheduled change this node makes
    /// (a key created, promoted or removed) is written to the audit log, with ferrid as actor.
    pub fn spawn_refresher(self: Arc<Self>, every: Duration, audit: AuditLog) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                match self.refresh_with_changes().await {
                    Ok((reloaded, changes)) => {
                        for change in &changes {
                            audit.record(scheduled_change_event(change)).await;
                        }
                        if reloaded {
                            tracing::info!("key ring reloaded");
                        }
                    }
                    Err(error) => tracing::warn!(%error, "key ring refresh failed; keeping the loaded ring"),
                }
            }
        })
    }
}

/// The audit record of a rotation the schedule made (`key.rotate.scheduled`): kids and
/// algorithms only.
fn scheduled_change_event(change: &Change) -> AuditEvent {
    let details = match change {
        Change::Create { alg, state } => {
            serde_json::json!({ "change": "create", "alg": alg.as_str(), "state": format!("{state:?}").to_lowercase() })
        }
        Change::Promote { alg, next, retire } => {
            serde_json::json!({ "change": "promote", "alg": alg.as_str(), "active": next, "retired": retire })
        }
        Change::Remove { kid } => serde_json::json!({ "change": "remove", "kid": kid }),
    };
    AuditEvent::new(kinds::KEY_ROTATE_SCHEDULED, &Actor::system()).details(details)
}

fn policy(settings: &KeyRingSettings) -> RotationPolicy {
    let duration = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    RotationPolicy {
        algs: settings.algs.clone(),
        rotate_every: duration(settings.rotate_every),
        publish_ahead: duration(settings.publish_ahead),
        max_token_lifetime: duration(settings.retain_retired),
    }
}

//! Key lifecycle under a fixed clock, JWKS publication, and nodes racing on one store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};
use tokio::sync::Barrier;

use crate::*;

const ES256: KeyAlg = KeyAlg::Signing(SigningAlg::ES256);
const ECDH: KeyAlg = KeyAlg::Encryption(KeyEncryptionAlg::EcdhEs);

fn t(days: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::days(days)
}

fn policy() -> RotationPolicy {
    RotationPolicy { algs: vec![ES256], ..RotationPolicy::default() }
}

fn claims(now: DateTime<Utc>) -> Map<String, Value> {
    json!({"sub": "alice", "exp": (now + Duration::minutes(5)).timestamp()}).as_object().unwrap().clone()
}

fn states(ring: &KeyRing) -> Vec<KeyState> {
    ring.published().map(|r| r.state).collect()
}

#[tokio::test]
async fn lifecycle_walks_next_active_retired_removed() {
    let store = MemoryKeyStore::new();
    let kek = Kek::generate().unwrap();
    let p = policy();

    let first = KeyRing::rotate_if_due(&store, &kek, t(0), &p).await.unwrap();
    assert_eq!(first.applied, vec![Change::Create { alg: ES256, state: KeyState::Active }]);
    let a = first.ring.signing_key(SigningAlg::ES256).unwrap().kid().to_owned();

    let quiet = KeyRing::rotate_if_due(&store, &kek, t(28), &p).await.unwrap();
    assert!(quiet.applied.is_empty());

    // Day 29: next is published one publish_ahead before it is used.
    let ring = KeyRing::rotate_if_due(&store, &kek, t(29), &p).await.unwrap().ring;
    assert_eq!(states(&ring), vec![KeyState::Active, KeyState::Next]);
    assert_eq!(ring.signing_key(SigningAlg::ES256).unwrap().kid(), a);
    let b = ring.published().find(|r| r.state == KeyState::Next).unwrap().kid.clone();
    let old_token = sign_jwt(ring.signing_key(SigningAlg::ES256).unwrap(), None, &claims(t(30))).unwrap();

    // Day 30: next becomes active, the old key retires but stays published.
    let outcome = KeyRing::rotate_if_due(&store, &kek, t(30), &p).await.unwrap();
    assert_eq!(outcome.applied, vec![Change::Promote { alg: ES256, next: b.clone(), retire: Some(a.clone()) }]);
    let ring = outcome.ring;
    assert_eq!(ring.signing_key(SigningAlg::ES256).unwrap().kid(), b);
    assert_eq!(states(&ring), vec![KeyState::Active, KeyState::Retired]);
    let v = Validation::new(&[SigningAlg::ES256], t(30));
    assert!(ring.verify_jwt(&old_token, &v).is_ok(), "tokens of the retired key still verify");
    let retired = ring.records().iter().find(|r| r.kid == a).unwrap();
    assert_eq!(retired.expires_at, Some(t(30) + p.max_token_lifetime));

    // Day 31: every token the old key signed has expired; it is removed.
    let outcome = KeyRing::rotate_if_due(&store, &kek, t(31), &p).await.unwrap();
    assert_eq!(outcome.applied, vec![Change::Remove { kid: a.clone() }]);
    assert_eq!(states(&outcome.ring), vec![KeyState::Active]);
    assert!(matches!(outcome.ring.verify_jwt(&old_token, &v), Err(KeyError::NoMatchingKey)));

    // And the cycle repeats 30 days after b's activation.
    let ring = KeyRing::rotate_if_due(&store, &kek, t(59), &p).await.unwrap().ring;
    assert_eq!(states(&ring), vec![KeyState::Active, KeyState::Next]);
}

#[tokio::test]
async fn wrong_kek_cannot_load_the_ring() {
    let store = MemoryKeyStore::new();
    let kek = Kek::generate().unwrap();
    KeyRing::rotate_if_due(&store, &kek, t(0), &policy()).await.unwrap();
    let other = Kek::generate().unwrap();
    assert!(matches!(KeyRing::from_store(&store, &other).await, Err(KeyError::WrongKek)));
}

#[tokio::test]
async fn revoking_the_active_key_replaces_it_at_once() {
    let store = MemoryKeyStore::new();
    let kek = Kek::generate().unwrap();
    let p = policy();
    let ring = KeyRing::rotate_if_due(&store, &kek, t(0), &p).await.unwrap().ring;
    let a = ring.signing_key(SigningAlg::ES256).unwrap().kid().to_owned();
    let token = sign_jwt(ring.signing_key(SigningAlg::ES256).unwrap(), None, &claims(t(1))).unwrap();

    let ring = KeyRing::revoke(&store, &kek, &a, t(1), &p).await.unwrap().ring;
    let now_active = ring.signing_key(SigningAlg::ES256).unwrap().kid().to_owned();
    assert_ne!(now_active, a);
    assert!(!jwks_json(&ring).contains(&a), "a revoked key leaves the JWKS");
    let v = Validation::new(&[SigningAlg::ES256], t(1));
    assert!(ring.verify_jwt(&token, &v).is_err());
    assert!(ring.records().iter().any(|r| r.kid == a && r.state == KeyState::Revoked));
    assert!(matches!(KeyRing::revoke(&store, &kek, "no-such-kid", t(1), &p).await, Err(KeyError::UnknownKey(_))));
}

#[tokio::test]
async fn between_the_two_writes_of_a_promotion_the_next_key_signs() {
    let store = MemoryKeyStore::new();
    let kek = Kek::generate().unwrap();
    let p = policy();
    let ring = KeyRing::rotate_if_due(&store, &kek, t(0), &p).await.unwrap().ring;
    let old = ring.signing_key(SigningAlg::ES256).unwrap().kid().to_owned();
    let ring = KeyRing::rotate_if_due(&store, &kek, t(29), &p).await.unwrap().ring;
    let next = ring.records().iter().find(|r| r.state == KeyState::Next).unwrap().kid.clone();
    // The first write of a promotion, as another node would leave it half-way.
    let at = Transition { retired_at: Some(t(30)), expires_at: Some(t(31)), ..Transition::default() };
    assert!(store.update_state(&old, KeyState::Active, KeyState::Retired, at).await.unwrap());
    let ring = KeyRing::from_store(&store, &kek).await.unwrap();
    assert_eq!(ring.signing_key(SigningAlg::ES256).unwrap().kid(), next);
}

#[tokio::test]
async fn forced_rotation_promotes_immediately() {
    let store = MemoryKeyStore::new();
    let kek = Kek::generate().unwrap();
    let p = policy();
    let ring = KeyRing::rotate_if_due(&store, &kek, t(0), &p).await.unwrap().ring;
    let a = ring.signing_key(SigningAlg::ES256).unwrap().kid().to_owned();
    let outcome = KeyRing::rotate(&store, &kek, ES256, t(2), &p).await.unwrap();
    assert_eq!(outcome.applied.len(), 2, "{:?}", outcome.applied);
    assert_ne!(outcome.ring.signing_key(SigningAlg::ES256).unwrap().kid(), a);
    assert_eq!(states(&outcome.ring), vec![KeyState::Active, KeyState::Retired]);
}

#[tokio::test]
async fn jwks_lists_signing_then_encryption_keys_in_a_stable_order() {
    let store = MemoryKeyStore::new();
    let kek = Kek::generate().unwrap();
    let p = RotationPolicy { algs: vec![ECDH, KeyAlg::Signing(SigningAlg::EdDSA), ES256], ..RotationPolicy::default() };
    KeyRing::rotate_if_due(&store, &kek, t(0), &p).await.unwrap();
    let ring = KeyRing::rotate_if_due(&store, &kek, t(29), &p).await.unwrap().ring;
    let json = jwks_json(&ring);
    assert_eq!(json, jwks_json(&KeyRing::from_store(&store, &kek).await.unwrap()));
    let doc: Value = serde_json::from_str(&json).unwrap();
    let keys = doc["keys"].as_array().unwrap();
    let summary: Vec<(String, String)> =
        keys.iter().map(|k| (k["use"].as_str().unwrap().to_owned(), k["alg"].as_str().unwrap().to_owned())).collect();
    let pairs = [
        ("sig", "ES256"),
        ("sig", "ES256"),
        ("sig", "EdDSA"),
        ("sig", "EdDSA"),
        ("enc", "ECDH-ES"),
        ("enc", "ECDH-ES"),
    ];
    assert_eq!(summary, pairs.map(|(u, a)| (u.to_owned(), a.to_owned())));
    for key in keys {
        assert!(key.get("d").is_none());
        assert!(key["kid"].is_string());
    }
    // The ring decrypts what a client encrypts to its published encryption key.
    let enc = ring.published().find(|r| r.alg == ECDH && r.state == KeyState::Active).unwrap();
    let token =
        encrypt_jwe(b"request object", &enc.public_jwk, KeyEncryptionAlg::EcdhEs, ContentEncryptionAlg::A256Gcm, None)
            .unwrap();
    assert_eq!(ring.decrypt_jwe(&token).unwrap().payload, b"request object");
}

/// A store whose first two `load_all` calls wait for each other, so two nodes are certain to
/// plan from the same snapshot before either writes.
struct LockstepStore {
    inner: MemoryKeyStore,
    barrier: Barrier,
    loads: AtomicUsize,
}

#[async_trait]
impl KeyStore for LockstepStore {
    async fn load_all(&self) -> Result<Vec<KeyRecord>> {
        let records = self.inner.load_all().await;
        if self.loads.fetch_add(1, Ordering::SeqCst) < 2 {
            self.barrier.wait().await;
        }
        records
    }
    async fn insert(&self, record: KeyRecord) -> Result<bool> {
        self.inner.insert(record).await
    }
    async fn update_state(&self, kid: &str, expected: KeyState, new: KeyState, at: Transition) -> Result<bool> {
        self.inner.update_state(kid, expected, new, at).await
    }
    async fn delete(&self, kid: &str) -> Result<bool> {
        self.inner.delete(kid).await
    }
}

async fn race(store: Arc<LockstepStore>, kek: Arc<Kek>, now: DateTime<Utc>) -> Vec<Vec<Change>> {
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let (store, kek) = (store.clone(), kek.clone());
            tokio::spawn(
                async move { KeyRing::rotate_if_due(store.as_ref(), &kek, now, &policy()).await.unwrap().applied },
            )
        })
        .collect();
    let mut applied = Vec::new();
    for task in tasks {
        applied.push(task.await.unwrap());
    }
    applied
}

fn lockstep(inner: MemoryKeyStore) -> Arc<LockstepStore> {
    Arc::new(LockstepStore { inner, barrier: Barrier::new(2), loads: AtomicUsize::new(0) })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rings_racing_create_exactly_one_key() {
    let kek = Arc::new(Kek::generate().unwrap());

    // First start on two nodes at once: one active key.
    let store = lockstep(MemoryKeyStore::new());
    let applied = race(store.clone(), kek.clone(), t(0)).await;
    assert_eq!(applied.iter().map(Vec::len).sum::<usize>(), 1, "{applied:?}");
    let records = store.inner.load_all().await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].state, KeyState::Active);

    // Rotation due on both nodes: one next key, then one promotion.
    let store = lockstep(MemoryKeyStore::new());
    for record in records {
        store.inner.insert(record).await.unwrap();
    }
    let applied = race(store.clone(), kek.clone(), t(29)).await;
    assert_eq!(applied.concat(), vec![Change::Create { alg: ES256, state: KeyState::Next }]);
    let records = store.inner.load_all().await.unwrap();
    assert_eq!(records.iter().filter(|r| r.state == KeyState::Next).count(), 1);

    let store = lockstep(MemoryKeyStore::new());
    for record in records {
        store.inner.insert(record).await.unwrap();
    }
    let applied = race(store.clone(), kek.clone(), t(30)).await;
    assert_eq!(applied.concat().len(), 1, "exactly one node promotes: {applied:?}");
    let records = store.inner.load_all().await.unwrap();
    assert_eq!(records.iter().filter(|r| r.state == KeyState::Active).count(), 1);
    assert_eq!(records.iter().filter(|r| r.state == KeyState::Retired).count(), 1);
}

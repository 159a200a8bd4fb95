//! The key ring: an immutable snapshot of the store's keys, opened under the KEK, plus the async
//! operations that change the store (rotation, forced rotation, revocation) and return a fresh
//! snapshot.
//!
//! Every change goes through the store's conditional writes ([`KeyStore`]), so any number of
//! nodes may run them at once: each transition happens exactly once.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::alg::{KeyAlg, KeyUse, SigningAlg};
use crate::error::{KeyError, Result};
use crate::header;
use crate::jwe::{self, DecryptedJwe, DecryptionKey};
use crate::jwk::Jwks;
use crate::jws::{self, SigningKey, Validation, VerifyingKey};
use crate::key::PrivateKey;
use crate::record::{KeyRecord, KeyState, Transition};
use crate::rotation::{Change, RotationPolicy, plan_rotation};
use crate::seal::Kek;
use crate::store::KeyStore;

/// The keys of one moment: active signers, verifiers for every published signing key, and
/// decrypters for every published encryption key.
#[derive(Debug)]
pub struct KeyRing {
    records: Vec<KeyRecord>,
    signing: Vec<SigningKey>,
    verifying: Vec<VerifyingKey>,
    decrypting: Vec<DecryptionKey>,
}

/// The result of a rotation step: the ring after it, and the changes this node made.
#[derive(Debug)]
pub struct RotationOutcome {
    pub ring: KeyRing,
    pub applied: Vec<Change>,
}

impl KeyRing {
    /// Builds a ring from stored records. Fails with [`KeyError::WrongKek`] if `kek` is not the
    /// one the keys were sealed with, and on a record whose public JWK does not hash to its kid.
    pub fn load(mut records: Vec<KeyRecord>, kek: &Kek) -> Result<Self> {
        records.sort_by(publication_order);
        let (mut signing, mut verifying, mut decrypting) = (Vec::new(), Vec::new(), Vec::new());
        for record in &records {
            if record.public_jwk.thumbprint()? != record.kid || record.public_jwk.kid() != Some(record.kid.as_str()) {
                return Err(KeyError::InvalidKey(format!("record {} does not match its public key", record.kid)));
            }
            if !record.state.is_published() {
                continue;
            }
            match record.alg {
                KeyAlg::Signing(alg) => {
                    verifying.push(VerifyingKey::new(&record.public_jwk, alg)?);
                    if record.state == KeyState::Active {
                        signing.push(record.open(kek)?.signing_key()?);
                    }
                }
                KeyAlg::Encryption(_) => decrypting.push(record.open(kek)?.decryption_key()?),
            }
        }
        // A promotion is two writes (retire the active key, then activate the next one); a node
        // that reads between them sees no active key. The next key is already published, so it
        // signs in the meantime rather than leaving the algorithm without a key until the next
        // refresh. (Records are sorted newest first within a state.)
        for record in &records {
            if let KeyAlg::Signing(alg) = record.alg
                && record.state == KeyState::Next
                && !signing.iter().any(|k: &SigningKey| k.alg() == alg)
            {
                signing.push(record.open(kek)?.signing_key()?);
            }
        }
        Ok(Self { records, signing, verifying, decrypting })
    }

    /// Loads the ring from `store`.
    pub async fn from_store(store: &dyn KeyStore, kek: &Kek) -> Result<Self> {
        Self::load(store.load_all().await?, kek)
    }

    /// The one active signing key for `alg` (the most recently activated, should a promotion
    /// race ever leave two).
    pub fn signing_key(&self, alg: SigningAlg) -> Result<&SigningKey> {
        self.signing.iter().find(|k| k.alg() == alg).ok_or(KeyError::NoActiveKey(alg.as_str()))
    }

    /// Verifiers for every published signing key (next, active, retired).
    pub fn verifying_keys(&self) -> &[VerifyingKey] {
        &self.verifying
    }

    /// Verifies a JWT signed by this ring (e.g. an `id_token_hint` or an access token).
    pub fn verify_jwt(&self, token: &str, validation: &Validation<'_>) -> Result<Map<String, Value>> {
        jws::verify_jwt(token, &self.verifying, validation)
    }

    /// The decryption key with `kid`, if published.
    pub fn decryption_key(&self, kid: &str) -> Option<&DecryptionKey> {
        self.decrypting.iter().find(|k| k.kid() == Some(kid))
    }

    /// Decrypts a JWE sent to this ring (e.g. an encrypted request object), choosing the key by
    /// the header's `kid`, or trying each key of the header's `alg` when there is none.
    pub fn decrypt_jwe(&self, token: &str) -> Result<DecryptedJwe> {
        let header = header::decode(token, 5)?;
        if let Some(kid) = header.kid.as_deref() {
            return jwe::decrypt_jwe(token, self.decryption_key(kid).ok_or(KeyError::NoMatchingKey)?);
        }
        let alg = header.alg.parse()?;
        let mut last = KeyError::NoMatchingKey;
        for key in self.decrypting.iter().filter(|k| k.alg() == alg) {
            match jwe::decrypt_jwe(token, key) {
                Ok(out) => return Ok(out),
                Err(err) => last = err,
            }
        }
        Err(last)
    }

    /// Decrypts a nested JWT sent to this ring and verifies it against `verifying` (e.g. the
    /// sending client's keys).
    pub fn decrypt_nested_jwt(
        &self,
        token: &str,
        verifying: &[VerifyingKey],
        validation: &Validation<'_>,
    ) -> Result<Map<String, Value>> {
        jwe::nested_claims(self.decrypt_jwe(token)?, verifying, validation)
    }

    /// Every record, revoked ones included, in publication order (for listing).
    pub fn records(&self) -> &[KeyRecord] {
        &self.records
    }

    /// The records whose keys are published: next, active and retired, signing keys first, then
    /// by algorithm, state (active, next, retired), newest first, kid.
    pub fn published(&self) -> impl Iterator<Item = &KeyRecord> {
        self.records.iter().filter(|r| r.state.is_published())
    }

    /// The JWK Set of [`KeyRing::published`].
    pub fn jwks(&self) -> Jwks {
        Jwks { keys: self.published().map(|r| r.public_jwk.clone()).collect() }
    }

    /// Applies whatever [`plan_rotation`] says is due at `now`, including creating the first
    /// keys on an empty store. Call it at start-up and periodically on every node.
    pub async fn rotate_if_due(
        store: &dyn KeyStore,
        kek: &Kek,
        now: DateTime<Utc>,
        policy: &RotationPolicy,
    ) -> Result<RotationOutcome> {
        let records = store.load_all().await?;
        let plan = plan_rotation(&records, now, policy);
        if plan.is_empty() {
            return Ok(RotationOutcome { ring: Self::load(records, kek)?, applied: Vec::new() });
        }
        let mut applied = Vec::new();
        for change in plan {
            if apply(store, kek, &change, now, policy).await? {
                applied.push(change);
            }
        }
        Ok(RotationOutcome { ring: Self::from_store(store, kek).await?, applied })
    }

    /// Rotates `alg` now, whatever the schedule: promotes the next key (creating one first if
    /// there is none) and retires the active one. Relying parties that cached the JWKS before
    /// the new key existed will refetch on the unknown kid.
    pub async fn rotate(
        store: &dyn KeyStore,
        kek: &Kek,
        alg: KeyAlg,
        now: DateTime<Utc>,
        policy: &RotationPolicy,
    ) -> Result<RotationOutcome> {
        let mut applied = Vec::new();
        let newest = |records: &[KeyRecord], state| {
            records
                .iter()
                .filter(|r| r.alg == alg && r.state == state)
                .max_by_key(|r| (r.active_since(), r.kid.clone()))
                .map(|r| r.kid.clone())
        };
        let records = store.load_all().await?;
        if newest(&records, KeyState::Next).is_none() {
            let create = Change::Create { alg, state: KeyState::Next };
            if apply(store, kek, &create, now, policy).await? {
                applied.push(create);
            }
        }
        let records = store.load_all().await?;
        if let Some(next) = newest(&records, KeyState::Next) {
            let promote = Change::Promote { alg, next, retire: newest(&records, KeyState::Active) };
            if apply(store, kek, &promote, now, policy).await? {
                applied.push(promote);
            }
        }
        Ok(RotationOutcome { ring: Self::from_store(store, kek).await?, applied })
    }

    /// Revokes `kid` at once: it leaves the JWKS and signs nothing more. If it was the active
    /// key, the next key (or a new one) takes over in the same call. The record is kept, for
    /// the audit trail, until `now + max_token_lifetime`.
    pub async fn revoke(
        store: &dyn KeyStore,
        kek: &Kek,
        kid: &str,
        now: DateTime<Utc>,
        policy: &RotationPolicy,
    ) -> Result<RotationOutcome> {
        let mut applied = Vec::new();
        let at = Transition { expires_at: Some(now + policy.max_token_lifetime), ..Transition::default() };
        // Retry while another node moves the key between our read and our write.
        let mut revoked = false;
        for _ in 0..3 {
            let records = store.load_all().await?;
            let record = records.iter().find(|r| r.kid == kid).ok_or_else(|| KeyError::UnknownKey(kid.into()))?;
            if record.state == KeyState::Revoked || store.update_state(kid, record.state, KeyState::Revoked, at).await?
            {
                revoked = true;
                break;
            }
        }
        if !revoked {
            return Err(KeyError::Store("revocation lost three races in a row".into()));
        }
        let outcome = Self::rotate_if_due(store, kek, now, policy).await?;
        applied.extend(outcome.applied);
        Ok(RotationOutcome { ring: outcome.ring, applied })
    }
}

/// Carries out one planned change through the store's conditional writes; `false` when another
/// node got there first.
async fn apply(
    store: &dyn KeyStore,
    kek: &Kek,
    change: &Change,
    now: DateTime<Utc>,
    policy: &RotationPolicy,
) -> Result<bool> {
    match change {
        Change::Create { alg, state } => {
            let key = PrivateKey::generate(*alg)?;
            store.insert(KeyRecord::seal(&key, kek, *state, now)?).await
        }
        Change::Promote { next, retire, .. } => {
            if let Some(active) = retire {
                let at = Transition {
                    retired_at: Some(now),
                    expires_at: Some(now + policy.max_token_lifetime),
                    ..Transition::default()
                };
                if !store.update_state(active, KeyState::Active, KeyState::Retired, at).await? {
                    return Ok(false);
                }
            }
            let at = Transition { activated_at: Some(now), ..Transition::default() };
            store.update_state(next, KeyState::Next, KeyState::Active, at).await
        }
        Change::Remove { kid } => store.delete(kid).await,
    }
}

fn publication_order(a: &KeyRecord, b: &KeyRecord) -> std::cmp::Ordering {
    let use_rank = |r: &KeyRecord| if r.key_use == KeyUse::Sig { 0 } else { 1 };
    let state_rank = |r: &KeyRecord| match r.state {
        KeyState::Active => 0,
        KeyState::Next => 1,
        KeyState::Retired => 2,
        KeyState::Revoked => 3,
    };
    (use_rank(a), a.alg.as_str(), state_rank(a))
        .cmp(&(use_rank(b), b.alg.as_str(), state_rank(b)))
        .then_with(|| b.created_at.cmp(&a.created_at))
        .then_with(|| a.kid.cmp(&b.kid))
}

/// The JWKS document (RFC 7517 §5) of the ring's published keys, signing and encryption, in a
/// stable order. Serve it at `/jwks`.
pub fn jwks_json(ring: &KeyRing) -> String {
    ring.jwks().to_json()
}

//! The stored form of a ring key and its lifecycle states.
//!
//! A key moves `Next → Active → Retired → (removed)`; `Revoked` is the emergency exit from any
//! state. Only `Revoked` and removed keys are absent from the published JWKS.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alg::{KeyAlg, KeyUse};
use crate::error::{KeyError, Result};
use crate::jwk::PublicJwk;
use crate::key::PrivateKey;
use crate::seal::Kek;

/// Where a key is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published in the JWKS ahead of use, so relying parties' caches hold it before the first
    /// token signed with it arrives.
    Next,
    /// Signs (or is advertised for encryption). At most one per algorithm.
    Active,
    /// No longer used, still published until every token it signed has expired (DESIGN §7.6).
    Retired,
    /// Withdrawn at once: neither used nor published.
    Revoked,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retired => "retired",
            Self::Revoked => "revoked",
        }
    }

    /// Whether keys in this state appear in the JWKS.
    pub fn is_published(self) -> bool {
        !matches!(self, Self::Revoked)
    }
}

impl FromStr for KeyState {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self> {
        [Self::Next, Self::Active, Self::Retired, Self::Revoked]
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| KeyError::InvalidKey(format!("unknown key state {s}")))
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the key store. The private key is present only sealed under the KEK.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub kid: String,
    pub alg: KeyAlg,
    pub key_use: KeyUse,
    pub state: KeyState,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
    /// When the row may be deleted: set on retirement (retired_at + max token lifetime) and on
    /// revocation.
    pub expires_at: Option<DateTime<Utc>>,
    pub sealed_private: Vec<u8>,
    pub public_jwk: PublicJwk,
}

impl KeyRecord {
    /// Seals `key` under `kek` into a new record in `state`, created at `now`.
    pub fn seal(key: &PrivateKey, kek: &Kek, state: KeyState, now: DateTime<Utc>) -> Result<Self> {
        Ok(Self {
            kid: key.kid().to_owned(),
            alg: key.alg(),
            key_use: key.alg().key_use(),
            state,
            created_at: now,
            activated_at: (state == KeyState::Active).then_some(now),
            retired_at: None,
            expires_at: None,
            sealed_private: key.seal(kek)?,
            public_jwk: key.public_jwk().clone(),
        })
    }

    /// Opens the sealed private key.
    pub fn open(&self, kek: &Kek) -> Result<PrivateKey> {
        PrivateKey::open(kek, self.alg, &self.kid, &self.sealed_private)
    }

    /// When this key started (or will start) counting towards `rotate_every`.
    pub fn active_since(&self) -> DateTime<Utc> {
        self.activated_at.unwrap_or(self.created_at)
    }
}

impl fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .field("created_at", &self.created_at)
            .field("activated_at", &self.activated_at)
            .field("retired_at", &self.retired_at)
            .field("expires_at", &self.expires_at)
            .field("sealed_private", &format_args!("<{} bytes>", self.sealed_private.len()))
            .finish_non_exhaustive()
    }
}

/// Timestamps written together with a state change; `None` leaves a column as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transition {
    pub activated_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Transition {
    pub(crate) fn apply(&self, record: &mut KeyRecord) {
        if let Some(at) = self.activated_at {
            record.activated_at = Some(at);
        }
        if let Some(at) = self.retired_at {
            record.retired_at = Some(at);
        }
        if let Some(at) = self.expires_at {
            record.expires_at = Some(at);
        }
    }
}

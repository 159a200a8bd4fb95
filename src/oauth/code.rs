//! Authorization codes (RFC 6749 §4.1.2): opaque, single-use, short-lived values in the
//! short-lived store, keyed by digest and redeemed with an atomic take, so that of concurrent
//! redemptions exactly one succeeds on any node (DESIGN §7.1).

use std::time::Duration;

use chrono::{DateTime, Utc};
use keys::OpaqueSecret;
use serde::{Deserialize, Serialize};

use crate::store::{ShortLivedStore, StoreError};

/// How long a redeemed code is remembered, to recognise a replay and revoke what it produced.
const REDEEMED_MEMORY: Duration = Duration::from_secs(600);

/// Everything the token endpoint needs to honour a code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: uuid::Uuid,
    pub scope: String,
    pub nonce: Option<String>,
    /// The S256 `code_challenge` (RFC 7636 §4.3), when PKCE was used.
    pub code_challenge: Option<String>,
    /// The `dpop_jkt` of the authorization request (RFC 9449 §10).
    #[serde(default)]
    pub dpop_jkt: Option<String>,
    pub auth_time: DateTime<Utc>,
    pub amr: Vec<String>,
    pub sid: String,
}

/// What a redeemed code produced: revoked if the code is presented again (RFC 6749 §4.1.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeemedCode {
    pub refresh_family: Option<String>,
    pub access_token_jti: String,
    pub access_token_expires_at: DateTime<Utc>,
}

fn code_key(code: &OpaqueSecret) -> String {
    format!("code:{}", code.digest().as_str())
}

fn redeemed_key(code: &OpaqueSecret) -> String {
    format!("code-redeemed:{}", code.digest().as_str())
}

fn malformed(_: serde_json::Error) -> StoreError {
    StoreError::Malformed("authorization code")
}

/// Stores `grant` under a fresh code and returns the code.
/// `lifetime` is the client's code lifetime (RFC 6749 §4.1.2: at most 10 minutes recommended).
pub async fn issue_code(
    store: &dyn ShortLivedStore,
    grant: &CodeGrant,
    lifetime: chrono::Duration,
) -> Result<OpaqueSecret, StoreError> {
    let code = OpaqueSecret::generate();
    let value = serde_json::to_vec(grant).map_err(malformed)?;
    let lifetime = lifetime.to_std().map_err(|_| StoreError::Malformed("code lifetime"))?;
    store.put(&code_key(&code), &value, lifetime).await?;
    Ok(code)
}

/// Takes the code's grant: `None` if it never existed, expired, or was already taken.
pub async fn take_code(store: &dyn ShortLivedStore, code: &OpaqueSecret) -> Result<Option<CodeGrant>, StoreError> {
    store.take(&code_key(code)).await?.map(|bytes| serde_json::from_slice(&bytes).map_err(malformed)).transpose()
}

pub async fn remember_redeemed(
    store: &dyn ShortLivedStore,
    code: &OpaqueSecret,
    redeemed: &RedeemedCode,
) -> Result<(), StoreError> {
    let value = serde_json::to_vec(redeemed).map_err(malformed)?;
    store.put(&redeemed_key(code), &value, REDEEMED_MEMORY).await
}

/// What an earlier redemption of `code` produced, taken so that it is revoked only once.
pub async fn take_redeemed(
    store: &dyn ShortLivedStore,
    code: &OpaqueSecret,
) -> Result<Option<RedeemedCode>, StoreError> {
    store.take(&redeemed_key(code)).await?.map(|bytes| serde_json::from_slice(&bytes).map_err(malformed)).transpose()
}

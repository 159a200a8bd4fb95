//! Checking a bearer access token presented to ferrid itself (userinfo): signature by a ring
//! key, `typ: at+jwt`, issuer, audience, expiry (RFC 9068 §4), and the deny-list.

use chrono::{DateTime, Utc};
use keys::{KeyRing, SigningAlg, Validation};
use serde_json::{Map, Value};

use super::{
    revocation::is_denied,
    scope::Scope,
    tokens::{ACCESS_TOKEN_TYP, default_audience},
};
use crate::{
    config::Issuer,
    store::{ShortLivedStore, StoreError},
};

/// What a valid access token grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessGrant {
    pub subject: String,
    pub client_id: String,
    pub scope: Scope,
    pub jti: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessTokenError {
    /// RFC 6750 §3.1 `invalid_token`: malformed, forged, expired, revoked or not for ferrid.
    #[error("the access token is invalid")]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn text<'a>(claims: &'a Map<String, Value>, name: &str) -> Result<&'a str, AccessTokenError> {
    claims.get(name).and_then(Value::as_str).ok_or(AccessTokenError::Invalid)
}

pub async fn verify_access_token(
    ring: &KeyRing,
    issuer: &Issuer,
    store: &dyn ShortLivedStore,
    token: &str,
    now: DateTime<Utc>,
) -> Result<AccessGrant, AccessTokenError> {
    let validation = Validation::new(&SigningAlg::ALL, now).with_typ(ACCESS_TOKEN_TYP);
    let claims = ring.verify_jwt(token, &validation).map_err(|_| AccessTokenError::Invalid)?;
    let audience = default_audience(issuer);
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => *aud == audience,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience.as_str())),
        _ => false,
    };
    if text(&claims, "iss")? != issuer.as_str() || !audience_ok {
        return Err(AccessTokenError::Invalid);
    }
    let jti = text(&claims, "jti")?.to_owned();
    if is_denied(store, &jti).await? {
        return Err(AccessTokenError::Invalid);
    }
    let expires_at = claims
        .get("exp")
        .and_then(Value::as_i64)
        .and_then(|exp| DateTime::from_timestamp(exp, 0))
        .ok_or(AccessTokenError::Invalid)?;
    Ok(AccessGrant {
        subject: text(&claims, "sub")?.to_owned(),
        client_id: text(&claims, "client_id")?.to_owned(),
        scope: Scope::parse(text(&claims, "scope")?).map_err(|_| AccessTokenError::Invalid)?,
        jti,
        expires_at,
    })
}

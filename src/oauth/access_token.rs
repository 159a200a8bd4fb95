//! Checking ferrid's access tokens and the deny-list; for tokens presented to ferrid itself
//! (userinfo), also the audience. A JWT is verified (signature by a ring key, `typ: at+jwt`,
//! issuer, expiry: RFC 9068 §4); an opaque token, or a nested JWE that only its resource server
//! can decrypt, is looked up by digest (DESIGN §6).

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use chrono::{DateTime, Duration, Utc};
use keys::{KeyRing, OpaqueSecret, SecretDigest, SigningAlg, Validation};
use ring::digest;
use serde_json::{Map, Value};

use super::{
    revocation::is_revoked,
    scope::Scope,
    tokens::{ACCESS_TOKEN_TYP, default_audience},
};
use crate::{
    config::Issuer,
    keyring::PublishedRing,
    store::{ShortLivedStore, StoreError, sql::AccessTokenRepository},
};

/// What a valid access token grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessGrant {
    pub subject: String,
    pub client_id: String,
    pub scope: Scope,
    pub jti: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The `aud` values (RFC 9068 §2.2): ferrid's default audience, or the resources the
    /// client named (RFC 8707 §2).
    pub audience: Vec<String>,
    /// The sign-in session, for JWT access tokens issued to a user (opaque records omit it).
    pub sid: Option<String>,
    /// The thumbprint of the key the token is bound to (RFC 9449 §6): `cnf.jkt` in a JWT, a
    /// column for tokens ferrid looks up.
    pub jkt: Option<String>,
}

/// An access token ferrid looks up rather than verifies: the grant, filed under the digest of
/// the token (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessTokenRecord {
    pub digest: SecretDigest,
    pub grant: AccessGrant,
}

/// Where ferrid finds what it needs to check its access tokens.
#[derive(Clone, Copy)]
pub struct Verifier<'a> {
    pub published: &'a PublishedRing,
    /// JWTs already verified under `published`.
    pub verified: &'a VerifiedTokens,
    pub issuer: &'a Issuer,
    /// The deny-list.
    pub store: &'a dyn ShortLivedStore,
    /// Opaque and JWE tokens.
    pub references: &'a AccessTokenRepository,
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

fn instant(claims: &Map<String, Value>, name: &str) -> Result<DateTime<Utc>, AccessTokenError> {
    claims
        .get(name)
        .and_then(Value::as_i64)
        .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
        .ok_or(AccessTokenError::Invalid)
}

/// A client_credentials token may carry no scope at all: the empty string.
fn scope(value: &str) -> Result<Scope, AccessTokenError> {
    if value.is_empty() { Ok(Scope::default()) } else { Scope::parse(value).map_err(|_| AccessTokenError::Invalid) }
}

/// A token presented to ferrid itself: [`verify_issued_access_token`] plus ferrid's own audience
/// (RFC 9068 §4: the resource server checks that `aud` names it).
pub async fn verify_access_token(
    verifier: Verifier<'_>,
    token: &str,
    now: DateTime<Utc>,
) -> Result<AccessGrant, AccessTokenError> {
    let grant = verify_issued_access_token(verifier, token, now).await?;
    let audience = default_audience(verifier.issuer);
    if !grant.audience.contains(&audience) {
        return Err(AccessTokenError::Invalid);
    }
    Ok(grant)
}

/// A token presented to ferrid's own APIs under the `Bearer` scheme: [`verify_access_token`],
/// refusing a DPoP-bound token, which is good only with a proof of its key (RFC 9449 §7.2).
pub async fn verify_bearer_access_token(
    verifier: Verifier<'_>,
    token: &str,
    now: DateTime<Utc>,
) -> Result<AccessGrant, AccessTokenError> {
    let grant = verify_access_token(verifier, token, now).await?;
    if grant.jkt.is_some() {
        return Err(AccessTokenError::Invalid);
    }
    Ok(grant)
}

/// Whether ferrid issued `token` and it is still good, for any audience, and not revoked — on
/// the deny-list (RFC 7009 §2) or issued before its user was logged out everywhere. Introspection and revocation use it, since they answer for tokens
/// meant for other resource servers too.
pub async fn verify_issued_access_token(
    verifier: Verifier<'_>,
    token: &str,
    now: DateTime<Utc>,
) -> Result<AccessGrant, AccessTokenError> {
    // A JWS compact serialisation has three parts; anything else can only be a reference.
    let grant = if token.split('.').count() == 3 {
        verifier.verified.verify(verifier.published, token, now, || {
            verify_jwt(&verifier.published.ring, verifier.issuer, token, now)
        })?
    } else {
        look_up(verifier.references, token, now).await?
    };
    if is_revoked(verifier.store, &grant.jti, &grant.subject, grant.issued_at).await? {
        return Err(AccessTokenError::Invalid);
    }
    Ok(grant)
}

/// Signature by a ring key, `typ: at+jwt`, `iss` and `exp` (RFC 9068 §4).
fn verify_jwt(
    ring: &KeyRing,
    issuer: &Issuer,
    token: &str,
    now: DateTime<Utc>,
) -> Result<AccessGrant, AccessTokenError> {
    let validation = Validation::new(&SigningAlg::ALL, now).with_typ(ACCESS_TOKEN_TYP);
    let claims = ring.verify_jwt(token, &validation).map_err(|_| AccessTokenError::Invalid)?;
    if text(&claims, "iss")? != issuer.as_str() {
        return Err(AccessTokenError::Invalid);
    }
    let audience = match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.clone()],
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => return Err(AccessTokenError::Invalid),
    };
    Ok(AccessGrant {
        subject: text(&claims, "sub")?.to_owned(),
        client_id: text(&claims, "client_id")?.to_owned(),
        scope: scope(text(&claims, "scope")?)?,
        jti: text(&claims, "jti")?.to_owned(),
        issued_at: instant(&claims, "iat")?,
        expires_at: instant(&claims, "exp")?,
        audience,
        sid: claims.get("sid").and_then(Value::as_str).map(str::to_owned),
        jkt: claims.get("cnf").and_then(|cnf| cnf.get("jkt")).and_then(Value::as_str).map(str::to_owned),
    })
}

/// JWT access tokens that passed [`verify_jwt`], by the SHA-256 of the whole token, with the
/// ring (its JWKS ETag) that verified them. A resource server presents the same token many times
/// (introspection, userinfo): a repeat skips the signature check, whose cost dominates those
/// endpoints, and keeps every other check — expiry here, revocation in the caller. A changed
/// ring (a key added, retired or revoked) makes every entry miss.
#[derive(Default)]
pub struct VerifiedTokens(RwLock<HashMap<[u8; 32], VerifiedToken>>);

struct VerifiedToken {
    ring_etag: Arc<str>,
    grant: AccessGrant,
    /// `exp` plus the leeway [`Validation`] allows: the first check's own limit.
    valid_until: DateTime<Utc>,
}

/// Beyond this many tokens the cache starts over, so it never grows without bound.
const MOST_VERIFIED_TOKENS: usize = 16_384;

/// [`Validation::new`]'s leeway on `exp`.
const EXPIRY_LEEWAY: Duration = Duration::seconds(60);

impl VerifiedTokens {
    fn verify(
        &self,
        published: &PublishedRing,
        token: &str,
        now: DateTime<Utc>,
        verify: impl FnOnce() -> Result<AccessGrant, AccessTokenError>,
    ) -> Result<AccessGrant, AccessTokenError> {
        let mut key = [0u8; 32];
        key.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
        let ring_etag = published.etag.clone();
        if let Some(hit) = self.0.read().unwrap_or_else(|p| p.into_inner()).get(&key)
            && hit.ring_etag == ring_etag
        {
            return if now < hit.valid_until { Ok(hit.grant.clone()) } else { Err(AccessTokenError::Invalid) };
        }
        let grant = verify()?;
        let mut entries = self.0.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MOST_VERIFIED_TOKENS {
            entries.retain(|_, entry| entry.valid_until > now);
            if entries.len() >= MOST_VERIFIED_TOKENS {
                entries.clear();
            }
        }
        let valid_until = grant.expires_at + EXPIRY_LEEWAY;
        entries.insert(key, VerifiedToken { ring_etag, grant: grant.clone(), valid_until });
        Ok(grant)
    }
}

/// An opaque or JWE token: known by its digest and not expired.
async fn look_up(
    references: &AccessTokenRepository,
    token: &str,
    now: DateTime<Utc>,
) -> Result<AccessGrant, AccessTokenError> {
    let digest = OpaqueSecret::from_presented(token.to_owned()).digest();
    match references.find(&digest).await? {
        Some(grant) if grant.expires_at > now => Ok(grant),
        _ => Err(AccessTokenError::Invalid),
    }
}

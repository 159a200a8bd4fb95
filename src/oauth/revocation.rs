//! Revocation state shared by every node: the access-token deny-list, where a revoked token's
//! `jti` stays in the short-lived store until the token would have expired anyway (RFC 7009 §2,
//! DESIGN §5); and the access tokens minted from each refresh-token family, so that revoking a
//! family also revokes them (RFC 7009 §2.1).
//!
//! The family's tokens are a small JSON list in the short-lived store (`family-jtis:{family}`)
//! rather than a table: an entry matters only until its access token expires (minutes), so the
//! key lives exactly as long as the newest token, and the list never holds more than the tokens
//! minted within one access-token lifetime. The read-modify-write is not atomic, but two writers
//! never race on one family: the code grant starts it, and after that each mint follows the one
//! successful rotation of the family's single live refresh token.
//!
//! A revoked family is also remembered there for a while (`family-revoked:{family}`), written
//! before the family's list is read: a refresh that rotated just before the revocation records
//! its access token in the list and then looks for the mark, so either the revocation sees the
//! token or the refresh sees the mark, without a database read on every refresh.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::refresh_token::FamilyId;
use crate::store::{ShortLivedStore, StoreError, sql::RefreshTokenRepository};

fn key(jti: &str) -> String {
    format!("denied-jti:{jti}")
}

fn signed_out_key(subject: &str) -> String {
    format!("signed-out:{subject}")
}

fn family_key(family: &FamilyId) -> String {
    format!("family-jtis:{family}")
}

fn revoked_family_key(family: &FamilyId) -> String {
    format!("family-revoked:{family}")
}

/// How long a revoked family stays marked: far longer than a refresh request takes from its
/// rotation to its look at the mark.
const REVOKED_FAMILY_MARK: Duration = Duration::from_secs(600);

fn remaining(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (expires_at - now).to_std().unwrap_or(Duration::ZERO)
}

/// Denies the access token `jti` until `expires_at`.
pub async fn deny_access_token(
    store: &dyn ShortLivedStore,
    jti: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let remaining = remaining(expires_at, now);
    if remaining.is_zero() {
        return Ok(());
    }
    store.put(&key(jti), b"1", remaining).await
}

/// Revokes every access token issued to `subject` up to `at`, whether or not ferrid tracked it
/// (a code-flow token has no refresh family to revoke it through): for when the user is logged
/// out everywhere, disabled, deleted or given a new password. The marker lives `ttl`, the longest
/// an access token can live. Tokens issued later in the same second are caught too: whole
/// seconds are all `iat` carries.
pub async fn revoke_tokens_issued_before(
    store: &dyn ShortLivedStore,
    subject: &str,
    at: DateTime<Utc>,
    ttl: Duration,
) -> Result<(), StoreError> {
    store.put(&signed_out_key(subject), at.timestamp().to_string().as_bytes(), ttl).await
}

/// Whether the access token `jti`, issued to `subject` at `issued_at`, was revoked — by itself
/// or with every token of its subject. One round trip to the store.
pub async fn is_revoked(
    store: &dyn ShortLivedStore,
    jti: &str,
    subject: &str,
    issued_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let values = store.get_many(&[&key(jti), &signed_out_key(subject)]).await?;
    if values.first().is_some_and(Option::is_some) {
        return Ok(true);
    }
    let signed_out_at =
        values.get(1).and_then(Option::as_deref).and_then(|bytes| std::str::from_utf8(bytes).ok()?.parse::<i64>().ok());
    Ok(signed_out_at.is_some_and(|at| issued_at.timestamp() <= at))
}

/// An access token minted from a refresh-token family.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct FamilyAccessToken {
    jti: String,
    exp: DateTime<Utc>,
}

fn malformed(_: serde_json::Error) -> StoreError {
    StoreError::Malformed("family access tokens")
}

async fn family_access_tokens(
    store: &dyn ShortLivedStore,
    family: &FamilyId,
) -> Result<Vec<FamilyAccessToken>, StoreError> {
    match store.get(&family_key(family)).await? {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(malformed),
        None => Ok(Vec::new()),
    }
}

/// Remembers that the access token `jti` (valid until `expires_at`) was minted from `family`,
/// so that [`revoke_family`] can deny it (RFC 7009 §2.1). Expired entries are dropped.
pub async fn record_family_access_token(
    store: &dyn ShortLivedStore,
    family: &FamilyId,
    jti: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut tokens = family_access_tokens(store, family).await?;
    tokens.retain(|token| token.exp > now);
    tokens.push(FamilyAccessToken { jti: jti.to_owned(), exp: expires_at });
    let Some(ttl) = tokens.iter().map(|token| remaining(token.exp, now)).max().filter(|ttl| !ttl.is_zero()) else {
        return Ok(());
    };
    let value = serde_json::to_vec(&tokens).map_err(malformed)?;
    store.put(&family_key(family), &value, ttl).await
}

/// Whether `family` was revoked within the last [`REVOKED_FAMILY_MARK`]. Asked after recording
/// an access token with [`record_family_access_token`], it closes the race with
/// [`revoke_family`].
pub async fn family_recently_revoked(store: &dyn ShortLivedStore, family: &FamilyId) -> Result<bool, StoreError> {
    Ok(store.get(&revoked_family_key(family)).await?.is_some())
}

/// Revokes every refresh token of `family` and denies every live access token minted from it
/// (RFC 7009 §2.1; RFC 9700 §4.14.2 on reuse; RFC 6749 §4.1.2 on a replayed code). The one way a
/// family is revoked; returns how many refresh tokens were.
pub async fn revoke_family(
    repo: &RefreshTokenRepository,
    store: &dyn ShortLivedStore,
    family: &FamilyId,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    store.put(&revoked_family_key(family), b"1", REVOKED_FAMILY_MARK).await?;
    let revoked = repo.revoke_family(family, now).await?;
    for token in family_access_tokens(store, family).await? {
        deny_access_token(store, &token.jti, token.exp, now).await?;
    }
    Ok(revoked)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::short_lived::MemoryStore;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn a_family_remembers_only_its_live_access_tokens_rfc_7009_2_1() {
        let store = MemoryStore::new();
        let family = FamilyId::from_stored("f1");
        let minute = chrono::Duration::minutes(1);
        record_family_access_token(&store, &family, "a", t0() + minute * 15, t0()).await.unwrap();
        record_family_access_token(&store, &family, "b", t0() + minute * 25, t0() + minute * 10).await.unwrap();
        // At minute 20, `a` has expired and is dropped when `c` is added.
        record_family_access_token(&store, &family, "c", t0() + minute * 35, t0() + minute * 20).await.unwrap();
        let jtis: Vec<String> =
            family_access_tokens(&store, &family).await.unwrap().into_iter().map(|t| t.jti).collect();
        assert_eq!(jtis, ["b", "c"]);
        // An already expired token is not recorded at all.
        let other = FamilyId::from_stored("f2");
        record_family_access_token(&store, &other, "x", t0(), t0()).await.unwrap();
        assert!(family_access_tokens(&store, &other).await.unwrap().is_empty());
    }
}

//! Revocation state shared by every node: the access-token deny-list, where a revoked token's
//! `jti` stays in the short-lived store until the token would have expired anyway (RFC 7009 §2,
//! DESIGN §5); and revoked refresh-token families, whose access tokens are revoked with them
//! (RFC 7009 §2.1).
//!
//! An access token minted from a family carries the family in its `jti` (`{family}.{random}`; a
//! `jti` means nothing to anyone else, RFC 7519 §4.1.7). Revoking the family is then one mark in
//! the store (`family-revoked:{family}`) that outlives every access token the family could have
//! minted, and checking a token reads that mark in the same round trip as its own deny-list
//! entry: nothing is written per token, so a refresh costs the store nothing for this.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::refresh_token::FamilyId;
use crate::store::{ShortLivedStore, StoreError, sql::RefreshTokenRepository};

fn key(jti: &str) -> String {
    format!("denied-jti:{jti}")
}

fn signed_out_key(subject: &str) -> String {
    format!("signed-out:{subject}")
}

fn revoked_family_key(family: &str) -> String {
    format!("family-revoked:{family}")
}

/// How much longer than the longest access token a family's mark lives: a refresh that rotated
/// just before the revocation may mint its token a little later (at most one request's time).
const REVOKED_FAMILY_MARGIN: Duration = Duration::from_secs(600);

/// A new access token's `jti`: random, prefixed with the family it is minted from, if any.
pub fn access_token_jti(family: Option<&FamilyId>) -> String {
    let random = keys::random_id(16);
    match family {
        Some(family) => format!("{family}.{random}"),
        None => random,
    }
}

/// The family an access token was minted from, read back from its `jti`. Family ids are
/// base64url, which has no `.`.
fn family_of(jti: &str) -> Option<&str> {
    jti.split_once('.').map(|(family, _)| family)
}

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

/// Whether the access token `jti`, issued to `subject` at `issued_at`, was revoked — by itself,
/// with its refresh family, or with every token of its subject. One round trip to the store.
pub async fn is_revoked(
    store: &dyn ShortLivedStore,
    jti: &str,
    subject: &str,
    issued_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let (denied, signed_out) = (key(jti), signed_out_key(subject));
    let family = family_of(jti).map(revoked_family_key);
    let mut keys = vec![denied.as_str(), signed_out.as_str()];
    keys.extend(family.as_deref());
    let values = store.get_many(&keys).await?;
    if values.first().is_some_and(Option::is_some) || values.get(2).is_some_and(Option::is_some) {
        return Ok(true);
    }
    let signed_out_at =
        values.get(1).and_then(Option::as_deref).and_then(|bytes| std::str::from_utf8(bytes).ok()?.parse::<i64>().ok());
    Ok(signed_out_at.is_some_and(|at| issued_at.timestamp() <= at))
}

/// Whether `family` was revoked while its access tokens may still be alive. A refresh asks after
/// its rotation committed, to catch a revocation that ran alongside it and may have missed the
/// successor it just stored.
pub async fn family_revoked(store: &dyn ShortLivedStore, family: &FamilyId) -> Result<bool, StoreError> {
    Ok(store.get(&revoked_family_key(family.as_str())).await?.is_some())
}

/// Revokes every refresh token of `family` and every access token minted from it (RFC 7009 §2.1;
/// RFC 9700 §4.14.2 on reuse; RFC 6749 §4.1.2 on a replayed code): the mark first, which lives
/// `access_tokens_live_for` (the longest an access token lives) and a margin, then the database.
/// The one way a family is revoked; returns how many refresh tokens were.
pub async fn revoke_family(
    repo: &RefreshTokenRepository,
    store: &dyn ShortLivedStore,
    family: &FamilyId,
    now: DateTime<Utc>,
    access_tokens_live_for: Duration,
) -> Result<u64, StoreError> {
    let mark_for = access_tokens_live_for + REVOKED_FAMILY_MARGIN;
    store.put(&revoked_family_key(family.as_str()), b"1", mark_for).await?;
    repo.revoke_family(family, now).await
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::short_lived::MemoryStore;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn a_jti_names_the_family_it_was_minted_from() {
        let family = FamilyId::generate();
        let jti = access_token_jti(Some(&family));
        assert_eq!(family_of(&jti), Some(family.as_str()));
        let (_, random) = jti.split_once('.').unwrap();
        assert_eq!(random.len(), 22, "16 random bytes, base64url");
        assert_ne!(access_token_jti(Some(&family)), jti, "unique per token");
        assert_eq!(family_of(&access_token_jti(None)), None);
    }

    #[tokio::test]
    async fn revoking_a_family_revokes_its_access_tokens_and_no_others_rfc_7009_2_1() {
        let store = MemoryStore::new();
        let (family, other) = (FamilyId::generate(), FamilyId::generate());
        let (minted, unrelated, alone) =
            (access_token_jti(Some(&family)), access_token_jti(Some(&other)), access_token_jti(None));
        let revoked = revoked_family_key(family.as_str());
        store.put(&revoked, b"1", Duration::from_secs(60)).await.unwrap();
        assert!(family_revoked(&store, &family).await.unwrap());
        assert!(!family_revoked(&store, &other).await.unwrap());
        assert!(is_revoked(&store, &minted, "someone", t0()).await.unwrap());
        assert!(!is_revoked(&store, &unrelated, "someone", t0()).await.unwrap());
        assert!(!is_revoked(&store, &alone, "someone", t0()).await.unwrap());
    }
}

//! Refresh tokens: issuing the first token of a family, and the refresh_token grant (RFC 6749 §6)
//! with rotation and reuse detection (RFC 9700 §4.14.2).
//!
//! A refresh token is an opaque secret stored only as its digest (DESIGN §6). Each grant starts a
//! family; every refresh consumes the presented token and issues its successor in the same family.
//! Presenting a token that was already consumed means two parties hold it, so the whole family,
//! the newest token included, is revoked.

use chrono::{DateTime, Duration, Utc};
use keys::{OpaqueSecret, SecretDigest};

use super::{
    client::{Client, ClientId, GrantType},
    error::OAuthError,
    scope::Scope,
    session::RequestOrigin,
};
use crate::{
    accounts::UserId,
    audit::{Actor, AuditEvent, AuditLog, kinds},
    metrics::Metrics,
    store::{ShortLivedStore, StoreError, sql::RefreshTokenRepository},
};

/// The tokens descending from one authorization grant (RFC 9700 §4.14.2). Not a secret.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FamilyId(String);

impl FamilyId {
    pub fn generate() -> Self {
        Self(keys::random_id(16))
    }

    /// Restores an id read from storage.
    pub fn from_stored(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for FamilyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the user authorized, carried unchanged from token to token within a family: a refresh
/// never widens the grant (RFC 6749 §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshGrant {
    pub client_id: ClientId,
    pub user_id: UserId,
    pub scope: Scope,
    /// The OP session the grant came from (OIDC Core §2 `sid`), for back-channel logout.
    pub sid: Option<String>,
    /// When the user authenticated (OIDC Core §2 `auth_time`); ID tokens from refreshes repeat it.
    pub auth_time: DateTime<Utc>,
    /// How the user authenticated (RFC 8176 `amr` values).
    pub amr: Vec<String>,
    /// For a public client that presented a DPoP proof: the thumbprint of its key. Every
    /// refresh of the family then needs a proof by that key (RFC 9449 §5).
    pub dpop_jkt: Option<String>,
}

/// A refresh token about to be stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRefreshToken {
    pub digest: SecretDigest,
    pub family_id: FamilyId,
    pub grant: RefreshGrant,
    pub issued_at: DateTime<Utc>,
    /// Idle expiry: a token unused this long dies (RFC 9700 §4.14.2 suggests expiring inactive tokens).
    pub expires_at: DateTime<Utc>,
    /// Absolute expiry of the family: no rotation extends the grant beyond it.
    pub family_expires_at: DateTime<Utc>,
    /// Where the request that obtained this token came from.
    pub origin: RequestOrigin,
}

/// A stored refresh token and what has happened to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub digest: SecretDigest,
    pub family_id: FamilyId,
    pub grant: RefreshGrant,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub family_expires_at: DateTime<Utc>,
    /// Set when the token was exchanged for its successor: it may never be used again.
    pub rotated_at: Option<DateTime<Utc>>,
    /// Set when the token or its family was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Where the request that obtained this token came from: the family's last use.
    pub origin: RequestOrigin,
}

/// The result of atomically consuming a refresh token (see [`RefreshTokenRepository::rotate`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RotateOutcome {
    /// This call consumed the token and stored its successor; the record is the consumed token.
    Rotated(Box<RefreshTokenRecord>),
    /// The token had already been consumed: it is being replayed (RFC 9700 §4.14.2).
    Reused {
        family_id: FamilyId,
    },
    Revoked,
    Unknown,
}

/// How long refresh tokens live: `idle` since the last rotation, `absolute` since the family began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshLifetimes {
    pub idle: Duration,
    pub absolute: Duration,
}

impl Default for RefreshLifetimes {
    fn default() -> Self {
        Self { idle: Duration::days(7), absolute: Duration::days(30) }
    }
}

/// A successful refresh: the new token (handed to the client once) and the scope the access
/// token is issued with, which may be narrower than the grant (RFC 6749 §6).
#[derive(Debug)]
pub struct RotatedRefreshToken {
    /// The stored successor; its `grant.scope` is the original scope of the family.
    pub record: NewRefreshToken,
    pub token: OpaqueSecret,
    pub family_id: FamilyId,
    /// The scope for the access token issued with this refresh.
    pub access_scope: Scope,
    /// Where the consumed token was obtained: the family's previous use.
    pub previous_origin: RequestOrigin,
}

/// Starts `family` for a grant (the authorization_code grant, RFC 6749 §4.1.4 / §1.5). The
/// caller stores the record and hands the secret to the client.
pub fn issue_refresh_token(
    family_id: FamilyId,
    grant: RefreshGrant,
    now: DateTime<Utc>,
    lifetimes: RefreshLifetimes,
    origin: RequestOrigin,
) -> (OpaqueSecret, NewRefreshToken) {
    let family_expires_at = now + lifetimes.absolute;
    let token = OpaqueSecret::generate();
    let record = NewRefreshToken {
        digest: token.digest(),
        family_id,
        grant,
        issued_at: now,
        expires_at: (now + lifetimes.idle).min(family_expires_at),
        family_expires_at,
        origin,
    };
    (token, record)
}

/// The next token of `record`'s family: same grant (the original scope, RFC 6749 §6), a fresh
/// idle lifetime that never outlives the family.
fn successor(
    record: &RefreshTokenRecord,
    now: DateTime<Utc>,
    lifetimes: RefreshLifetimes,
    origin: RequestOrigin,
) -> (OpaqueSecret, NewRefreshToken) {
    let token = OpaqueSecret::generate();
    let next = NewRefreshToken {
        digest: token.digest(),
        family_id: record.family_id.clone(),
        grant: record.grant.clone(),
        issued_at: now,
        expires_at: (now + lifetimes.idle).min(record.family_expires_at),
        family_expires_at: record.family_expires_at,
        origin,
    };
    (token, next)
}

/// RFC 6749 §6: the requested scope "MUST NOT include any scope not originally granted"; when
/// omitted it is the original scope.
fn access_scope(requested: Option<Scope>, granted: &Scope) -> Result<Scope, OAuthError> {
    match requested {
        None => Ok(granted.clone()),
        Some(requested) if requested.is_subset_of(granted) => Ok(requested),
        Some(_) => Err(OAuthError::InvalidScope("the requested scope exceeds the scope originally granted".to_owned())),
    }
}

fn invalid_grant() -> OAuthError {
    OAuthError::InvalidGrant("the refresh token is invalid, expired or revoked".to_owned())
}

/// Why a stored token cannot be used, before anything is consumed.
#[derive(Debug, PartialEq, Eq)]
enum Unusable {
    /// Issued to another client (RFC 6749 §6: the token is bound to its client).
    OtherClient,
    Revoked,
    /// Already rotated: a replay (RFC 9700 §4.14.2).
    Reused,
    Expired,
}

fn check_usable(record: &RefreshTokenRecord, client: &ClientId, now: DateTime<Utc>) -> Result<(), Unusable> {
    if &record.grant.client_id != client {
        Err(Unusable::OtherClient)
    } else if record.revoked_at.is_some() {
        Err(Unusable::Revoked)
    } else if record.rotated_at.is_some() {
        Err(Unusable::Reused)
    } else if now >= record.expires_at || now >= record.family_expires_at {
        Err(Unusable::Expired)
    } else {
        Ok(())
    }
}

/// Revokes a family in which a consumed token was presented again (RFC 9700 §4.14.2), with the
/// access tokens minted from it, and answers `invalid_grant`. If the revocation itself fails,
/// that failure is the answer: the replay is then detected again on the next attempt.
async fn reject_reuse(
    repo: &RefreshTokenRepository,
    store: &dyn ShortLivedStore,
    watch: &ReuseWatch<'_>,
    record: &RefreshTokenRecord,
    family_id: &FamilyId,
    now: DateTime<Utc>,
) -> OAuthError {
    watch.metrics.refresh_token_reuse_detected();
    match super::revocation::revoke_family(repo, store, family_id, now, watch.access_tokens_live_for).await {
        Ok(revoked) => {
            tracing::warn!(family_id = %family_id, revoked, "refresh token reuse detected; the family is revoked");
            let client = record.grant.client_id.as_str();
            let actor = Actor { user: None, client_id: Some(client.to_owned()), origin: watch.origin.clone() };
            let event = AuditEvent::new(kinds::TOKEN_REUSE_DETECTED, &actor)
                .user(record.grant.user_id)
                .client(client)
                .details(serde_json::json!({ "family_id": family_id.as_str(), "revoked": revoked }));
            watch.audit.record(event).await;
            invalid_grant()
        }
        Err(error) => error.into(),
    }
}

/// Who hears about a detected reuse: the metrics and the audit log, with the request's origin;
/// and how long the family's access tokens live, so its revocation outlives them.
pub struct ReuseWatch<'a> {
    pub metrics: &'a Metrics,
    pub audit: &'a AuditLog,
    pub origin: &'a RequestOrigin,
    pub access_tokens_live_for: std::time::Duration,
}

/// A rotated token presented again within its client's reuse grace window: a second successor in
/// the same family instead of revoking it. This is the weaker mode a client opts into when its
/// parallel requests race one refresh token; a thief using the token within the window goes
/// unnoticed, which strict rotation (the default, no window) would catch.
async fn reissue_within_grace(
    record: &RefreshTokenRecord,
    requested_scope: Option<Scope>,
    now: DateTime<Utc>,
    repo: &RefreshTokenRepository,
    lifetimes: RefreshLifetimes,
    origin: &RequestOrigin,
) -> Result<RotatedRefreshToken, OAuthError> {
    let access_scope = access_scope(requested_scope, &record.grant.scope)?;
    let (token, next) = successor(record, now, lifetimes, origin.clone());
    repo.insert(&next).await?;
    tracing::info!(family_id = %record.family_id, "rotated refresh token reused within the client's grace window");
    Ok(RotatedRefreshToken {
        family_id: next.family_id.clone(),
        record: next,
        token,
        access_scope,
        previous_origin: record.origin.clone(),
    })
}

/// The refresh_token grant (RFC 6749 §6) with rotation (RFC 9700 §4.14.2).
///
/// Steps: the client may use the grant (`unauthorized_client`); the token exists, belongs to
/// this client, is neither revoked nor expired (`invalid_grant`) — checked before anything is
/// consumed, so another client presenting a stolen token cannot burn it; the requested scope is
/// within the original (`invalid_scope`); then the token is consumed and its successor stored in
/// one transaction, so that of concurrent refreshes exactly one succeeds. A token that was
/// already consumed is a replay: its whole family, the newest token included, is revoked.
///
/// A family bound to a DPoP key (RFC 9449 §5) is refreshed only with a proof by that key,
/// `proof_jkt`; without one the token is left untouched (`invalid_dpop_proof`).
#[tracing::instrument(skip_all, fields(client_id = %client.id, grant_type = "refresh_token"))]
#[allow(clippy::too_many_arguments)]
pub async fn rotate_refresh_token(
    presented: OpaqueSecret,
    client: &Client,
    requested_scope: Option<Scope>,
    now: DateTime<Utc>,
    repo: &RefreshTokenRepository,
    store: &dyn ShortLivedStore,
    watch: &ReuseWatch<'_>,
    lifetimes: RefreshLifetimes,
    proof_jkt: Option<&str>,
) -> Result<RotatedRefreshToken, OAuthError> {
    let origin = watch.origin;
    if !client.metadata.grant_types.contains(&GrantType::RefreshToken) {
        return Err(OAuthError::UnauthorizedClient("the client may not use the refresh_token grant".to_owned()));
    }
    let digest = presented.digest();
    let Some(record) = repo.find(&digest).await? else {
        return Err(invalid_grant());
    };
    if record.grant.client_id == client.id
        && let Some(bound) = record.grant.dpop_jkt.as_deref()
        && proof_jkt != Some(bound)
    {
        return Err(OAuthError::InvalidDpopProof("the refresh token is bound to another DPoP key".to_owned()));
    }
    let grace = Duration::seconds(client.metadata.refresh_token_reuse_grace_secs.into());
    match check_usable(&record, &client.id, now) {
        Ok(()) => {}
        // Without a grace window every reuse is one, even from a request that started before the
        // winning rotation (its `now` precedes `rotated_at`).
        Err(Unusable::Reused)
            if grace > Duration::zero() && record.rotated_at.is_some_and(|rotated| now < rotated + grace) =>
        {
            return reissue_within_grace(&record, requested_scope, now, repo, lifetimes, origin).await;
        }
        Err(Unusable::Reused) => return Err(reject_reuse(repo, store, watch, &record, &record.family_id, now).await),
        Err(reason) => {
            tracing::info!(?reason, "refresh token rejected");
            return Err(invalid_grant());
        }
    }
    let access_scope = access_scope(requested_scope, &record.grant.scope)?;
    let (token, next) = successor(&record, now, lifetimes, origin.clone());
    let rotated = match repo.rotate(&digest, now, &next).await? {
        RotateOutcome::Rotated(_) => RotatedRefreshToken {
            family_id: next.family_id.clone(),
            record: next,
            token,
            access_scope,
            previous_origin: record.origin,
        },
        // Another request consumed it between our read and our update: a concurrent replay —
        // or, for a client with a grace window, a race between its own requests.
        RotateOutcome::Reused { .. } if grace > Duration::zero() => {
            reissue_within_grace(&record, Some(access_scope), now, repo, lifetimes, origin).await?
        }
        RotateOutcome::Reused { family_id } => {
            return Err(reject_reuse(repo, store, watch, &record, &family_id, now).await);
        }
        RotateOutcome::Revoked | RotateOutcome::Unknown => return Err(invalid_grant()),
    };
    revoke_again_if_revoked_meanwhile(&rotated.family_id, repo, store, now).await?;
    Ok(rotated)
}

/// A revocation of the family running alongside this rotation (a concurrent replay, RFC 9700
/// §4.14.2, or RFC 7009) may have missed the successor: on PostgreSQL its UPDATE does not see a
/// row committed after it began. The revocation marks the family before it updates the rows,
/// and this looks for the mark after the successor committed, so either the revocation's UPDATE
/// saw the successor, or the mark is here and the family is revoked again, the successor with it.
/// The rotation itself did succeed, so its answer still goes out; every token in it is dead (the
/// access token by the same mark).
async fn revoke_again_if_revoked_meanwhile(
    family: &FamilyId,
    repo: &RefreshTokenRepository,
    store: &dyn ShortLivedStore,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if super::revocation::family_revoked(store, family).await? {
        let revoked = repo.revoke_family(family, now).await?;
        tracing::info!(family_id = %family, revoked, "the family was revoked during its rotation");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn scope(value: &str) -> Scope {
        Scope::parse(value).unwrap()
    }

    fn grant() -> RefreshGrant {
        RefreshGrant {
            client_id: ClientId::parse("client").unwrap(),
            user_id: UserId(Uuid::nil()),
            scope: scope("openid profile offline_access"),
            sid: Some("sid".to_owned()),
            auth_time: t0(),
            amr: vec!["pwd".to_owned()],
            dpop_jkt: None,
        }
    }

    fn stored(new: NewRefreshToken) -> RefreshTokenRecord {
        RefreshTokenRecord {
            digest: new.digest,
            family_id: new.family_id,
            grant: new.grant,
            issued_at: new.issued_at,
            expires_at: new.expires_at,
            family_expires_at: new.family_expires_at,
            rotated_at: None,
            revoked_at: None,
            origin: new.origin,
        }
    }

    #[test]
    fn a_new_family_has_idle_and_absolute_expiry_rfc_9700_4_14_2() {
        let family = FamilyId::generate();
        let (token, record) =
            issue_refresh_token(family.clone(), grant(), t0(), RefreshLifetimes::default(), RequestOrigin::default());
        assert_eq!(record.family_id, family);
        assert!(record.digest.matches(&token));
        assert_ne!(record.digest.as_str(), token.expose(), "only the digest is stored");
        assert_eq!(record.expires_at, t0() + Duration::days(7));
        assert_eq!(record.family_expires_at, t0() + Duration::days(30));

        // An idle lifetime longer than the absolute one is capped by it.
        let short = RefreshLifetimes { idle: Duration::days(7), absolute: Duration::days(1) };
        let (_, record) = issue_refresh_token(FamilyId::generate(), grant(), t0(), short, RequestOrigin::default());
        assert_eq!(record.expires_at, record.family_expires_at);
    }

    #[test]
    fn a_successor_keeps_the_grant_and_never_outlives_the_family_rfc_6749_6() {
        let (_, first) = issue_refresh_token(
            FamilyId::generate(),
            grant(),
            t0(),
            RefreshLifetimes::default(),
            RequestOrigin::default(),
        );
        let first = stored(first);
        let (token, next) =
            successor(&first, t0() + Duration::days(1), RefreshLifetimes::default(), RequestOrigin::default());
        assert!(next.digest.matches(&token));
        assert_ne!(next.digest, first.digest);
        assert_eq!((&next.family_id, &next.grant), (&first.family_id, &first.grant));
        assert_eq!(next.expires_at, t0() + Duration::days(8));

        let (_, late) =
            successor(&first, t0() + Duration::days(27), RefreshLifetimes::default(), RequestOrigin::default());
        assert_eq!(late.expires_at, first.family_expires_at);
    }

    #[test]
    fn requested_scope_may_only_narrow_rfc_6749_6() {
        let granted = scope("openid profile offline_access");
        assert_eq!(access_scope(None, &granted).unwrap(), granted);
        assert_eq!(access_scope(Some(scope("openid")), &granted).unwrap(), scope("openid"));
        let error = access_scope(Some(scope("openid email")), &granted).unwrap_err();
        assert_eq!(error.code(), "invalid_scope");
    }

    #[test]
    fn only_a_live_token_of_this_client_is_usable_rfc_6749_6() {
        let (_, record) = issue_refresh_token(
            FamilyId::generate(),
            grant(),
            t0(),
            RefreshLifetimes::default(),
            RequestOrigin::default(),
        );
        let record = stored(record);
        let client = record.grant.client_id.clone();
        let now = t0() + Duration::hours(1);
        assert_eq!(check_usable(&record, &client, now), Ok(()));
        assert_eq!(check_usable(&record, &ClientId::parse("other").unwrap(), now), Err(Unusable::OtherClient));
        assert_eq!(check_usable(&record, &client, record.expires_at), Err(Unusable::Expired));
        let rotated = RefreshTokenRecord { rotated_at: Some(now), ..record.clone() };
        assert_eq!(check_usable(&rotated, &client, now), Err(Unusable::Reused));
        let revoked = RefreshTokenRecord { revoked_at: Some(now), ..rotated };
        assert_eq!(check_usable(&revoked, &client, now), Err(Unusable::Revoked));
        let family_over = RefreshTokenRecord { expires_at: t0() + Duration::days(60), ..record };
        assert_eq!(check_usable(&family_over, &client, t0() + Duration::days(30)), Err(Unusable::Expired));
    }
}

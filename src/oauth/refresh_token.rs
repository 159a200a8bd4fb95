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
    /// This call consumed the token and stored its successor.
    Rotated { consumed: Box<RefreshTokenRecord>, successor: Box<NewRefreshToken> },
    /// The token did not meet the [`RotationTerms`] and is untouched: here is how it is stored,
    /// for the caller to tell why (none: no such token).
    Refused(Option<Box<RefreshTokenRecord>>),
}

/// What a rotation asks of the presented token, checked by the very statement that consumes it
/// (so a refresh reads nothing first), and how its successor is made from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationTerms {
    /// The token must be this client's (RFC 6749 §6), live at `now` (neither rotated, revoked
    /// nor expired), and, if its family is bound to a DPoP key, presented with a proof by that
    /// key (RFC 9449 §5).
    pub client_id: ClientId,
    pub now: DateTime<Utc>,
    pub proof_jkt: Option<String>,
    /// The successor's digest, idle lifetime and origin; the rest comes from the consumed token.
    pub successor_digest: SecretDigest,
    pub idle: Duration,
    pub origin: RequestOrigin,
}

impl RotationTerms {
    /// Whether a token that was neither rotated nor revoked meets these terms: what the
    /// consuming statement checks, so that a batch's consumed rows find their rotations.
    pub fn admits(&self, token: &RefreshTokenRecord) -> bool {
        token.grant.client_id == self.client_id
            && token.grant.dpop_jkt.as_deref().is_none_or(|bound| self.proof_jkt.as_deref() == Some(bound))
            && self.now < token.expires_at
            && self.now < token.family_expires_at
    }

    /// The next token of `consumed`'s family: same grant (the original scope, RFC 6749 §6), a
    /// fresh idle lifetime that never outlives the family.
    pub fn successor_of(&self, consumed: &RefreshTokenRecord) -> NewRefreshToken {
        NewRefreshToken {
            digest: self.successor_digest.clone(),
            family_id: consumed.family_id.clone(),
            grant: consumed.grant.clone(),
            issued_at: self.now,
            expires_at: (self.now + self.idle).min(consumed.family_expires_at),
            family_expires_at: consumed.family_expires_at,
            origin: self.origin.clone(),
        }
    }
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

/// A new refresh token and the terms on which it succeeds the presented one.
fn rotation_terms(
    client: &ClientId,
    now: DateTime<Utc>,
    lifetimes: RefreshLifetimes,
    origin: RequestOrigin,
    proof_jkt: Option<&str>,
) -> (OpaqueSecret, RotationTerms) {
    let token = OpaqueSecret::generate();
    let terms = RotationTerms {
        client_id: client.clone(),
        now,
        proof_jkt: proof_jkt.map(str::to_owned),
        successor_digest: token.digest(),
        idle: lifetimes.idle,
        origin,
    };
    (token, terms)
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

/// Why a stored token cannot be used.
#[derive(Debug, PartialEq, Eq)]
enum Unusable {
    /// Issued to another client (RFC 6749 §6: the token is bound to its client).
    OtherClient,
    /// Its family is bound to a DPoP key and the request proved another key, or none (RFC 9449 §5).
    OtherKey,
    Revoked,
    /// Already rotated: a replay (RFC 9700 §4.14.2).
    Reused,
    Expired,
}

/// The checks of [`RotationTerms`], in the order their answers take precedence: a token of
/// another client says nothing else about it; a bound family is not touched without its key.
fn check_usable(
    record: &RefreshTokenRecord,
    client: &ClientId,
    now: DateTime<Utc>,
    proof_jkt: Option<&str>,
) -> Result<(), Unusable> {
    if &record.grant.client_id != client {
        Err(Unusable::OtherClient)
    } else if record.grant.dpop_jkt.as_deref().is_some_and(|bound| proof_jkt != Some(bound)) {
        Err(Unusable::OtherKey)
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
    now: DateTime<Utc>,
) -> OAuthError {
    let family_id = &record.family_id;
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

/// One refresh request as the steps of [`rotate_refresh_token`] share it.
struct Refresh<'a> {
    client: &'a Client,
    requested_scope: Option<Scope>,
    now: DateTime<Utc>,
    repo: &'a RefreshTokenRepository,
    store: &'a dyn ShortLivedStore,
    watch: &'a ReuseWatch<'a>,
    lifetimes: RefreshLifetimes,
    proof_jkt: Option<&'a str>,
}

impl Refresh<'_> {
    /// The answer for a token that cannot be rotated: a replay revokes its family, unless it
    /// falls within the client's reuse grace window; anything else is `invalid_grant` (or, for a
    /// bound family presented without its key, `invalid_dpop_proof`) and leaves it untouched.
    async fn refuse(self, record: &RefreshTokenRecord, reason: Unusable) -> Result<RotatedRefreshToken, OAuthError> {
        let grace = Duration::seconds(self.client.metadata.refresh_token_reuse_grace_secs.into());
        match reason {
            Unusable::OtherKey => {
                Err(OAuthError::InvalidDpopProof("the refresh token is bound to another DPoP key".to_owned()))
            }
            // Without a grace window every reuse is one, even from a request that started before
            // the winning rotation (its `now` precedes `rotated_at`).
            Unusable::Reused
                if grace > Duration::zero() && record.rotated_at.is_some_and(|rotated| self.now < rotated + grace) =>
            {
                self.reissue_within_grace(record).await
            }
            Unusable::Reused => Err(reject_reuse(self.repo, self.store, self.watch, record, self.now).await),
            reason => {
                tracing::info!(?reason, "refresh token rejected");
                Err(invalid_grant())
            }
        }
    }

    /// A rotated token presented again within its client's reuse grace window: a second
    /// successor in the same family instead of revoking it. This is the weaker mode a client opts
    /// into when its parallel requests race one refresh token; a thief using the token within the
    /// window goes unnoticed, which strict rotation (the default, no window) would catch.
    async fn reissue_within_grace(self, record: &RefreshTokenRecord) -> Result<RotatedRefreshToken, OAuthError> {
        let access_scope = access_scope(self.requested_scope, &record.grant.scope)?;
        let (token, terms) =
            rotation_terms(&self.client.id, self.now, self.lifetimes, self.watch.origin.clone(), self.proof_jkt);
        let next = terms.successor_of(record);
        self.repo.insert(&next).await?;
        revoke_again_if_revoked_meanwhile(&next.family_id, self.repo, self.store, self.now).await?;
        tracing::info!(family_id = %record.family_id, "rotated refresh token reused within the client's grace window");
        Ok(RotatedRefreshToken {
            family_id: next.family_id.clone(),
            record: next,
            token,
            access_scope,
            previous_origin: record.origin.clone(),
        })
    }
}

/// The refresh_token grant (RFC 6749 §6) with rotation (RFC 9700 §4.14.2).
///
/// Steps: the client may use the grant (`unauthorized_client`); the token exists, belongs to
/// this client, is neither revoked nor expired (`invalid_grant`), and a family bound to a DPoP
/// key (RFC 9449 §5) is refreshed only with a proof by that key, `proof_jkt`
/// (`invalid_dpop_proof`) — all checked by the statement that consumes the token, so another
/// client presenting a stolen token cannot burn it; then its successor is stored in the same
/// transaction, so that of concurrent refreshes exactly one succeeds. A token that was already
/// consumed is a replay: its whole family, the newest token included, is revoked. A narrower
/// scope is checked against the grant first (`invalid_scope`), so that a bad request loses
/// nothing; that takes a read before the rotation, which a refresh without `scope` skips.
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
    if !client.metadata.grant_types.contains(&GrantType::RefreshToken) {
        return Err(OAuthError::UnauthorizedClient("the client may not use the refresh_token grant".to_owned()));
    }
    let refresh = Refresh { client, requested_scope, now, repo, store, watch, lifetimes, proof_jkt };
    let digest = presented.digest();
    if let Some(requested) = &refresh.requested_scope {
        let Some(record) = repo.find(&digest).await? else { return Err(invalid_grant()) };
        if let Err(reason) = check_usable(&record, &client.id, now, proof_jkt) {
            return refresh.refuse(&record, reason).await;
        }
        access_scope(Some(requested.clone()), &record.grant.scope)?;
    }
    let (token, terms) = rotation_terms(&client.id, now, lifetimes, watch.origin.clone(), proof_jkt);
    let (consumed, successor) = match repo.rotate(&digest, &terms).await? {
        RotateOutcome::Rotated { consumed, successor } => (consumed, successor),
        RotateOutcome::Refused(None) => return Err(invalid_grant()),
        // Not consumed, and why shows in the row — most often another request consumed it: a
        // replay, or for a client with a grace window, a race between its own requests.
        RotateOutcome::Refused(Some(record)) => match check_usable(&record, &client.id, now, proof_jkt) {
            Err(reason) => return refresh.refuse(&record, reason).await,
            // The database and these checks disagree (they never should): refuse, revoke nothing.
            Ok(()) => {
                tracing::warn!(family_id = %record.family_id, "a usable refresh token was not consumed");
                return Err(invalid_grant());
            }
        },
    };
    let rotated = RotatedRefreshToken {
        family_id: successor.family_id.clone(),
        access_scope: access_scope(refresh.requested_scope, &consumed.grant.scope)?,
        record: *successor,
        token,
        previous_origin: consumed.origin,
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

    /// The first token of a new family, as stored.
    fn live_token() -> RefreshTokenRecord {
        let (_, record) = issue_refresh_token(
            FamilyId::generate(),
            grant(),
            t0(),
            RefreshLifetimes::default(),
            RequestOrigin::default(),
        );
        stored(record)
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
        let successor = |now| {
            let (token, terms) = rotation_terms(
                &first.grant.client_id,
                now,
                RefreshLifetimes::default(),
                RequestOrigin::default(),
                None,
            );
            (token, terms.successor_of(&first))
        };
        let (token, next) = successor(t0() + Duration::days(1));
        assert!(next.digest.matches(&token));
        assert_ne!(next.digest, first.digest);
        assert_eq!((&next.family_id, &next.grant), (&first.family_id, &first.grant));
        assert_eq!(next.expires_at, t0() + Duration::days(8));

        let (_, late) = successor(t0() + Duration::days(27));
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
        let record = live_token();
        let client = record.grant.client_id.clone();
        let now = t0() + Duration::hours(1);
        assert_eq!(check_usable(&record, &client, now, None), Ok(()));
        assert_eq!(check_usable(&record, &client, now, Some("any key")), Ok(()), "an unbound family takes any");
        assert_eq!(check_usable(&record, &ClientId::parse("other").unwrap(), now, None), Err(Unusable::OtherClient));
        assert_eq!(check_usable(&record, &client, record.expires_at, None), Err(Unusable::Expired));
        let rotated = RefreshTokenRecord { rotated_at: Some(now), ..record.clone() };
        assert_eq!(check_usable(&rotated, &client, now, None), Err(Unusable::Reused));
        let revoked = RefreshTokenRecord { revoked_at: Some(now), ..rotated };
        assert_eq!(check_usable(&revoked, &client, now, None), Err(Unusable::Revoked));
        let family_over = RefreshTokenRecord { expires_at: t0() + Duration::days(60), ..record.clone() };
        assert_eq!(check_usable(&family_over, &client, t0() + Duration::days(30), None), Err(Unusable::Expired));

        // RFC 9449 §5: a bound family needs a proof by its key, and that answer comes before
        // whether the token was already used, so a replay without the key revokes nothing.
        let mut bound = record;
        bound.grant.dpop_jkt = Some("key".to_owned());
        assert_eq!(check_usable(&bound, &client, now, Some("key")), Ok(()));
        for proof in [None, Some("other key")] {
            assert_eq!(check_usable(&bound, &client, now, proof), Err(Unusable::OtherKey));
        }
        let bound_rotated = RefreshTokenRecord { rotated_at: Some(now), ..bound };
        assert_eq!(check_usable(&bound_rotated, &client, now, None), Err(Unusable::OtherKey));
    }

    /// The terms a batch's consuming statement checks (`RotationTerms::admits`) accept a live
    /// token exactly when `check_usable` does, so a consumed row finds the rotation it was for.
    #[test]
    fn rotation_terms_admit_a_live_token_exactly_when_it_is_usable() {
        let unbound = live_token();
        let bound = RefreshTokenRecord {
            grant: RefreshGrant { dpop_jkt: Some("key".to_owned()), ..unbound.grant.clone() },
            ..unbound.clone()
        };
        let clients = [unbound.grant.client_id.clone(), ClientId::parse("other").unwrap()];
        let times = [t0() + Duration::hours(1), unbound.expires_at, unbound.family_expires_at];
        for token in [&unbound, &bound] {
            for client in &clients {
                for now in times {
                    for proof in [None, Some("key"), Some("other key")] {
                        let (_, terms) =
                            rotation_terms(client, now, RefreshLifetimes::default(), RequestOrigin::default(), proof);
                        let usable = check_usable(token, client, now, proof).is_ok();
                        assert_eq!(terms.admits(token), usable, "{client:?} at {now} with {proof:?}");
                    }
                }
            }
        }
    }
}

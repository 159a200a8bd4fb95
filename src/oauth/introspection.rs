//! Token introspection (RFC 7662): whether a token ferrid issued is active, and what it says.
//! A client learns about its own tokens only (DESIGN §5): anything else — expired, revoked,
//! unknown, malformed, or another client's — is the same bare `{"active": false}` (§2.2), so
//! the answer never tells whether a token exists.

use chrono::{DateTime, Utc};
use keys::OpaqueSecret;

use super::{
    access_token::{AccessTokenError, verify_issued_access_token},
    client::{Client, ClientType},
    error::OAuthError,
    refresh_token::RefreshTokenRecord,
};
use crate::app::AppState;

/// The `token_type_hint` values registered by RFC 7009 §4.1.2 (and used by RFC 7662 §2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenTypeHint {
    AccessToken,
    RefreshToken,
}

impl TokenTypeHint {
    /// `None` for an unregistered value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "access_token" => Some(Self::AccessToken),
            "refresh_token" => Some(Self::RefreshToken),
            _ => None,
        }
    }
}

/// A token in one of ferrid's two kinds, found and still valid, before ownership is checked.
pub(super) enum Found {
    Access(super::access_token::AccessGrant),
    Refresh(Box<RefreshTokenRecord>),
}

impl Found {
    pub(super) fn client_id(&self) -> &str {
        match self {
            Self::Access(grant) => &grant.client_id,
            Self::Refresh(record) => record.grant.client_id.as_str(),
        }
    }
}

/// Looks `token` up as the hinted kind first, then as the other (RFC 7662 §2.1, RFC 7009 §2.1:
/// the hint only saves a lookup). Returns access tokens that verify, and refresh tokens that
/// exist in any state: the caller decides what a rotated, revoked or expired one means.
pub(super) async fn find_token(
    state: &AppState,
    token: &str,
    hint: Option<TokenTypeHint>,
    now: DateTime<Utc>,
) -> Result<Option<Found>, OAuthError> {
    let order = match hint {
        Some(TokenTypeHint::RefreshToken) => [TokenTypeHint::RefreshToken, TokenTypeHint::AccessToken],
        _ => [TokenTypeHint::AccessToken, TokenTypeHint::RefreshToken],
    };
    for kind in order {
        let found = match kind {
            TokenTypeHint::AccessToken => find_access_token(state, token, now).await?.map(Found::Access),
            TokenTypeHint::RefreshToken => find_refresh_token(state, token).await?.map(Found::Refresh),
        };
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

async fn find_access_token(
    state: &AppState,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<super::access_token::AccessGrant>, OAuthError> {
    let published = state.keys.current();
    match verify_issued_access_token(state.access_token_verifier(&published), token, now).await {
        Ok(grant) => Ok(Some(grant)),
        Err(AccessTokenError::Invalid) => Ok(None),
        Err(AccessTokenError::Store(error)) => Err(error.into()),
    }
}

async fn find_refresh_token(state: &AppState, token: &str) -> Result<Option<Box<RefreshTokenRecord>>, OAuthError> {
    let digest = OpaqueSecret::from_presented(token.to_owned()).digest();
    Ok(state.refresh_tokens.find(&digest).await?.map(Box::new))
}

/// An active token's metadata (RFC 7662 §2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveToken {
    pub scope: String,
    pub client_id: String,
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    /// `Bearer` or `DPoP` (RFC 9449 §6.2) for access tokens, `refresh_token` for refresh tokens.
    pub token_type: &'static str,
    /// The DPoP key thumbprint the token is bound to, shown as `cnf.jkt` (RFC 9449 §6.2).
    pub cnf_jkt: Option<String>,
    /// Access tokens only.
    pub jti: Option<String>,
    pub iss: String,
    /// Access tokens only: refresh tokens are for ferrid alone and carry no audience.
    pub aud: Vec<String>,
}

/// The introspection response (RFC 7662 §2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Introspection {
    Active(Box<ActiveToken>),
    /// Exactly `{"active": false}`.
    Inactive,
}

/// RFC 7662 §2: introspects `token` for `client`, which has authenticated. A public client's
/// `none` authentication proves nothing, so only confidential clients may introspect (§4: the
/// endpoint "MUST require some form of authorization").
#[tracing::instrument(skip_all, fields(client_id = %client.id))]
pub async fn introspect(
    state: &AppState,
    client: &Client,
    token: &str,
    hint: Option<TokenTypeHint>,
) -> Result<Introspection, OAuthError> {
    if client.metadata.client_type != ClientType::Confidential {
        return Err(OAuthError::InvalidClient("client authentication failed".into()));
    }
    let now = state.clock.now();
    let Some(found) = find_token(state, token, hint, now).await? else {
        return Ok(Introspection::Inactive);
    };
    if found.client_id() != client.id.as_str() {
        return Ok(Introspection::Inactive);
    }
    let issuer = state.config.issuer.as_str().to_owned();
    Ok(match found {
        // The JWT check allows clock-skew leeway; introspection answers strictly (§2.2 `exp`).
        Found::Access(grant) if grant.expires_at > now => Introspection::Active(Box::new(ActiveToken {
            scope: grant.scope.to_string(),
            client_id: grant.client_id,
            sub: grant.subject,
            exp: grant.expires_at.timestamp(),
            iat: grant.issued_at.timestamp(),
            token_type: if grant.jkt.is_some() { super::dpop::TOKEN_TYPE } else { "Bearer" },
            cnf_jkt: grant.jkt,
            jti: Some(grant.jti),
            iss: issuer,
            aud: grant.audience,
        })),
        Found::Refresh(record) if refresh_token_is_active(&record, now) => {
            Introspection::Active(Box::new(ActiveToken {
                scope: record.grant.scope.to_string(),
                client_id: record.grant.client_id.as_str().to_owned(),
                sub: record.grant.user_id.to_string(),
                exp: record.expires_at.min(record.family_expires_at).timestamp(),
                iat: record.issued_at.timestamp(),
                token_type: "refresh_token",
                cnf_jkt: record.grant.dpop_jkt.clone(),
                jti: None,
                iss: issuer,
                aud: Vec::new(),
            }))
        }
        _ => Introspection::Inactive,
    })
}

/// Neither rotated (consumed) nor revoked, and within both its idle and absolute lifetime
/// (RFC 9700 §4.14.2).
pub fn refresh_token_is_active(record: &RefreshTokenRecord, now: DateTime<Utc>) -> bool {
    record.rotated_at.is_none()
        && record.revoked_at.is_none()
        && now < record.expires_at
        && now < record.family_expires_at
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::{
        accounts::UserId,
        oauth::{FamilyId, RefreshGrant, Scope, client::ClientId},
    };

    #[test]
    fn only_registered_hints_parse_rfc_7009_4_1_2() {
        assert_eq!(TokenTypeHint::parse("access_token"), Some(TokenTypeHint::AccessToken));
        assert_eq!(TokenTypeHint::parse("refresh_token"), Some(TokenTypeHint::RefreshToken));
        assert_eq!(TokenTypeHint::parse("id_token"), None);
        assert_eq!(TokenTypeHint::parse("Access_Token"), None);
    }

    #[test]
    fn a_refresh_token_is_active_only_unused_unrevoked_and_unexpired_rfc_7662_2_2() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let record = RefreshTokenRecord {
            digest: OpaqueSecret::generate().digest(),
            family_id: FamilyId::from_stored("f"),
            grant: RefreshGrant {
                client_id: ClientId::parse("c").unwrap(),
                user_id: UserId(uuid::Uuid::nil()),
                scope: Scope::parse("openid offline_access").unwrap(),
                sid: None,
                auth_time: t0,
                amr: vec![],
                dpop_jkt: None,
            },
            issued_at: t0,
            expires_at: t0 + Duration::days(7),
            family_expires_at: t0 + Duration::days(30),
            rotated_at: None,
            revoked_at: None,
            origin: Default::default(),
        };
        let now = t0 + Duration::hours(1);
        assert!(refresh_token_is_active(&record, now));
        assert!(!refresh_token_is_active(&record, record.expires_at), "idle expiry");
        let short = RefreshTokenRecord { family_expires_at: now, ..record.clone() };
        assert!(!refresh_token_is_active(&short, now), "absolute expiry");
        assert!(!refresh_token_is_active(&RefreshTokenRecord { rotated_at: Some(now), ..record.clone() }, now));
        assert!(!refresh_token_is_active(&RefreshTokenRecord { revoked_at: Some(now), ..record }, now));
    }
}

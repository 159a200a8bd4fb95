//! The error of the token, introspection and revocation endpoints (RFC 6749 §5.2, RFC 7009
//! §2.2.1, RFC 8707 §2). Domain code returns it; only `http/` turns it into a response, so every
//! endpoint speaks one dialect.

use crate::store::StoreError;

/// An RFC 6749 §5.2 error response, plus the two server-side conditions of §4.1.2.1 that the
/// token endpoint may also report (`temporarily_unavailable`, `server_error`).
///
/// The strings are `error_description` values: they are shown to the client, so they never
/// carry request input, secrets or internal detail. `Internal` keeps its cause for the log only.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// A parameter is missing, repeated or malformed, or more than one client authentication
    /// method was used (RFC 6749 §5.2, §2.3).
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    /// Client authentication failed: unknown client, wrong secret, none presented, or a method
    /// other than the registered one (RFC 6749 §5.2). Answered with 401.
    #[error("invalid_client: {0}")]
    InvalidClient(String),
    /// The grant (code, refresh token, credentials) is invalid, expired, revoked, or was issued
    /// to another client (RFC 6749 §5.2).
    #[error("invalid_grant: {0}")]
    InvalidGrant(String),
    /// The authenticated client may not use this grant type (RFC 6749 §5.2).
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(String),
    /// The grant type is not one the server supports (RFC 6749 §5.2).
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(String),
    /// The requested scope is invalid, unknown, or exceeds what was granted (RFC 6749 §5.2, §6).
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    /// The revocation endpoint does not handle this kind of token (RFC 7009 §2.2.1).
    #[error("unsupported_token_type: {0}")]
    UnsupportedTokenType(String),
    /// A `resource` parameter is not an absolute URI without a fragment, or names a resource
    /// the client may not obtain a token for (RFC 8707 §2).
    #[error("invalid_target: {0}")]
    InvalidTarget(String),
    /// The `DPoP` proof is missing where required, malformed, replayed, or for another key or
    /// request (RFC 9449 §5, §7.1).
    #[error("invalid_dpop_proof: {0}")]
    InvalidDpopProof(String),
    /// The `DPoP` proof must carry this server nonce, sent back in the `DPoP-Nonce` header
    /// (RFC 9449 §8). The field is the nonce, not a description.
    #[error("use_dpop_nonce")]
    UseDpopNonce(String),
    /// A backing store cannot be reached; the request may succeed later (RFC 6749 §4.1.2.1
    /// `temporarily_unavailable`, answered with 503).
    #[error("temporarily_unavailable: {0}")]
    TemporarilyUnavailable(String),
    /// A bug or an unexpected failure: a bare `server_error` on the wire, the cause in the log.
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl OAuthError {
    /// The `error` value on the wire (RFC 6749 §5.2; `server_error` and
    /// `temporarily_unavailable` from §4.1.2.1).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient(_) => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::UnsupportedTokenType(_) => "unsupported_token_type",
            Self::InvalidTarget(_) => "invalid_target",
            Self::InvalidDpopProof(_) => "invalid_dpop_proof",
            Self::UseDpopNonce(_) => "use_dpop_nonce",
            Self::TemporarilyUnavailable(_) => "temporarily_unavailable",
            Self::Internal(_) => "server_error",
        }
    }

    /// The `error_description` (RFC 6749 §5.2); none for internal errors, whose text is not for
    /// clients.
    pub fn description(&self) -> Option<&str> {
        match self {
            Self::InvalidRequest(d)
            | Self::InvalidClient(d)
            | Self::InvalidGrant(d)
            | Self::UnauthorizedClient(d)
            | Self::UnsupportedGrantType(d)
            | Self::InvalidScope(d)
            | Self::UnsupportedTokenType(d)
            | Self::InvalidTarget(d)
            | Self::InvalidDpopProof(d)
            | Self::TemporarilyUnavailable(d) => Some(d),
            Self::UseDpopNonce(_) => Some("the DPoP proof must carry the nonce in the DPoP-Nonce header"),
            Self::Internal(_) => None,
        }
    }

    /// The nonce to send in `DPoP-Nonce` (RFC 9449 §8.1).
    pub fn dpop_nonce(&self) -> Option<&str> {
        match self {
            Self::UseDpopNonce(nonce) => Some(nonce),
            _ => None,
        }
    }

    /// The HTTP status: 400 (RFC 6749 §5.2), except 401 for `invalid_client` (the client used,
    /// or should have used, the Authorization header), 503 for an unreachable store and 500 for
    /// a bug.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidClient(_) => 401,
            Self::TemporarilyUnavailable(_) => 503,
            Self::Internal(_) => 500,
            _ => 400,
        }
    }
}

/// A refused proof at the token endpoint (RFC 9449 §5): `invalid_dpop_proof`, or
/// `use_dpop_nonce` with a fresh nonce (§8).
impl From<super::dpop::DpopError> for OAuthError {
    fn from(error: super::dpop::DpopError) -> Self {
        match error {
            super::dpop::DpopError::Invalid(why) => Self::InvalidDpopProof(why.to_owned()),
            super::dpop::DpopError::UseNonce(nonce) => Self::UseDpopNonce(nonce),
            super::dpop::DpopError::Store(store) => store.into(),
        }
    }
}

/// Converted once at the domain edge: an unreachable store is worth retrying, anything else is
/// a server error whose detail stays in the log.
impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable { .. } => {
                Self::TemporarilyUnavailable("the service is temporarily unavailable".into())
            }
            other => Self::Internal(anyhow::Error::new(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_follow_rfc_6749_5_2() {
        let cases = [
            (OAuthError::InvalidRequest("x".into()), "invalid_request", 400),
            (OAuthError::InvalidClient("x".into()), "invalid_client", 401),
            (OAuthError::InvalidGrant("x".into()), "invalid_grant", 400),
            (OAuthError::UnauthorizedClient("x".into()), "unauthorized_client", 400),
            (OAuthError::UnsupportedGrantType("x".into()), "unsupported_grant_type", 400),
            (OAuthError::InvalidScope("x".into()), "invalid_scope", 400),
            (OAuthError::UnsupportedTokenType("x".into()), "unsupported_token_type", 400),
            (OAuthError::InvalidTarget("x".into()), "invalid_target", 400),
            (OAuthError::InvalidDpopProof("x".into()), "invalid_dpop_proof", 400),
            (OAuthError::TemporarilyUnavailable("x".into()), "temporarily_unavailable", 503),
        ];
        for (error, code, status) in cases {
            assert_eq!(error.code(), code);
            assert_eq!(error.status(), status, "{code}");
            assert_eq!(error.description(), Some("x"));
        }
    }

    #[test]
    fn internal_errors_are_a_bare_server_error() {
        let error = OAuthError::Internal(anyhow::anyhow!("connection reset by peer at 10.0.0.7"));
        assert_eq!(error.code(), "server_error");
        assert_eq!(error.status(), 500);
        assert_eq!(error.description(), None);
    }

    #[test]
    fn an_unreachable_store_is_temporarily_unavailable_without_detail() {
        let error = OAuthError::from(StoreError::Unavailable { backend: "database", detail: "10.0.0.7:5432".into() });
        assert_eq!(error.code(), "temporarily_unavailable");
        assert_eq!(error.status(), 503);
        assert!(!error.description().unwrap_or_default().contains("10.0.0.7"));

        let error = OAuthError::from(StoreError::Malformed("refresh token"));
        assert_eq!(error.code(), "server_error");
    }
}

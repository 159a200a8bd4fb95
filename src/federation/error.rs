//! Why a federated sign-in failed, each with a stable reason for the audit log and the answer.

use crate::{accounts::AccountError, store::StoreError};

#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    #[error("no such upstream provider")]
    UnknownProvider,
    /// Down, slow (past the configured timeout) or answering nonsense.
    #[error("the upstream provider is unavailable: {0}")]
    UpstreamUnavailable(String),
    /// The browser's `state` is not the one this browser was sent with (RFC 6749 §10.12).
    #[error("the state does not belong to this browser")]
    StateMismatch,
    /// Unknown, expired or already used `state`: each is taken once.
    #[error("unknown, expired or already used state")]
    InvalidState,
    /// The upstream answered with an error, e.g. `access_denied` when the user declined
    /// (RFC 6749 §4.1.2.1).
    #[error("the upstream provider answered {0}")]
    Denied(String),
    /// The upstream refused to exchange the code (RFC 6749 §5.2).
    #[error("the upstream provider refused the code: {0}")]
    CodeRejected(String),
    #[error("the ID token's signature does not verify")]
    BadSignature,
    #[error("the ID token is not for this client: {0}")]
    WrongAudience(String),
    #[error("the ID token is from another issuer")]
    WrongIssuer,
    #[error("the ID token's nonce does not match")]
    NonceMismatch,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token was already used")]
    Replayed,
    #[error("the ID token is invalid: {0}")]
    InvalidToken(String),
    /// The upstream gave no address, which every ferrid account has.
    #[error("the upstream provider did not share an email address")]
    MissingEmail,
    /// An account has this address, and it may not be linked automatically: its owner signs in
    /// with their password and links the identity from their account.
    #[error("an account with this address exists; sign in with it and link the identity there")]
    LinkRequired { upstream_verified: bool },
    /// The identity is linked to another ferrid account.
    #[error("this identity is linked to another account")]
    IdentityInUse,
    #[error("the account is disabled")]
    AccountDisabled,
    #[error("no such identity")]
    NotLinked,
    /// Unlinking would leave the account without a password and without an identity.
    #[error("this is the account's last way to sign in; set a password or link another identity first")]
    LastSignInMethod,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl From<AccountError> for FederationError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::Store(store) => Self::Store(store),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl FederationError {
    /// A stable reason: the audit record's `reason` and the `error` of the JSON answer.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UnknownProvider => "unknown_provider",
            Self::UpstreamUnavailable(_) => "upstream_unavailable",
            Self::StateMismatch => "state_mismatch",
            Self::InvalidState => "invalid_state",
            Self::Denied(_) => "access_denied",
            Self::CodeRejected(_) => "code_rejected",
            Self::BadSignature => "invalid_signature",
            Self::WrongAudience(_) => "invalid_audience",
            Self::WrongIssuer => "invalid_issuer",
            Self::NonceMismatch => "nonce_mismatch",
            Self::Expired => "token_expired",
            Self::Replayed => "token_replayed",
            Self::InvalidToken(_) => "invalid_id_token",
            Self::MissingEmail => "email_missing",
            Self::LinkRequired { upstream_verified: true } => "link_required",
            Self::LinkRequired { upstream_verified: false } => "email_not_verified",
            Self::IdentityInUse => "identity_in_use",
            Self::AccountDisabled => "account_disabled",
            Self::NotLinked => "not_found",
            Self::LastSignInMethod => "last_sign_in_method",
            Self::Store(_) | Self::Internal(_) => "server_error",
        }
    }

    /// Whether ferrid (or its stores, or the upstream) failed rather than the request.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::UpstreamUnavailable(_) | Self::Store(_) | Self::Internal(_))
    }
}

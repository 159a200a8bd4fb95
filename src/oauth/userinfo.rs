//! The UserInfo endpoint's logic (OIDC Core §5.3): the claims of the scopes the access token
//! carries, as JSON, or as a JWT signed for the client when it registered
//! `userinfo_signed_response_alg` (§5.3.2). A DPoP-bound access token (RFC 9449 §7) is accepted
//! only under the `DPoP` scheme with a proof by its key; as a bearer token it is refused.

use serde_json::{Map, Value, json};

use super::{
    access_token::{AccessGrant, AccessTokenError, verify_access_token},
    claims::user_claims,
    dpop::{DpopError, ProofTarget},
    registry::RegistryError,
    tokens::encryption_to,
};
use crate::{
    accounts::{AccessControlError, AccountError, UserId},
    app::AppState,
    oauth::ClientId,
    store::StoreError,
};

pub enum UserInfo {
    Json(Map<String, Value>),
    /// A signed and/or encrypted JWT, served as `application/jwt`.
    Jwt(String),
}

#[derive(Debug, thiserror::Error)]
pub enum UserInfoError {
    /// RFC 6750 §3.1: 401 with `error="invalid_token"`.
    #[error("invalid_token")]
    InvalidToken,
    /// RFC 9449 §7.1: a 401 challenge under the `DPoP` scheme — `invalid_token` for a bound
    /// token used as a bearer one (§7.2) or a token not bound to the proof's key,
    /// `invalid_dpop_proof`, or `use_dpop_nonce` with the nonce to use (§9).
    #[error("{error}")]
    Dpop { error: &'static str, nonce: Option<String> },
    /// A store does not answer: worth retrying (503), unlike a server error.
    #[error("a store is temporarily unavailable")]
    Unavailable,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for UserInfoError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable { .. } => Self::Unavailable,
            other => Self::Internal(other.into()),
        }
    }
}

impl From<AccessTokenError> for UserInfoError {
    fn from(error: AccessTokenError) -> Self {
        match error {
            AccessTokenError::Invalid => Self::InvalidToken,
            AccessTokenError::Store(store) => store.into(),
        }
    }
}

impl From<DpopError> for UserInfoError {
    fn from(error: DpopError) -> Self {
        match error {
            DpopError::Invalid(_) => Self::Dpop { error: "invalid_dpop_proof", nonce: None },
            DpopError::UseNonce(nonce) => Self::Dpop { error: "use_dpop_nonce", nonce: Some(nonce) },
            DpopError::Store(store) => store.into(),
        }
    }
}

/// How the access token was presented (RFC 6750 §2, RFC 9449 §7.1).
#[derive(Clone, Copy, Debug)]
pub enum PresentedToken<'a> {
    Bearer(&'a str),
    /// `Authorization: DPoP <token>` and the `DPoP` header's proof, if any.
    Dpop {
        token: &'a str,
        proof: Option<&'a str>,
    },
}

/// RFC 9449 §7.1: a bound token needs the DPoP scheme and a proof by its key that names this
/// request and the token (`ath`); an unbound token may not pose as a DPoP one.
async fn check_binding(
    state: &AppState,
    grant: &AccessGrant,
    presented: PresentedToken<'_>,
    method: &str,
) -> Result<(), UserInfoError> {
    let invalid_token = || UserInfoError::Dpop { error: "invalid_token", nonce: None };
    match (presented, grant.jkt.as_deref()) {
        (PresentedToken::Bearer(_), None) => Ok(()),
        (PresentedToken::Bearer(_), Some(_)) | (PresentedToken::Dpop { .. }, None) => Err(invalid_token()),
        (PresentedToken::Dpop { proof: None, .. }, Some(_)) => {
            Err(UserInfoError::Dpop { error: "invalid_dpop_proof", nonce: None })
        }
        (PresentedToken::Dpop { token, proof: Some(proof) }, Some(bound)) => {
            let uri = format!("{}/userinfo", state.config.issuer.as_str());
            let target = ProofTarget { method, uri: &uri, access_token: Some(token) };
            let proof = state.dpop.verify(proof, target, state.clock.now()).await?;
            if proof.jkt == bound { Ok(()) } else { Err(invalid_token()) }
        }
    }
}

/// The claims for `presented` at `/userinfo` requested with `method` (`GET` or `POST`).
pub async fn userinfo(
    state: &AppState,
    presented: PresentedToken<'_>,
    method: &str,
) -> Result<UserInfo, UserInfoError> {
    let now = state.clock.now();
    let published = state.keys.current();
    let token = match presented {
        PresentedToken::Bearer(token) | PresentedToken::Dpop { token, .. } => token,
    };
    let grant = verify_access_token(state.access_token_verifier(&published), token, now).await?;
    check_binding(state, &grant, presented, method).await?;
    if !grant.scope.contains("openid") {
        // OIDC Core §5.3: UserInfo serves OpenID requests only.
        return Err(UserInfoError::InvalidToken);
    }
    let user_id = uuid::Uuid::parse_str(&grant.subject).map(UserId).map_err(|_| UserInfoError::InvalidToken)?;
    let user = match state.accounts.find_recent(user_id).await {
        Ok(user) if !user.disabled => user,
        Ok(_) | Err(AccountError::NotFound) => return Err(UserInfoError::InvalidToken),
        Err(AccountError::Store(store)) => return Err(store.into()),
        Err(error) => return Err(UserInfoError::Internal(error.into())),
    };
    let authorization = if grant.scope.contains("roles") {
        Some(state.access_control.authorization_of(user.id).await.map_err(|error| match error {
            AccessControlError::Store(store) => store.into(),
            other => UserInfoError::Internal(other.into()),
        })?)
    } else {
        None
    };
    let mut claims = user_claims(&user, authorization.as_ref(), &grant.scope);
    let client_id = ClientId::parse(&grant.client_id).ok_or(UserInfoError::InvalidToken)?;
    let client = match state.clients.find(&client_id).await {
        Ok(client) => client,
        Err(RegistryError::NotFound) => return Err(UserInfoError::InvalidToken),
        Err(RegistryError::Store(store)) => return Err(store.into()),
        Err(error) => return Err(UserInfoError::Internal(error.into())),
    };
    let m = &client.metadata;
    let encryption = encryption_to(
        &client,
        m.userinfo_encrypted_response_alg.as_deref(),
        m.userinfo_encrypted_response_enc.as_deref(),
    )
    .map_err(anyhow::Error::from)?;
    let Some(alg) = m.userinfo_signed_response_alg.as_deref() else {
        // Encrypted only: the claims JSON is the JWE payload (OIDC Core §5.3.2).
        return Ok(match encryption {
            None => UserInfo::Json(claims),
            Some((recipient, alg, enc)) => UserInfo::Jwt(
                keys::encrypt_jwe(
                    &serde_json::to_vec(&claims).map_err(anyhow::Error::from)?,
                    &recipient,
                    alg,
                    enc,
                    None,
                )
                .map_err(anyhow::Error::from)?,
            ),
        });
    };
    // Signed (then, if asked, encrypted as a nested JWT): iss and aud make it a JWT (§5.3.2).
    claims.insert("iss".into(), json!(state.config.issuer.as_str()));
    claims.insert("aud".into(), json!(client.id.as_str()));
    let key = published.ring.signing_key(alg.parse().map_err(anyhow::Error::from)?).map_err(anyhow::Error::from)?;
    let jwt = match encryption {
        None => keys::sign_jwt(key, Some("JWT"), &claims),
        Some((recipient, alg, enc)) => keys::sign_and_encrypt_jwt(key, Some("JWT"), &claims, &recipient, alg, enc),
    };
    Ok(UserInfo::Jwt(jwt.map_err(anyhow::Error::from)?))
}

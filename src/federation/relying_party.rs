//! ferrid as the upstream's relying party (OIDC Core §3.1): the authorization request with PKCE
//! (RFC 7636), `state` and `nonce`; the callback that takes that record once, exchanges the code
//! and validates the ID token; and the exchange of an ID token an app already holds.
//!
//! The record of a started sign-in lives in the short-lived store under its `state`, which is
//! also set in a cookie of the browser that started it: a callback is accepted only from that
//! browser (login CSRF, RFC 6749 §10.12) and only once.

use keys::OpaqueSecret;
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    core::{CoreClient, CoreIdToken, CoreResponseType},
};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::{Federation, FederationError, UpstreamConfig, VerifiedIdentity};
use crate::accounts::UserId;

/// What a started upstream sign-in is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Purpose {
    /// Sign in for the pending ferrid authorization request with this id.
    SignIn { request: String },
    /// Link the identity to this signed-in user's account.
    Link { user: uuid::Uuid },
}

impl Purpose {
    pub fn link(user: UserId) -> Self {
        Self::Link { user: user.0 }
    }
}

/// The server-side half of a started sign-in.
#[derive(Serialize, Deserialize)]
struct Attempt {
    provider: String,
    purpose: Purpose,
    nonce: String,
    pkce_verifier: String,
}

/// Where to send the browser, and the `state` to bind to it.
#[derive(Debug)]
pub struct Started {
    pub location: String,
    pub state: String,
}

/// The upstream's answer at the redirect URI (RFC 6749 §4.1.2 and §4.1.2.1).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
}

fn key(state: &str) -> String {
    format!("fed:{state}")
}

fn malformed(_: serde_json::Error) -> FederationError {
    FederationError::Store(crate::store::StoreError::Malformed("federated sign-in"))
}

impl Federation {
    /// Starts a sign-in at `provider`: discovery (cached), then the authorization URL with
    /// `S256` PKCE, a fresh `state` and `nonce`, the record saved for the callback.
    #[tracing::instrument(skip_all, fields(provider))]
    pub async fn start(&self, provider: &str, purpose: Purpose) -> Result<Started, FederationError> {
        let upstream = self.upstream(provider)?;
        let metadata = self.cache.metadata(upstream, self.now()).await?;
        let redirect = RedirectUrl::new(upstream.redirect_uri(&self.issuer))
            .map_err(|e| FederationError::Internal(format!("redirect URI: {e}")))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(upstream.client_id.clone()),
            Some(ClientSecret::new(upstream.client_secret.expose().to_owned())),
        )
        .set_redirect_uri(redirect);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (state, nonce) = (keys::random_id(24), keys::random_id(24));
        let (state_for_url, nonce_for_url) = (state.clone(), nonce.clone());
        let mut request = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                move || CsrfToken::new(state_for_url),
                move || Nonce::new(nonce_for_url),
            )
            .set_pkce_challenge(challenge);
        for scope in upstream.scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, _, _) = request.url();
        let attempt =
            Attempt { provider: upstream.id.clone(), purpose, nonce, pkce_verifier: verifier.secret().to_owned() };
        let value = serde_json::to_vec(&attempt).map_err(malformed)?;
        self.short_lived.put(&key(&state), &value, Self::ATTEMPT_LIFETIME).await?;
        Ok(Started { location: url.to_string(), state })
    }

    /// The callback: checks that `state` belongs to this browser (`bound_state`, from its
    /// cookie), takes the record once, then — unless the upstream answered an error — exchanges
    /// the code with the PKCE verifier and validates the ID token against the record's nonce.
    /// Writes nothing but the record's removal: linking is the caller's next step.
    #[tracing::instrument(skip_all, fields(provider))]
    pub async fn finish(
        &self,
        provider: &str,
        params: &CallbackParams,
        bound_state: Option<&str>,
    ) -> Result<(Purpose, VerifiedIdentity), FederationError> {
        let upstream = self.upstream(provider)?;
        let state = params.state.as_deref().unwrap_or_default();
        let bound =
            bound_state.is_some_and(|bound| !state.is_empty() && bool::from(bound.as_bytes().ct_eq(state.as_bytes())));
        if !bound {
            return Err(FederationError::StateMismatch);
        }
        let Some(bytes) = self.short_lived.take(&key(state)).await? else {
            return Err(FederationError::InvalidState);
        };
        let attempt: Attempt = serde_json::from_slice(&bytes).map_err(malformed)?;
        if attempt.provider != upstream.id {
            return Err(FederationError::InvalidState);
        }
        if let Some(error) = &params.error {
            return Err(FederationError::Denied(error.chars().filter(char::is_ascii_graphic).take(64).collect()));
        }
        let Some(code) = params.code.clone() else { return Err(FederationError::InvalidState) };
        let identity = self.redeem(upstream, code, &attempt).await?;
        Ok((attempt.purpose, identity))
    }

    async fn redeem(
        &self,
        upstream: &UpstreamConfig,
        code: String,
        attempt: &Attempt,
    ) -> Result<VerifiedIdentity, FederationError> {
        let metadata = self.cache.metadata(upstream, self.now()).await?;
        let redirect = RedirectUrl::new(upstream.redirect_uri(&self.issuer))
            .map_err(|e| FederationError::Internal(format!("redirect URI: {e}")))?;
        let client = CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(upstream.client_id.clone()),
            Some(ClientSecret::new(upstream.client_secret.expose().to_owned())),
        )
        .set_redirect_uri(redirect);
        let response = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| FederationError::UpstreamUnavailable(format!("no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(attempt.pkce_verifier.clone()))
            .request_async(self.cache.http())
            .await
            .map_err(|error| match error {
                RequestTokenError::ServerResponse(response) => {
                    FederationError::CodeRejected(response.error().to_string())
                }
                other => FederationError::UpstreamUnavailable(other.to_string()),
            })?;
        let Some(token) = openidconnect::TokenResponse::id_token(&response) else {
            return Err(FederationError::InvalidToken("the token response has no ID token".to_owned()));
        };
        self.validate(upstream, &metadata, token, Some(&attempt.nonce)).await
    }

    /// The ID-token exchange API: validates an ID token the app got from `provider` itself (no
    /// nonce of ours to compare), and accepts each token once, so a token that leaked from a
    /// log or a proxy cannot be replayed while it lives.
    #[tracing::instrument(skip_all, fields(provider))]
    pub async fn verify_id_token(&self, provider: &str, presented: &str) -> Result<VerifiedIdentity, FederationError> {
        let upstream = self.upstream(provider)?;
        let token: CoreIdToken =
            presented.parse().map_err(|_| FederationError::InvalidToken("not a signed JWT".to_owned()))?;
        let metadata = self.cache.metadata(upstream, self.now()).await?;
        let identity = self.validate(upstream, &metadata, &token, None).await?;
        let remaining = (identity.expires_at - self.now()).to_std().unwrap_or_default();
        let digest = OpaqueSecret::from_presented(presented).digest();
        let fresh = self
            .short_lived
            .put_if_absent(
                &format!("fed-token:{}", digest.as_str()),
                b"1",
                remaining.max(std::time::Duration::from_secs(1)),
            )
            .await?;
        if !fresh {
            return Err(FederationError::Replayed);
        }
        Ok(identity)
    }
}

//! Validation of an upstream ID token (OIDC Core §3.1.3.7): what the `openidconnect` crate
//! checks (signature against the upstream's JWKS, `iss`, `aud`, expiry, `nonce`), plus `azp`,
//! which the crate leaves to the client: with several audiences it must be present, and when
//! present it must be ferrid's application at that provider (steps 4 and 5).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use openidconnect::{
    ClaimsVerificationError, ClientId, Nonce, SignatureVerificationError,
    core::{CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreProviderMetadata},
};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use super::{Federation, FederationError, UpstreamConfig};

/// Who the upstream says the user is, after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedIdentity {
    pub provider: String,
    /// The upstream `sub`.
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    /// How the user authenticated upstream (RFC 8176), if said.
    pub amr: Vec<String>,
    pub expires_at: DateTime<Utc>,
}

fn verifier(
    upstream: &UpstreamConfig,
    metadata: &CoreProviderMetadata,
    jwks: CoreJsonWebKeySet,
    now: DateTime<Utc>,
) -> CoreIdTokenVerifier<'static> {
    // Asymmetric algorithms only: the upstream's keys, never a shared secret (a public-client
    // verifier cannot check HMACs) and never `none`.
    let algs = metadata.id_token_signing_alg_values_supported().iter().filter(|alg| {
        !matches!(
            alg,
            CoreJwsSigningAlgorithm::HmacSha256
                | CoreJwsSigningAlgorithm::HmacSha384
                | CoreJwsSigningAlgorithm::HmacSha512
                | CoreJwsSigningAlgorithm::None
        )
    });
    let trusted = upstream.audiences.clone();
    CoreIdTokenVerifier::new_public_client(ClientId::new(upstream.client_id.clone()), metadata.issuer().clone(), jwks)
        .set_allowed_algs(algs.cloned())
        .set_other_audience_verifier_fn(move |aud| trusted.iter().any(|t| t.as_str() == aud.as_str()))
        .set_time_fn(move || now)
}

/// OIDC Core §3.1.3.7 step 11, in constant time; no expectation (the exchange API) accepts any.
fn nonce_check(expected: Option<&str>) -> impl FnOnce(Option<&Nonce>) -> Result<(), String> + '_ {
    move |found| match (expected, found) {
        (None, _) => Ok(()),
        (Some(expected), Some(found)) if bool::from(expected.as_bytes().ct_eq(found.secret().as_bytes())) => Ok(()),
        _ => Err("nonce mismatch".to_owned()),
    }
}

fn classify(error: ClaimsVerificationError) -> FederationError {
    match error {
        ClaimsVerificationError::SignatureVerification(_) => FederationError::BadSignature,
        ClaimsVerificationError::InvalidAudience(detail) => FederationError::WrongAudience(detail),
        ClaimsVerificationError::InvalidIssuer(_) => FederationError::WrongIssuer,
        ClaimsVerificationError::InvalidNonce(_) => FederationError::NonceMismatch,
        ClaimsVerificationError::Expired(_) => FederationError::Expired,
        other => FederationError::InvalidToken(other.to_string()),
    }
}

/// The token's payload as JSON, for the configured claim mapping (only read once the crate has
/// verified the signature over it).
fn payload(token: &CoreIdToken) -> Map<String, Value> {
    let compact = token.to_string();
    compact
        .split('.')
        .nth(1)
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// `email_verified` as a boolean; some providers send the string `"true"`.
fn truthy(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

impl Federation {
    /// Validates `token` from `upstream`, expecting `nonce` when one was sent (the browser flow).
    /// A token signed with a key the cached set lacks makes one fetch of the upstream's JWKS.
    pub(super) async fn validate(
        &self,
        upstream: &UpstreamConfig,
        metadata: &CoreProviderMetadata,
        token: &CoreIdToken,
        nonce: Option<&str>,
    ) -> Result<VerifiedIdentity, FederationError> {
        let now = self.now();
        let first = verifier(upstream, metadata, metadata.jwks().clone(), now);
        let claims = match token.claims(&first, nonce_check(nonce)) {
            Ok(claims) => claims,
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
                let Some(jwks) = self.cache.refetch_jwks(upstream, now).await? else {
                    return Err(FederationError::BadSignature);
                };
                let second = verifier(upstream, metadata, jwks, now);
                token.claims(&second, nonce_check(nonce)).map_err(classify)?
            }
            Err(error) => return Err(classify(error)),
        };
        let azp = claims.authorized_party().map(|azp| azp.as_str());
        match azp {
            Some(azp) if !upstream.accepts_audience(azp) => {
                return Err(FederationError::WrongAudience(format!("azp `{azp}` is not this application")));
            }
            None if claims.audiences().len() > 1 => {
                return Err(FederationError::WrongAudience("several audiences and no azp".to_owned()));
            }
            _ => {}
        }
        let payload = payload(token);
        let text = |claim: &str| payload.get(claim).and_then(Value::as_str).map(str::to_owned);
        Ok(VerifiedIdentity {
            provider: upstream.id.clone(),
            subject: claims.subject().as_str().to_owned(),
            email: text(&upstream.claims.email).filter(|e| !e.is_empty()),
            email_verified: truthy(payload.get(&upstream.claims.email_verified)),
            name: text(&upstream.claims.name),
            amr: claims
                .auth_method_refs()
                .map(|amr| amr.iter().map(|m| m.as_str().to_owned()).collect())
                .unwrap_or_default(),
            expires_at: claims.expiration(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_compared_only_when_one_was_sent_oidc_core_3_1_3_7() {
        let n = Nonce::new("n-1".to_owned());
        assert!(nonce_check(None)(None).is_ok());
        assert!(nonce_check(Some("n-1"))(Some(&n)).is_ok());
        assert!(nonce_check(Some("n-2"))(Some(&n)).is_err());
        assert!(nonce_check(Some("n-1"))(None).is_err(), "a missing nonce is a mismatch");
    }

    #[test]
    fn email_verified_may_be_a_string() {
        assert!(truthy(Some(&Value::Bool(true))) && truthy(Some(&Value::String("true".into()))));
        assert!(!truthy(None) && !truthy(Some(&Value::String("yes".into()))));
    }
}

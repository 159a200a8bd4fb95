//! Minting ferrid's tokens from the key ring: access tokens (RFC 9068 JWTs, nested JWEs or opaque
//! references) and OIDC ID tokens (OIDC Core §2), optionally encrypted to the client's key (OIDC
//! Core §10.2).

use chrono::{DateTime, Duration, Utc};
use keys::{ContentEncryptionAlg, Jwks, KeyEncryptionAlg, KeyError, KeyRing, SigningAlg};
use ring::digest;
use serde_json::{Map, Value, json};

use super::{
    Client,
    access_token::{AccessGrant, AccessTokenRecord},
    client::AccessTokenFormat,
    refresh_token::FamilyId,
    revocation::access_token_jti,
    scope::Scope,
};
use crate::config::Issuer;

/// The JWS `typ` of an access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// An access token and what a revocation or introspection later needs to know about it.
#[derive(Debug)]
pub struct IssuedAccessToken {
    pub token: String,
    pub jti: String,
    pub expires_at: DateTime<Utc>,
    /// For opaque and JWE tokens: the record ferrid must store before handing the token out,
    /// since it cannot read the token itself.
    pub reference: Option<AccessTokenRecord>,
}

/// What an access token grants (RFC 9068 §2.2).
pub struct AccessTokenClaims<'a> {
    /// The user, or for client_credentials the client itself.
    pub subject: &'a str,
    pub scope: &'a Scope,
    /// Resource indicators (RFC 8707 §2); empty means [`default_audience`].
    pub audience: &'a [String],
    /// When a user signed in.
    pub auth_time: Option<DateTime<Utc>>,
    /// The sign-in session the token was issued in (as the ID token's `sid`), so that the user's
    /// own API can tell "this session" from the others.
    pub sid: Option<&'a str>,
    /// The thumbprint of the DPoP key the token is bound to (RFC 9449 §6).
    pub jkt: Option<&'a str>,
    /// The refresh family the token is minted with, named in its `jti` so that revoking the
    /// family revokes the token (see [`super::revocation`]).
    pub family: Option<&'a FamilyId>,
}

fn seconds(at: DateTime<Utc>) -> Value {
    json!(at.timestamp())
}

fn signing_alg(name: &str) -> Result<SigningAlg, KeyError> {
    name.parse()
}

/// The audience of access tokens that ferrid itself accepts (userinfo), used unless resource
/// indicators (RFC 8707 §2) name others.
pub fn default_audience(issuer: &Issuer) -> String {
    issuer.as_str().to_owned()
}

/// An access token for `client` in the client's format (DESIGN §6):
/// - `jwt`: RFC 9068 — `iss`, `sub`, `aud` (one value as a string, several as an array, RFC
///   7519 §4.1.3), `client_id`, `scope`, `jti`, `iat`, `exp`, `auth_time` when a user signed in,
///   and `cnf.jkt` when bound to a DPoP key (RFC 9449 §6.1);
/// - `jwe`: that JWT, then encrypted to the client's registered key (RFC 7519 §5.2 nested JWT,
///   `cty: JWT`), so only the resource server holding the private key can read it;
/// - `opaque`: a random value that means nothing outside ferrid.
///
/// The last two come with a [`AccessTokenRecord`] for introspection and userinfo.
pub fn issue_access_token(
    ring: &KeyRing,
    issuer: &Issuer,
    client: &Client,
    claims: &AccessTokenClaims<'_>,
    lifetime: Duration,
    now: DateTime<Utc>,
) -> Result<IssuedAccessToken, KeyError> {
    let audience = match claims.audience {
        [] => vec![default_audience(issuer)],
        named => named.to_vec(),
    };
    let grant = AccessGrant {
        subject: claims.subject.to_owned(),
        client_id: client.id.as_str().to_owned(),
        scope: claims.scope.clone(),
        jti: access_token_jti(claims.family),
        issued_at: now,
        expires_at: now + lifetime,
        audience,
        sid: claims.sid.map(str::to_owned),
        jkt: claims.jkt.map(str::to_owned),
    };
    let m = &client.metadata;
    let token = match m.access_token_format {
        AccessTokenFormat::Opaque => keys::OpaqueSecret::generate().expose().to_owned(),
        AccessTokenFormat::Jwt | AccessTokenFormat::Jwe => {
            let key = ring.signing_key(signing_alg(&m.access_token_signed_response_alg)?)?;
            let jwt_claims = jwt_claims(issuer, &grant, claims.auth_time);
            let encryption = encryption_to(
                client,
                m.access_token_encrypted_response_alg.as_deref(),
                m.access_token_encrypted_response_enc.as_deref(),
            )?;
            match (m.access_token_format, encryption) {
                (AccessTokenFormat::Jwe, Some((recipient, alg, enc))) => {
                    keys::sign_and_encrypt_jwt(key, Some(ACCESS_TOKEN_TYP), &jwt_claims, &recipient, alg, enc)?
                }
                (AccessTokenFormat::Jwe, None) => {
                    return Err(KeyError::InvalidKey("jwe access tokens need an encryption algorithm".into()));
                }
                _ => keys::sign_jwt(key, Some(ACCESS_TOKEN_TYP), &jwt_claims)?,
            }
        }
    };
    let reference = (m.access_token_format != AccessTokenFormat::Jwt).then(|| AccessTokenRecord {
        digest: keys::OpaqueSecret::from_presented(token.clone()).digest(),
        grant: grant.clone(),
    });
    Ok(IssuedAccessToken { token, jti: grant.jti, expires_at: grant.expires_at, reference })
}

fn jwt_claims(issuer: &Issuer, grant: &AccessGrant, auth_time: Option<DateTime<Utc>>) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(issuer.as_str()));
    claims.insert("sub".into(), json!(grant.subject));
    let aud = match grant.audience.as_slice() {
        [one] => json!(one),
        many => json!(many),
    };
    claims.insert("aud".into(), aud);
    claims.insert("client_id".into(), json!(grant.client_id));
    claims.insert("scope".into(), json!(grant.scope.to_string()));
    claims.insert("jti".into(), json!(grant.jti));
    claims.insert("iat".into(), seconds(grant.issued_at));
    claims.insert("exp".into(), seconds(grant.expires_at));
    if let Some(auth_time) = auth_time {
        claims.insert("auth_time".into(), seconds(auth_time));
    }
    if let Some(sid) = &grant.sid {
        claims.insert("sid".into(), json!(sid));
    }
    // RFC 9449 §6.1: the confirmation claim of a DPoP-bound JWT.
    if let Some(jkt) = &grant.jkt {
        claims.insert("cnf".into(), json!({ "jkt": jkt }));
    }
    claims
}

/// What an ID token says about the authentication (OIDC Core §2).
pub struct Authentication<'a> {
    pub auth_time: DateTime<Utc>,
    pub amr: &'a [String],
    pub sid: Option<&'a str>,
    pub nonce: Option<&'a str>,
}

/// An ID token for `client`, signed with the client's `id_token_signed_response_alg`, carrying
/// `user_claims` (sub and the granted scopes' claims), and encrypted when the client registered
/// `id_token_encrypted_response_alg` with an inline `jwks`.
#[allow(clippy::too_many_arguments)]
pub fn issue_id_token(
    ring: &KeyRing,
    issuer: &Issuer,
    client: &Client,
    user_claims: Map<String, Value>,
    authentication: &Authentication<'_>,
    access_token: Option<&str>,
    lifetime: Duration,
    now: DateTime<Utc>,
) -> Result<String, KeyError> {
    let alg = signing_alg(&client.metadata.id_token_signed_response_alg)?;
    let mut claims = user_claims;
    claims.insert("iss".into(), json!(issuer.as_str()));
    claims.insert("aud".into(), json!(client.id.as_str()));
    claims.insert("azp".into(), json!(client.id.as_str()));
    claims.insert("iat".into(), seconds(now));
    claims.insert("exp".into(), seconds(now + lifetime));
    claims.insert("auth_time".into(), seconds(authentication.auth_time));
    claims.insert("amr".into(), json!(authentication.amr));
    claims.insert("acr".into(), json!(acr(authentication.amr)));
    if let Some(sid) = authentication.sid {
        claims.insert("sid".into(), json!(sid));
    }
    if let Some(nonce) = authentication.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    if let Some(access_token) = access_token {
        claims.insert("at_hash".into(), json!(token_hash(alg, access_token)));
    }
    let key = ring.signing_key(alg)?;
    let m = &client.metadata;
    match encryption_to(
        client,
        m.id_token_encrypted_response_alg.as_deref(),
        m.id_token_encrypted_response_enc.as_deref(),
    )? {
        None => keys::sign_jwt(key, Some("JWT"), &claims),
        Some((recipient, key_alg, enc)) => {
            keys::sign_and_encrypt_jwt(key, Some("JWT"), &claims, &recipient, key_alg, enc)
        }
    }
}

/// Authentication context classes ferrid asserts (OIDC Core §2 `acr`): `1` for one factor,
/// `2` for two (e.g. password and TOTP). `0` is never claimed.
pub const ACR_VALUES: &[&str] = &["1", "2"];

fn acr(amr: &[String]) -> &'static str {
    // `fed` says where the user authenticated, not a factor: `fed pwd` is one factor.
    let factors = amr.iter().filter(|m| m.as_str() != "fed").count();
    if factors >= 2 || amr.iter().any(|m| m == "mfa") { "2" } else { "1" }
}

/// Where and how to encrypt a response for `client` (OIDC Core §10.2), if it registered an
/// encryption `alg`: a key of its inline `jwks` that fits the algorithm.
pub fn encryption_to(
    client: &Client,
    alg: Option<&str>,
    enc: Option<&str>,
) -> Result<Option<(keys::PublicJwk, KeyEncryptionAlg, ContentEncryptionAlg)>, KeyError> {
    let Some(alg) = alg else {
        return Ok(None);
    };
    let alg: KeyEncryptionAlg = alg.parse()?;
    // OIDC Registration §2: enc defaults to A128CBC-HS256 when only alg is registered.
    let enc: ContentEncryptionAlg = enc.unwrap_or("A128CBC-HS256").parse()?;
    let jwks = client
        .metadata
        .jwks
        .as_ref()
        .ok_or_else(|| KeyError::InvalidKey("the client registered no inline jwks to encrypt to".into()))?;
    let jwks = Jwks::from_json(&jwks.to_string())?;
    let recipient = jwks.encryption_key(alg).cloned().ok_or(KeyError::NoMatchingKey)?;
    Ok(Some((recipient, alg, enc)))
}

/// `at_hash` / `c_hash` (OIDC Core §3.1.3.6): the left half of the hash of the token's ASCII
/// octets, with the hash of the ID token's `alg` (SHA-512 for Ed25519), base64url-encoded.
pub fn token_hash(alg: SigningAlg, token: &str) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let algorithm = match alg {
        SigningAlg::EdDSA => &digest::SHA512,
        SigningAlg::RS256 | SigningAlg::PS256 | SigningAlg::ES256 => &digest::SHA256,
    };
    let hash = digest::digest(algorithm, token.as_bytes());
    let bytes = hash.as_ref();
    URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_sha256_oidc_core_3_1_3_6() {
        // OIDC Core Appendix A.3's access token and at_hash.
        assert_eq!(
            token_hash(SigningAlg::RS256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(token_hash(SigningAlg::EdDSA, "x").len(), 43, "half of SHA-512 is 32 bytes");
    }
}

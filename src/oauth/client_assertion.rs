//! `private_key_jwt` client assertions (RFC 7523 §2.2, §3; OIDC Core §9): a JWT the client signs
//! with a key of its registered `jwks` / `jwks_uri`, accepted once.

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use keys::{Jwks, KeyError, SigningAlg, Validation, VerifyingKey};
use serde_json::{Map, Value};

use super::client::{Client, ClientId};
use super::client_jwks::{ClientJwksFetcher, FetchError};
use crate::{
    clock::Clock,
    store::{ShortLivedStore, StoreError},
};

/// `client_assertion_type` for a JWT assertion (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Longest accepted time between now and `exp`: a short lifetime bounds how long ferrid must
/// remember a `jti` to refuse replays (RFC 7523 §3 item 7).
const MAX_LIFETIME_SECS: i64 = 300;
/// Clock skew tolerated on `exp`, `nbf` and `iat`.
const LEEWAY_SECS: i64 = 30;
/// A `jti` longer than this is refused rather than stored.
const MAX_JTI_LEN: usize = 256;

/// Why an assertion was refused; logged, never shown (the client sees `invalid_client`).
#[derive(Debug, thiserror::Error)]
pub enum AssertionError {
    #[error("the client has no usable keys: {0}")]
    NoKeys(String),
    #[error("cannot fetch the client's jwks_uri: {0}")]
    Fetch(#[from] FetchError),
    #[error("signature or time claims: {0}")]
    Jwt(#[from] KeyError),
    #[error("claim check failed: {0}")]
    Claim(&'static str),
    #[error("jti was already used")]
    Replay,
    /// Not the client's fault: a 5xx, not `invalid_client`.
    #[error("short-lived store: {0}")]
    Store(#[from] StoreError),
}

/// The client id an assertion names in `sub` (RFC 7523 §3 item 2), read before the signature is
/// checked, only to find the client whose keys then verify it. `iss` must be the same.
pub fn unverified_subject(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let claims: Map<String, Value> = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let sub = claims.get("sub")?.as_str()?;
    (claims.get("iss")?.as_str()? == sub).then(|| sub.to_owned())
}

/// Verifies client assertions: keys, claims, and single use across nodes.
#[derive(Clone)]
pub struct AssertionVerifier {
    /// The issuer and the token endpoint: the accepted audiences (RFC 7523 §3 item 3).
    audiences: Arc<[String]>,
    clock: Arc<dyn Clock>,
    replay: Arc<dyn ShortLivedStore>,
    jwks: ClientJwksFetcher,
}

impl AssertionVerifier {
    pub fn new(issuer: &str, clock: Arc<dyn Clock>, replay: Arc<dyn ShortLivedStore>, jwks: ClientJwksFetcher) -> Self {
        let issuer = issuer.trim_end_matches('/');
        Self { audiences: vec![issuer.to_owned(), format!("{issuer}/token")].into(), clock, replay, jwks }
    }

    /// Checks the assertion for `client` (RFC 7523 §3): a signature by one of its keys, `iss` =
    /// `sub` = client id, an accepted `aud`, a short `exp`, and a `jti` not seen before.
    ///
    /// `aud` may be the token endpoint URL (OIDC Core §9) or the issuer (RFC 7523 §3 allows
    /// the authorization server's identifier) — at /introspect and /revoke too, as clients
    /// commonly reuse one assertion builder for every endpoint.
    pub async fn verify(&self, client: &Client, assertion: &str) -> Result<(), AssertionError> {
        let now = self.clock.now();
        let claims = self.verified_claims(client, assertion, now).await?;
        let checked = check_claims(&claims, &client.id, &self.audiences, now)?;
        let key = format!("client_assertion:{}:{}", client.id, checked.jti);
        let ttl = Duration::from_secs(u64::try_from(checked.exp - now.timestamp() + LEEWAY_SECS).unwrap_or(1).max(1));
        if self.replay.put_if_absent(&key, b"1", ttl).await? { Ok(()) } else { Err(AssertionError::Replay) }
    }

    async fn verified_claims(
        &self,
        client: &Client,
        assertion: &str,
        now: DateTime<Utc>,
    ) -> Result<Map<String, Value>, AssertionError> {
        let validation =
            Validation { leeway: chrono::Duration::seconds(LEEWAY_SECS), ..Validation::new(&SigningAlg::ALL, now) };
        if let Some(jwks) = &client.metadata.jwks {
            let jwks = Jwks::from_json(&jwks.to_string()).map_err(|e| AssertionError::NoKeys(e.to_string()))?;
            return Ok(keys::verify_jwt(assertion, &verifying_keys(&jwks), &validation)?);
        }
        let Some(uri) = &client.metadata.jwks_uri else {
            return Err(AssertionError::NoKeys("neither jwks nor jwks_uri".into()));
        };
        let jwks = self.jwks.get(&client.id, uri, false).await?;
        match keys::verify_jwt(assertion, &verifying_keys(&jwks), &validation) {
            // The client may have rotated its keys since the set was cached: fetch once more.
            Err(KeyError::NoMatchingKey) => {
                let jwks = self.jwks.get(&client.id, uri, true).await?;
                Ok(keys::verify_jwt(assertion, &verifying_keys(&jwks), &validation)?)
            }
            other => Ok(other?),
        }
    }
}

fn verifying_keys(jwks: &Jwks) -> Vec<VerifyingKey> {
    SigningAlg::ALL.iter().flat_map(|alg| jwks.verifying_keys(*alg)).collect()
}

#[derive(Debug, PartialEq, Eq)]
struct CheckedClaims {
    jti: String,
    exp: i64,
}

/// The claim checks of RFC 7523 §3 beyond the signature and the `exp`/`nbf` window.
fn check_claims(
    claims: &Map<String, Value>,
    client_id: &ClientId,
    audiences: &[String],
    now: DateTime<Utc>,
) -> Result<CheckedClaims, AssertionError> {
    let text = |name| claims.get(name).and_then(Value::as_str);
    if text("iss") != Some(client_id.as_str()) {
        return Err(AssertionError::Claim("iss is not the client id"));
    }
    if text("sub") != Some(client_id.as_str()) {
        return Err(AssertionError::Claim("sub is not the client id"));
    }
    let accepted = |aud: &Value| aud.as_str().is_some_and(|aud| audiences.iter().any(|a| a == aud));
    let aud_ok = match claims.get("aud") {
        Some(Value::Array(values)) => values.iter().any(accepted),
        Some(value) => accepted(value),
        None => false,
    };
    if !aud_ok {
        return Err(AssertionError::Claim("aud does not name this server"));
    }
    let exp = numeric_date(claims, "exp").ok_or(AssertionError::Claim("exp is required"))?;
    if exp - now.timestamp() > MAX_LIFETIME_SECS + LEEWAY_SECS {
        return Err(AssertionError::Claim("exp is too far in the future"));
    }
    if numeric_date(claims, "iat").is_some_and(|iat| iat > now.timestamp() + LEEWAY_SECS) {
        return Err(AssertionError::Claim("iat is in the future"));
    }
    let jti = text("jti").filter(|j| !j.is_empty()).ok_or(AssertionError::Claim("jti is required"))?;
    if jti.len() > MAX_JTI_LEN {
        return Err(AssertionError::Claim("jti is too long"));
    }
    Ok(CheckedClaims { jti: jti.to_owned(), exp })
}

/// A NumericDate (RFC 7519 §2), which may be fractional.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    let value = claims.get(name)?;
    value.as_i64().or_else(|| value.as_f64().map(|f| f.floor() as i64))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn claims(edit: impl FnOnce(&mut Map<String, Value>)) -> Map<String, Value> {
        let t = now().timestamp();
        let mut claims =
            json!({"iss": "c1", "sub": "c1", "aud": "https://op.example/token", "exp": t + 60, "iat": t, "jti": "j1"})
                .as_object()
                .unwrap()
                .clone();
        edit(&mut claims);
        claims
    }

    type Edit = dyn Fn(&mut Map<String, Value>);

    fn check(claims: &Map<String, Value>) -> Result<CheckedClaims, AssertionError> {
        let audiences = ["https://op.example".to_owned(), "https://op.example/token".to_owned()];
        check_claims(claims, &ClientId::parse("c1").unwrap(), &audiences, now())
    }

    // RFC 7523 §3: iss = sub = client id, aud names the server, exp bounded, jti present.
    #[test]
    fn assertion_claims_rfc_7523_3() {
        let t = now().timestamp();
        assert_eq!(check(&claims(|_| {})).unwrap(), CheckedClaims { jti: "j1".into(), exp: t + 60 });
        assert!(check(&claims(|c| drop(c.insert("aud".into(), json!(["x", "https://op.example"]))))).is_ok());
        let refused: Vec<Box<Edit>> = vec![
            Box::new(|c| drop(c.insert("iss".into(), json!("c2")))),
            Box::new(|c| drop(c.insert("sub".into(), json!("c2")))),
            Box::new(|c| drop(c.insert("aud".into(), json!("https://op.example/userinfo")))),
            Box::new(|c| drop(c.remove("aud"))),
            Box::new(|c| drop(c.remove("exp"))),
            Box::new(move |c| drop(c.insert("exp".into(), json!(t + 3600)))),
            Box::new(move |c| drop(c.insert("iat".into(), json!(t + 600)))),
            Box::new(|c| drop(c.remove("jti"))),
            Box::new(|c| drop(c.insert("jti".into(), json!("x".repeat(300))))),
        ];
        for (i, edit) in refused.iter().enumerate() {
            assert!(check(&claims(|c| edit(c))).is_err(), "case {i}");
        }
    }

    #[test]
    fn subject_is_read_only_when_iss_matches() {
        let encode = |v: Value| format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(v.to_string()));
        assert_eq!(unverified_subject(&encode(json!({"iss": "a", "sub": "a"}))), Some("a".into()));
        assert_eq!(unverified_subject(&encode(json!({"iss": "a", "sub": "b"}))), None);
        assert_eq!(unverified_subject("not a jwt"), None);
    }
}

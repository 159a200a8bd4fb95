//! DPoP proofs (RFC 9449): checking the `DPoP` header a client sends to show it holds the key
//! its tokens are bound to, and the server nonces (§8, §9) that limit how long a proof stays
//! useful.
//!
//! A proof is a JWT signed with the client's key, whose public half rides in the header. The
//! checks are §4.3's list, in order; a proof that passes yields the key's RFC 7638 thumbprint
//! (`jkt`), which tokens are then bound to (`cnf.jkt`, §6). Each proof is accepted once: its
//! `jti` is remembered in the short-lived store for as long as its `iat` is acceptable.

use std::{sync::Arc, time::Duration as StdDuration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use keys::{KeyError, MacKey, SigningAlg};
use ring::digest;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;
use url::Url;

use crate::store::{ShortLivedStore, StoreError};

/// The `typ` of a DPoP proof (RFC 9449 §4.2).
pub const PROOF_TYP: &str = "dpop+jwt";
/// The token type of a DPoP-bound access token (RFC 9449 §5, §7.1).
pub const TOKEN_TYPE: &str = "DPoP";
/// Longest accepted `jti`: it is stored, so its size is bounded.
const MAX_JTI_LEN: usize = 256;
/// How long one server nonce is issued before the next replaces it; the previous one is still
/// accepted, so a nonce lives between one and two periods.
const NONCE_PERIOD_SECS: i64 = 300;

/// How proofs are judged: `FERRID_DPOP_PROOF_WINDOW_SECS` and `FERRID_DPOP_NONCE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DpopSettings {
    /// How far `iat` may lie from now, either way (RFC 9449 §4.3 item 11, §11.1): covers clock
    /// skew and transit time.
    pub proof_window: Duration,
    /// Whether every proof must carry a nonce this server issued (RFC 9449 §8, §9).
    pub require_nonce: bool,
}

impl Default for DpopSettings {
    fn default() -> Self {
        Self { proof_window: Duration::seconds(60), require_nonce: false }
    }
}

/// Why a proof was refused. The description is shown to the client (RFC 9449 §7.1, §5 say
/// `invalid_dpop_proof`); it never repeats request input.
#[derive(Debug, thiserror::Error)]
pub enum DpopError {
    #[error("{0}")]
    Invalid(&'static str),
    /// The proof needs a (fresh) server nonce: answer `use_dpop_nonce` with this one (§8, §9).
    #[error("a DPoP nonce from this server is required")]
    UseNonce(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The request a proof must describe (RFC 9449 §4.3 items 9, 10, 12).
#[derive(Clone, Copy, Debug)]
pub struct ProofTarget<'a> {
    /// The HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// The endpoint's URL as this server is reached at (its issuer plus the path).
    pub uri: &'a str,
    /// At a protected resource: the access token the proof accompanies (`ath`, §4.3 item 12).
    pub access_token: Option<&'a str>,
}

/// A checked proof: the thumbprint of the key that signed it (RFC 7638, RFC 9449 §6.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpopProof {
    pub jkt: String,
}

/// Checks proofs and issues nonces. Every node derives the same nonce key from the KEK, so a
/// nonce issued by one is accepted by all.
#[derive(Clone)]
pub struct DpopVerifier {
    settings: DpopSettings,
    nonce_key: MacKey,
    replay: Arc<dyn ShortLivedStore>,
}

impl DpopVerifier {
    pub fn new(settings: DpopSettings, nonce_key: MacKey, replay: Arc<dyn ShortLivedStore>) -> Self {
        Self { settings, nonce_key, replay }
    }

    pub fn settings(&self) -> DpopSettings {
        self.settings
    }

    /// The nonce to hand out now (the `DPoP-Nonce` header, §8.1), when nonces are in use.
    pub fn current_nonce(&self, now: DateTime<Utc>) -> Option<String> {
        self.settings.require_nonce.then(|| nonce_for(&self.nonce_key, now.timestamp().div_euclid(NONCE_PERIOD_SECS)))
    }

    /// RFC 9449 §4.3: checks `proof` against `target` and accepts its `jti` once.
    pub async fn verify(
        &self,
        proof: &str,
        target: ProofTarget<'_>,
        now: DateTime<Utc>,
    ) -> Result<DpopProof, DpopError> {
        let checked = check_proof(proof, target, now, self.settings.proof_window)?;
        if self.settings.require_nonce && !self.nonce_is_current(checked.nonce.as_deref(), now) {
            return Err(DpopError::UseNonce(self.current_nonce(now).unwrap_or_default()));
        }
        // The jti need only be remembered while its iat is acceptable (§11.1).
        let ttl = StdDuration::from_secs(self.settings.proof_window.num_seconds().unsigned_abs() * 2 + 1);
        let key = format!("dpop_jti:{}:{}", checked.jkt, checked.jti);
        if !self.replay.put_if_absent(&key, b"1", ttl).await? {
            return Err(DpopError::Invalid("the DPoP proof was already used"));
        }
        Ok(DpopProof { jkt: checked.jkt })
    }

    /// A nonce of this period or the previous one, so a nonce issued just before a period ends
    /// still works (§9: the server decides how long its nonces live).
    fn nonce_is_current(&self, nonce: Option<&str>, now: DateTime<Utc>) -> bool {
        let Some((period, tag)) = nonce.and_then(|n| n.split_once('.')) else {
            return false;
        };
        let current = now.timestamp().div_euclid(NONCE_PERIOD_SECS);
        let Ok(period) = period.parse::<i64>() else {
            return false;
        };
        (period == current || period == current - 1) && self.nonce_key.verify(period.to_string().as_bytes(), tag)
    }
}

/// A nonce for `period`: the period and its MAC, so any node can check it without storing it.
fn nonce_for(key: &MacKey, period: i64) -> String {
    format!("{period}.{}", key.tag(period.to_string().as_bytes()))
}

/// `ath` (RFC 9449 §4.2): base64url of the SHA-256 of the access token's ASCII octets.
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, access_token.as_bytes()))
}

/// What [`check_proof`] found, before the nonce and replay checks that need state.
#[derive(Debug, PartialEq, Eq)]
pub struct CheckedProof {
    pub jkt: String,
    pub jti: String,
    pub nonce: Option<String>,
}

/// The stateless checks of RFC 9449 §4.3: one well-formed JWT (items 1–2), `typ` (4), an
/// asymmetric `alg` (5), a signature by the public `jwk` of the header (6–7), `htm` (9), `htu`
/// (10), `iat` within the window (11) and, at a resource, `ath` (12). Pure and synchronous, so
/// hostile input can be fed to it directly (fuzzing); [`DpopVerifier::verify`] adds the nonce
/// and replay checks.
pub fn check_proof(
    proof: &str,
    target: ProofTarget<'_>,
    now: DateTime<Utc>,
    window: Duration,
) -> Result<CheckedProof, DpopError> {
    let (verified, jwk) = keys::verify_jws_with_embedded_jwk(proof, &SigningAlg::ALL).map_err(|error| match error {
        KeyError::UnsupportedAlgorithm(_) | KeyError::AlgorithmNotAllowed(_) => {
            DpopError::Invalid("the DPoP proof must use an asymmetric algorithm")
        }
        KeyError::InvalidKey(_) => DpopError::Invalid("the DPoP proof's jwk is not a usable public key"),
        KeyError::BadSignature => DpopError::Invalid("the DPoP proof's signature does not verify"),
        _ => DpopError::Invalid("the DPoP proof is not a well-formed JWT with a jwk header"),
    })?;
    if verified.header.typ.as_deref() != Some(PROOF_TYP) {
        return Err(DpopError::Invalid("the DPoP proof's typ must be dpop+jwt"));
    }
    let claims: Map<String, Value> = serde_json::from_slice(&verified.payload)
        .map_err(|_| DpopError::Invalid("the DPoP proof's claims are not a JSON object"))?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let jti = text("jti").filter(|j| !j.is_empty()).ok_or(DpopError::Invalid("the DPoP proof has no jti"))?;
    if jti.len() > MAX_JTI_LEN {
        return Err(DpopError::Invalid("the DPoP proof's jti is too long"));
    }
    if text("htm") != Some(target.method) {
        return Err(DpopError::Invalid("the DPoP proof's htm does not match the request method"));
    }
    if !same_target_uri(text("htu"), target.uri) {
        return Err(DpopError::Invalid("the DPoP proof's htu does not match the request URI"));
    }
    let iat = claims.get("iat").and_then(Value::as_i64).ok_or(DpopError::Invalid("the DPoP proof has no iat"))?;
    if (iat - now.timestamp()).abs() > window.num_seconds() {
        return Err(DpopError::Invalid("the DPoP proof's iat is outside the accepted window"));
    }
    if let Some(access_token) = target.access_token {
        let expected = access_token_hash(access_token);
        let ath = text("ath").ok_or(DpopError::Invalid("the DPoP proof has no ath"))?;
        if !bool::from(ath.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(DpopError::Invalid("the DPoP proof's ath does not match the access token"));
        }
    }
    let jkt = jwk.thumbprint().map_err(|_| DpopError::Invalid("the DPoP proof's jwk is not a usable public key"))?;
    Ok(CheckedProof { jkt, jti: jti.to_owned(), nonce: text("nonce").map(str::to_owned) })
}

/// RFC 9449 §4.3 item 10: `htu` equals the request's URI without its query and fragment, after
/// syntax-based normalisation (RFC 3986 §6.2.2, §6.2.3: case of scheme and host, default port,
/// dot segments), which URL parsing performs.
fn same_target_uri(htu: Option<&str>, expected: &str) -> bool {
    let strip = |value: &str| {
        let mut url = Url::parse(value).ok()?;
        url.set_query(None);
        url.set_fragment(None);
        Some(url)
    };
    match (htu.and_then(strip), strip(expected)) {
        (Some(htu), Some(expected)) => htu == expected,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use keys::{KeyAlg, PrivateKey};
    use serde_json::json;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    const URI: &str = "https://op.example/token";

    type Edit = dyn Fn(&mut Map<String, Value>);

    fn proof(key: &PrivateKey, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
        let mut claims =
            json!({"jti": "j1", "htm": "POST", "htu": URI, "iat": now().timestamp()}).as_object().unwrap().clone();
        edit(&mut claims);
        keys::sign_jwt_with_jwk(&key.signing_key().unwrap(), PROOF_TYP, &claims).unwrap()
    }

    fn target(access_token: Option<&str>) -> ProofTarget<'_> {
        ProofTarget { method: "POST", uri: URI, access_token }
    }

    fn check(proof: &str, access_token: Option<&str>) -> Result<CheckedProof, DpopError> {
        check_proof(proof, target(access_token), now(), Duration::seconds(60))
    }

    // RFC 9449 §4.3: each check refuses a proof that differs in that one respect.
    #[test]
    fn proof_checks_rfc_9449_4_3() {
        let key = PrivateKey::generate(KeyAlg::Signing(SigningAlg::ES256)).unwrap();
        let checked = check(&proof(&key, |_| {}), None).unwrap();
        assert_eq!(checked.jkt, key.public_jwk().thumbprint().unwrap());
        assert!(check(&proof(&key, |c| drop(c.insert("htu".into(), json!(format!("{URI}?x=1#f"))))), None).is_ok());
        assert!(
            check(&proof(&key, |c| drop(c.insert("htu".into(), json!("HTTPS://OP.example:443/token")))), None).is_ok()
        );
        let t = now().timestamp();
        let refused: Vec<Box<Edit>> = vec![
            Box::new(|c| drop(c.remove("jti"))),
            Box::new(|c| drop(c.insert("htm".into(), json!("GET")))),
            Box::new(|c| drop(c.insert("htu".into(), json!("https://op.example/userinfo")))),
            Box::new(|c| drop(c.remove("htu"))),
            Box::new(move |c| drop(c.insert("iat".into(), json!(t - 61)))),
            Box::new(move |c| drop(c.insert("iat".into(), json!(t + 61)))),
            Box::new(|c| drop(c.remove("iat"))),
        ];
        for (i, edit) in refused.iter().enumerate() {
            assert!(check(&proof(&key, |c| edit(c)), None).is_err(), "case {i}");
        }
        let token = "an-access-token";
        let bound = proof(&key, |c| drop(c.insert("ath".into(), json!(access_token_hash(token)))));
        assert!(check(&bound, Some(token)).is_ok());
        assert!(check(&bound, Some("another-token")).is_err());
        assert!(check(&proof(&key, |_| {}), Some(token)).is_err(), "ath is required at a resource");
    }

    fn verifier(require_nonce: bool) -> DpopVerifier {
        let kek = keys::Kek::generate().unwrap();
        let settings = DpopSettings { require_nonce, ..DpopSettings::default() };
        DpopVerifier::new(settings, kek.mac_key("dpop-nonce"), Arc::new(crate::store::short_lived::MemoryStore::new()))
    }

    // RFC 9449 §11.1: a proof is accepted once.
    #[tokio::test]
    async fn a_proof_is_accepted_once_rfc_9449_11_1() {
        let key = PrivateKey::generate(KeyAlg::Signing(SigningAlg::ES256)).unwrap();
        let verifier = verifier(false);
        let proof = proof(&key, |_| {});
        assert!(verifier.verify(&proof, target(None), now()).await.is_ok());
        assert!(matches!(verifier.verify(&proof, target(None), now()).await, Err(DpopError::Invalid(_))));
        assert_eq!(verifier.current_nonce(now()), None, "no nonces unless required");
    }

    // RFC 9449 §8, §9: a nonce of this period or the last is accepted; older or forged ones get
    // `use_dpop_nonce` with the current one.
    #[tokio::test]
    async fn nonces_rotate_and_are_checked_by_mac_rfc_9449_8() {
        let key = PrivateKey::generate(KeyAlg::Signing(SigningAlg::ES256)).unwrap();
        let verifier = verifier(true);
        let current = verifier.current_nonce(now()).unwrap();
        let with = |nonce: &str, jti: &str| {
            proof(&key, |c| {
                c.insert("nonce".into(), json!(nonce));
                c.insert("jti".into(), json!(jti));
            })
        };
        match verifier.verify(&proof(&key, |_| {}), target(None), now()).await {
            Err(DpopError::UseNonce(nonce)) => assert_eq!(nonce, current),
            other => panic!("{other:?}"),
        }
        assert!(verifier.verify(&with(&current, "a"), target(None), now()).await.is_ok());
        let previous = verifier.current_nonce(now() - Duration::seconds(NONCE_PERIOD_SECS)).unwrap();
        assert!(verifier.verify(&with(&previous, "b"), target(None), now()).await.is_ok());
        let stale = verifier.current_nonce(now() - Duration::seconds(2 * NONCE_PERIOD_SECS)).unwrap();
        assert!(matches!(verifier.verify(&with(&stale, "c"), target(None), now()).await, Err(DpopError::UseNonce(_))));
        let forged = format!("{}.AAAA", current.split_once('.').unwrap().0);
        assert!(matches!(verifier.verify(&with(&forged, "d"), target(None), now()).await, Err(DpopError::UseNonce(_))));
    }

    #[test]
    fn typ_must_be_dpop_jwt_rfc_9449_4_2() {
        let key = PrivateKey::generate(KeyAlg::Signing(SigningAlg::EdDSA)).unwrap();
        let claims = json!({"jti": "j", "htm": "POST", "htu": URI, "iat": now().timestamp()});
        let jwt = keys::sign_jwt_with_jwk(&key.signing_key().unwrap(), "JWT", claims.as_object().unwrap()).unwrap();
        assert!(check(&jwt, None).is_err());
    }

    #[test]
    fn ath_is_base64url_sha256_rfc_9449_4_2() {
        // RFC 9449 §7.1's example access token and its ath.
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }
}

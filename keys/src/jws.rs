//! JWS compact serialization (RFC 7515) and JWT claims checks (RFC 7519), over josekit.
//!
//! Verification picks the key from the caller's set by `kid` and by the algorithm the key is
//! bound to, never by what the token claims alone: `alg: none`, HMAC and any algorithm the
//! caller did not allow are refused before a key is touched (RFC 8725 §3.1, §3.2).

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use josekit::JoseError;
use josekit::jwk::Jwk;
use josekit::jws::{self, JwsHeader, JwsSigner, JwsVerifier};
use serde_json::{Map, Value};

use crate::alg::SigningAlg;
use crate::error::{KeyError, Result};
use crate::header::{self, JoseHeader};
use crate::jwk::PublicJwk;

/// A private signing key with its signer and verifier parsed once.
pub struct SigningKey {
    alg: SigningAlg,
    kid: String,
    signer: Box<dyn JwsSigner>,
    verifying: VerifyingKey,
}

/// A public key bound to one signature algorithm, with its verifier parsed once.
pub struct VerifyingKey {
    alg: SigningAlg,
    public: PublicJwk,
    verifier: Box<dyn JwsVerifier>,
}

/// A verified JWS: its protected header and payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedJws {
    pub header: JoseHeader,
    pub payload: Vec<u8>,
}

/// What a JWT must satisfy beyond its signature.
#[derive(Clone, Copy, Debug)]
pub struct Validation<'a> {
    /// Algorithms acceptable for this kind of token.
    pub algs: &'a [SigningAlg],
    /// The instant to judge `exp` and `nbf` against.
    pub now: DateTime<Utc>,
    /// Clock skew tolerated on `exp` and `nbf` (RFC 7519 §4.1.4 "small leeway").
    pub leeway: Duration,
    /// The required `typ` header, e.g. `at+jwt` (RFC 9068 §4); `None` accepts any.
    pub typ: Option<&'a str>,
    /// Whether a token without `exp` is refused.
    pub require_exp: bool,
}

impl<'a> Validation<'a> {
    /// `exp` required, 60 s leeway, any `typ`.
    pub fn new(algs: &'a [SigningAlg], now: DateTime<Utc>) -> Self {
        Self { algs, now, leeway: Duration::seconds(60), typ: None, require_exp: true }
    }

    pub fn with_typ(mut self, typ: &'a str) -> Self {
        self.typ = Some(typ);
        self
    }
}

impl SigningKey {
    pub(crate) fn new(alg: SigningAlg, private: &Jwk, public: PublicJwk) -> Result<Self> {
        let signer: Box<dyn JwsSigner> = match alg {
            SigningAlg::RS256 => Box::new(jws::RS256.signer_from_jwk(private).map_err(KeyError::key)?),
            SigningAlg::PS256 => Box::new(jws::PS256.signer_from_jwk(private).map_err(KeyError::key)?),
            SigningAlg::ES256 => Box::new(jws::ES256.signer_from_jwk(private).map_err(KeyError::key)?),
            SigningAlg::EdDSA => Box::new(jws::EdDSA.signer_from_jwk(private).map_err(KeyError::key)?),
        };
        let kid = public.kid().unwrap_or_default().to_owned();
        Ok(Self { alg, kid, signer, verifying: VerifyingKey::new(&public, alg)? })
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public_jwk(&self) -> &PublicJwk {
        &self.verifying.public
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
    }
}

impl VerifyingKey {
    /// Binds `jwk` to `alg`; fails when the key's type, curve, `alg` or `use` do not fit.
    pub fn new(jwk: &PublicJwk, alg: SigningAlg) -> Result<Self> {
        if !jwk.fits(alg.into()) {
            return Err(KeyError::InvalidKey(format!("a {} key cannot verify {alg}", jwk.kty())));
        }
        let j = jwk.to_josekit()?;
        // The kid is matched here, not by josekit, so tokens without a kid can still be tried.
        let verifier: Box<dyn JwsVerifier> = match alg {
            SigningAlg::RS256 => {
                let mut v = jws::RS256.verifier_from_jwk(&j).map_err(KeyError::key)?;
                v.remove_key_id();
                Box::new(v)
            }
            SigningAlg::PS256 => {
                let mut v = jws::PS256.verifier_from_jwk(&j).map_err(KeyError::key)?;
                v.remove_key_id();
                Box::new(v)
            }
            SigningAlg::ES256 => {
                let mut v = jws::ES256.verifier_from_jwk(&j).map_err(KeyError::key)?;
                v.remove_key_id();
                Box::new(v)
            }
            SigningAlg::EdDSA => {
                let mut v = jws::EdDSA.verifier_from_jwk(&j).map_err(KeyError::key)?;
                v.remove_key_id();
                Box::new(v)
            }
        };
        Ok(Self { alg, public: jwk.clone(), verifier })
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    pub fn kid(&self) -> Option<&str> {
        self.public.kid()
    }

    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("alg", &self.alg).field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey").field("alg", &self.alg).field("kid", &self.kid()).finish_non_exhaustive()
    }
}

/// Signs `payload` as a compact JWS with `alg`, `kid` and the optional `typ` and `cty` headers.
pub fn sign_jws(key: &SigningKey, typ: Option<&str>, cty: Option<&str>, payload: &[u8]) -> Result<String> {
    let mut header = JwsHeader::new();
    header.set_key_id(key.kid.clone());
    if let Some(typ) = typ {
        header.set_token_type(typ);
    }
    if let Some(cty) = cty {
        header.set_content_type(cty);
    }
    jws::serialize_compact(payload, &header, key.signer.as_ref()).map_err(KeyError::crypto)
}

/// Signs a JWT whose header carries the signer's public key as `jwk` (RFC 7515 §4.1.3) and no
/// `kid`: a self-contained proof of possession, such as a DPoP proof (RFC 9449 §4.2).
pub fn sign_jwt_with_jwk(key: &SigningKey, typ: &str, claims: &Map<String, Value>) -> Result<String> {
    let payload = serde_json::to_vec(claims).map_err(|e| KeyError::Crypto(e.to_string()))?;
    let public = match serde_json::to_value(key.public_jwk()) {
        Ok(Value::Object(map)) => map,
        _ => return Err(KeyError::InvalidKey("the public key is not a JSON object".into())),
    };
    let mut header = JwsHeader::new();
    header.set_token_type(typ);
    header.set_jwk(Jwk::from_map(public).map_err(KeyError::key)?);
    jws::serialize_compact(&payload, &header, key.signer.as_ref()).map_err(KeyError::crypto)
}

/// JWK members that only a private key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Verifies a compact JWS with the public key its own header carries as `jwk` (RFC 7515
/// §4.1.3), accepting only `algs`; returns the verified JWS and that key. A `jwk` with any
/// private member is refused rather than stripped: a client that sends its private key has
/// leaked it (RFC 9449 §4.3 item 7).
pub fn verify_jws_with_embedded_jwk(token: &str, algs: &[SigningAlg]) -> Result<(VerifiedJws, PublicJwk)> {
    let header = header::decode(token, 3)?;
    let alg: SigningAlg = header.alg.parse()?;
    if !algs.contains(&alg) {
        return Err(KeyError::AlgorithmNotAllowed(alg.as_str().into()));
    }
    let Some(Value::Object(members)) = &header.jwk else {
        return Err(KeyError::MalformedToken("the header carries no jwk".into()));
    };
    if PRIVATE_MEMBERS.iter().any(|m| members.contains_key(*m)) {
        return Err(KeyError::InvalidKey("the jwk header holds private key material".into()));
    }
    let jwk = PublicJwk::from_value(Value::Object(members.clone()))?;
    let key = VerifyingKey::new(&jwk, alg)?;
    match jws::deserialize_compact(token, key.verifier.as_ref()) {
        Ok((payload, _)) => Ok((VerifiedJws { header, payload }, jwk)),
        Err(JoseError::InvalidSignature(_)) => Err(KeyError::BadSignature),
        Err(err) => Err(KeyError::MalformedToken(err.to_string())),
    }
}

/// Signs a JWT (RFC 7519 §7.1) whose claims are `claims`, e.g. `typ: "at+jwt"` for an RFC 9068
/// access token or `None` for an ID token.
pub fn sign_jwt(key: &SigningKey, typ: Option<&str>, claims: &Map<String, Value>) -> Result<String> {
    let payload = serde_json::to_vec(claims).map_err(|e| KeyError::Crypto(e.to_string()))?;
    sign_jws(key, typ, None, &payload)
}

/// Verifies a compact JWS against `keys` (RFC 7515 §5.2), accepting only `algs`.
pub fn verify_jws(token: &str, keys: &[VerifyingKey], algs: &[SigningAlg]) -> Result<VerifiedJws> {
    let header = header::decode(token, 3)?;
    let alg: SigningAlg = header.alg.parse()?;
    if !algs.contains(&alg) {
        return Err(KeyError::AlgorithmNotAllowed(alg.as_str().into()));
    }
    let mut candidates =
        keys.iter().filter(|k| k.alg == alg && header.kid.as_deref().is_none_or(|kid| k.kid() == Some(kid))).peekable();
    if candidates.peek().is_none() {
        return Err(KeyError::NoMatchingKey);
    }
    let mut last = KeyError::NoMatchingKey;
    for key in candidates {
        match jws::deserialize_compact(token, key.verifier.as_ref()) {
            Ok((payload, _)) => return Ok(VerifiedJws { header, payload }),
            Err(JoseError::InvalidSignature(_)) => last = KeyError::BadSignature,
            Err(err) => last = KeyError::MalformedToken(err.to_string()),
        }
    }
    Err(last)
}

/// Verifies a signed JWT and its time claims, returning the claims (RFC 7519 §7.2).
pub fn verify_jwt(token: &str, keys: &[VerifyingKey], validation: &Validation<'_>) -> Result<Map<String, Value>> {
    let verified = verify_jws(token, keys, validation.algs)?;
    check_typ(verified.header.typ.as_deref(), validation.typ)?;
    let claims: Map<String, Value> = serde_json::from_slice(&verified.payload)
        .map_err(|_| KeyError::MalformedToken("claims are not a JSON object".into()))?;
    check_times(&claims, validation)?;
    Ok(claims)
}

fn check_typ(actual: Option<&str>, expected: Option<&str>) -> Result<()> {
    match (expected, actual) {
        (None, _) => Ok(()),
        (Some(want), Some(got)) if header::media_type_eq(want, got) => Ok(()),
        _ => Err(KeyError::UnexpectedType),
    }
}

fn check_times(claims: &Map<String, Value>, v: &Validation<'_>) -> Result<()> {
    let now = v.now.timestamp();
    let leeway = v.leeway.num_seconds();
    match numeric_date(claims, "exp")? {
        Some(exp) if now - leeway >= exp => return Err(KeyError::Expired),
        None if v.require_exp => return Err(KeyError::InvalidClaim("exp")),
        _ => {}
    }
    if let Some(nbf) = numeric_date(claims, "nbf")?
        && now + leeway < nbf
    {
        return Err(KeyError::NotYetValid);
    }
    Ok(())
}

/// A NumericDate claim (RFC 7519 §2): seconds since the epoch, possibly fractional.
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            n.as_i64().or_else(|| n.as_f64().map(|f| f.floor() as i64)).map(Some).ok_or(KeyError::InvalidClaim(name))
        }
        Some(_) => Err(KeyError::InvalidClaim(name)),
    }
}

//! Public JSON Web Keys (RFC 7517), JWK Sets and RFC 7638 thumbprints.
//!
//! [`PublicJwk`] has no field for a private member, so neither a JWK ferrid publishes nor one it
//! parses from a client's `jwks` can carry one: private members in the input are dropped.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::digest;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::alg::{KeyAlg, KeyEncryptionAlg, SigningAlg};
use crate::error::{KeyError, Result};

/// A public JWK of type RSA, EC or OKP. Members serialize in a fixed order; deserializing
/// validates like [`PublicJwk::from_json`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawJwk")]
pub struct PublicJwk {
    kty: String,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    key_use: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    y: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<String>,
}

/// The unvalidated wire form of [`PublicJwk`]: the same members, nothing private.
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(rename = "use", default)]
    key_use: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

impl TryFrom<RawJwk> for PublicJwk {
    type Error = KeyError;

    fn try_from(r: RawJwk) -> Result<Self> {
        let jwk =
            Self { kty: r.kty, key_use: r.key_use, alg: r.alg, kid: r.kid, crv: r.crv, x: r.x, y: r.y, n: r.n, e: r.e };
        jwk.thumbprint()?;
        Ok(jwk)
    }
}

impl PublicJwk {
    /// Parses one JWK, keeping only public members; fails on an unsupported `kty` or a missing
    /// required member (RFC 7518 §6).
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| KeyError::InvalidKey(e.to_string()))
    }

    pub fn from_value(value: Value) -> Result<Self> {
        serde_json::from_value(value).map_err(|e| KeyError::InvalidKey(e.to_string()))
    }

    pub fn to_json(&self) -> String {
        // Serializing a struct of strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn kty(&self) -> &str {
        &self.kty
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub fn alg(&self) -> Option<&str> {
        self.alg.as_deref()
    }

    pub fn key_use(&self) -> Option<&str> {
        self.key_use.as_deref()
    }

    pub fn crv(&self) -> Option<&str> {
        self.crv.as_deref()
    }

    /// The RFC 7638 §3 SHA-256 thumbprint, base64url: the digest of the required members only,
    /// in lexicographic order, without whitespace. ferrid uses it as the `kid`.
    pub fn thumbprint(&self) -> Result<String> {
        let kty = Some(self.kty.clone());
        // Members in lexicographic order (§3.3), spelled out rather than relying on map order.
        let required: [(&str, &Option<String>); 3] = match self.kty.as_str() {
            "RSA" => [("e", &self.e), ("kty", &kty), ("n", &self.n)],
            "EC" => [("crv", &self.crv), ("kty", &kty), ("x", &self.x)],
            "OKP" => [("crv", &self.crv), ("kty", &kty), ("x", &self.x)],
            other => return Err(KeyError::InvalidKey(format!("unsupported kty {other}"))),
        };
        let mut members: Vec<(&str, &Option<String>)> = required.to_vec();
        if self.kty == "EC" {
            members.push(("y", &self.y));
        }
        let mut json = String::from("{");
        for (i, (name, value)) in members.iter().enumerate() {
            let value = value.as_ref().ok_or_else(|| KeyError::InvalidKey(format!("missing {name}")))?;
            if i > 0 {
                json.push(',');
            }
            json.push_str(&Value::String((*name).to_owned()).to_string());
            json.push(':');
            json.push_str(&Value::String(value.clone()).to_string());
        }
        json.push('}');
        Ok(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, json.as_bytes())))
    }

    /// Whether this key can serve `alg`: right key type and curve, and `alg`/`use` compatible
    /// when present (RFC 7517 §4.2, §4.4).
    pub fn fits(&self, alg: KeyAlg) -> bool {
        let shape = match alg {
            KeyAlg::Signing(SigningAlg::RS256 | SigningAlg::PS256)
            | KeyAlg::Encryption(KeyEncryptionAlg::RsaOaep256) => self.kty == "RSA",
            KeyAlg::Signing(SigningAlg::ES256) => self.kty == "EC" && self.crv() == Some("P-256"),
            KeyAlg::Signing(SigningAlg::EdDSA) => self.kty == "OKP" && self.crv() == Some("Ed25519"),
            KeyAlg::Encryption(KeyEncryptionAlg::EcdhEs | KeyEncryptionAlg::EcdhEsA256Kw) => {
                (self.kty == "EC" && matches!(self.crv(), Some("P-256" | "P-384" | "P-521")))
                    || (self.kty == "OKP" && self.crv() == Some("X25519"))
            }
        };
        shape
            && self.alg().is_none_or(|a| a == alg.as_str())
            && self.key_use().is_none_or(|u| u == alg.key_use().as_str())
    }

    pub(crate) fn with_metadata(mut self, alg: KeyAlg, kid: &str) -> Self {
        self.alg = Some(alg.as_str().to_owned());
        self.key_use = Some(alg.key_use().as_str().to_owned());
        self.kid = Some(kid.to_owned());
        self
    }

    /// The josekit form, for building verifiers and encrypters.
    pub(crate) fn to_josekit(&self) -> Result<josekit::jwk::Jwk> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => josekit::jwk::Jwk::from_map(map).map_err(KeyError::key),
            _ => Err(KeyError::InvalidKey("not a JSON object".into())),
        }
    }
}

/// A JWK Set (RFC 7517 §5), e.g. a client's registered `jwks`. Parse with [`Jwks::from_json`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Jwks {
    pub keys: Vec<PublicJwk>,
}

impl Jwks {
    /// Parses a JWK Set, skipping members whose `kty` or shape ferrid does not understand, as
    /// RFC 7517 §5 recommends. Private members are dropped.
    pub fn from_json(json: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(json).map_err(|e| KeyError::InvalidKey(e.to_string()))?;
        let Some(Value::Array(keys)) = value.get("keys") else {
            return Err(KeyError::InvalidKey("a JWK Set needs a keys array".into()));
        };
        let keys = keys.iter().filter_map(|k| PublicJwk::from_value(k.clone()).ok()).collect();
        Ok(Self { keys })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The first key that can receive a JWE under `alg`, for encrypting to a client.
    pub fn encryption_key(&self, alg: KeyEncryptionAlg) -> Option<&PublicJwk> {
        self.keys.iter().find(|k| k.fits(KeyAlg::Encryption(alg)))
    }

    /// Verifiers for every key that fits `alg`, for checking a client's signed JWTs.
    pub fn verifying_keys(&self, alg: SigningAlg) -> Vec<crate::VerifyingKey> {
        self.keys
            .iter()
            .filter(|k| k.fits(KeyAlg::Signing(alg)))
            .filter_map(|k| crate::VerifyingKey::new(k, alg).ok())
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// RFC 7638 §3.1: the example RSA key and its thumbprint.
    const RFC7638_KEY: &str = r#"{"kty":"RSA",
        "n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#;

    #[test]
    fn rfc7638_section_3_1_thumbprint() {
        let jwk = PublicJwk::from_json(RFC7638_KEY).unwrap();
        assert_eq!(jwk.thumbprint().unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn private_members_are_dropped_on_parse() {
        let json = r#"{"kty":"EC","crv":"P-256","x":"Ze2loSV3wrroKUN_4zhwGhCqo3Xhu1td4QjeQ5wIVR0",
            "y":"HlLtdXARY_f55A3fnzQbPcm6hgr34Mp8p-nuzQCE0Zw","d":"r_kHyZ-a06rmxM3yESK84r1otSg-aQcVStkRhA-iCM8"}"#;
        let jwk = PublicJwk::from_json(json).unwrap();
        assert!(!jwk.to_json().contains("\"d\""));
    }

    #[test]
    fn jwks_skips_keys_it_does_not_understand() {
        let json = format!(r#"{{"keys":[{{"kty":"oct","k":"AAAA"}},{RFC7638_KEY},{{"kty":"EC","crv":"P-256"}}]}}"#);
        let set = Jwks::from_json(&json).unwrap();
        assert_eq!(set.keys.len(), 1);
        assert_eq!(set.keys[0].kid(), Some("2011-04-29"));
    }

    #[test]
    fn deserializing_validates_required_members() {
        let no_y = r#"{"kty":"EC","crv":"P-256","x":"Ze2loSV3wrroKUN_4zhwGhCqo3Xhu1td4QjeQ5wIVR0"}"#;
        assert!(PublicJwk::from_json(no_y).is_err());
        assert!(serde_json::from_str::<PublicJwk>(no_y).is_err());
        assert!(serde_json::from_str::<PublicJwk>(r#"{"kty":"oct","k":"AAAA"}"#).is_err());
    }

    #[test]
    fn fits_checks_type_curve_alg_and_use() {
        let jwk = PublicJwk::from_json(RFC7638_KEY).unwrap();
        assert!(jwk.fits(KeyAlg::Signing(SigningAlg::RS256)));
        assert!(!jwk.fits(KeyAlg::Signing(SigningAlg::PS256)), "alg member pins RS256");
        assert!(!jwk.fits(KeyAlg::Signing(SigningAlg::ES256)));
        assert!(!jwk.fits(KeyAlg::Encryption(KeyEncryptionAlg::RsaOaep256)));
    }
}

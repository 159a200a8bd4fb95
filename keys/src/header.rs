//! Reading the protected header of a compact JWS or JWE before any key is chosen.
//!
//! The header is untrusted until the signature or tag is checked; it is read only to pick a
//! key and to refuse algorithms and extensions ferrid does not implement.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{KeyError, Result};

/// The protected header members ferrid acts on (RFC 7515 §4.1, RFC 7516 §4.1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct JoseHeader {
    pub alg: String,
    #[serde(default)]
    pub enc: Option<String>,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub typ: Option<String>,
    #[serde(default)]
    pub cty: Option<String>,
    /// An embedded public key (RFC 7515 §4.1.3), as self-signed proofs such as DPoP carry it.
    #[serde(default)]
    pub jwk: Option<Value>,
}

/// Decodes the first part of a compact serialization with `parts` dot-separated parts.
///
/// Refuses `crit` (RFC 7515 §4.1.11: ferrid understands no extension, so none may be critical)
/// and `zip` (RFC 7516 §4.1.3: decompressing attacker input is a resource hazard).
pub(crate) fn decode(token: &str, parts: usize) -> Result<JoseHeader> {
    if token.split('.').count() != parts {
        return Err(KeyError::MalformedToken(format!("expected {parts} parts")));
    }
    let first = token.split('.').next().unwrap_or_default();
    let bytes =
        URL_SAFE_NO_PAD.decode(first).map_err(|_| KeyError::MalformedToken("header is not base64url".into()))?;
    let map: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| KeyError::MalformedToken("header is not a JSON object".into()))?;
    if map.contains_key("crit") {
        return Err(KeyError::MalformedToken("critical header extensions are not supported".into()));
    }
    if map.contains_key("zip") {
        return Err(KeyError::MalformedToken("compressed JWE is not supported".into()));
    }
    serde_json::from_value(Value::Object(map)).map_err(|_| KeyError::MalformedToken("header members".into()))
}

/// Compares `typ`/`cty` values as RFC 7515 §4.1.9 asks: case-insensitively, with the
/// `application/` prefix optional.
pub(crate) fn media_type_eq(a: &str, b: &str) -> bool {
    fn strip(s: &str) -> String {
        let lower = s.to_ascii_lowercase();
        lower.strip_prefix("application/").map(str::to_owned).unwrap_or(lower)
    }
    strip(a) == strip(b)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn reads_members_and_refuses_crit_and_zip() {
        let h = decode(&format!("{}.e30.sig", b64(r#"{"alg":"ES256","kid":"k","typ":"JWT"}"#)), 3).unwrap();
        assert_eq!((h.alg.as_str(), h.kid.as_deref(), h.typ.as_deref()), ("ES256", Some("k"), Some("JWT")));
        let crit = format!("{}.e30.sig", b64(r#"{"alg":"ES256","crit":["b64"],"b64":false}"#));
        assert!(decode(&crit, 3).is_err());
        let zip = format!("{}.a.b.c.d", b64(r#"{"alg":"ECDH-ES","enc":"A256GCM","zip":"DEF"}"#));
        assert!(decode(&zip, 5).is_err());
        assert!(decode("a.b", 3).is_err());
    }

    #[test]
    fn media_types_compare_per_rfc7515() {
        assert!(media_type_eq("at+jwt", "application/AT+JWT"));
        assert!(media_type_eq("JWT", "jwt"));
        assert!(!media_type_eq("JWT", "at+jwt"));
    }
}

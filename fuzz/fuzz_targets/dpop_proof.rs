//! DPoP proofs (RFC 9449 §4.2, §4.3) carry their own public key in the JWS header (`jwk`, RFC
//! 7515 §4.1.3), so the attacker picks the key as well as the token. This target drives the
//! `keys` crate's path such a proof takes: the embedded JWK is parsed (`PublicJwk`), its RFC
//! 7638 thumbprint computed (the `jkt` a token is bound to), bound to the header's `alg`
//! (`VerifyingKey::new`) and the compact JWS verified with it (`verify_jwt`).
//!
//! Two shapes of input: an arbitrary compact token, and an arbitrary JWK that then verifies a
//! well-formed token.
#![no_main]

use std::sync::LazyLock;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::DateTime;
use keys::{KeyAlg, PrivateKey, PublicJwk, SigningAlg, Validation, VerifyingKey, sign_jwt, verify_jwt};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

/// RFC 9449 §4.2: "alg": an asymmetric algorithm; ferrid accepts the ones it implements.
const ALGS: [SigningAlg; 4] = SigningAlg::ALL;
const NOW: i64 = 1_767_225_600;

static PROOF: LazyLock<String> = LazyLock::new(|| {
    let key = PrivateKey::generate(KeyAlg::Signing(SigningAlg::ES256))
        .and_then(|k| k.signing_key())
        .unwrap_or_else(|e| unreachable!("{e}"));
    let claims = json!({"jti": "j", "htm": "POST", "htu": "https://id.example/token", "iat": NOW});
    sign_jwt(&key, Some("dpop+jwt"), claims.as_object().unwrap_or(&Map::new())).unwrap_or_default()
});

/// The embedded key and algorithm of a compact JWS header, read before anything is trusted.
fn embedded(token: &str) -> Option<(Value, String)> {
    let header = URL_SAFE_NO_PAD.decode(token.split('.').next()?).ok()?;
    let mut header: Map<String, Value> = serde_json::from_slice(&header).ok()?;
    let alg = header.get("alg")?.as_str()?.to_owned();
    Some((header.remove("jwk")?, alg))
}

fn verify_with(jwk: &PublicJwk, alg: SigningAlg, token: &str) {
    let _ = jwk.thumbprint();
    let Ok(key) = VerifyingKey::new(jwk, alg) else { return };
    let now = DateTime::from_timestamp(NOW, 0).unwrap_or_default();
    let validation = Validation { require_exp: false, ..Validation::new(&ALGS, now) }.with_typ("dpop+jwt");
    let _ = verify_jwt(token, std::slice::from_ref(&key), &validation);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    if mode % 2 == 0 {
        let Some((jwk, alg)) = embedded(text) else { return };
        let (Ok(jwk), Ok(alg)) = (PublicJwk::from_value(jwk), alg.parse::<SigningAlg>()) else { return };
        verify_with(&jwk, alg, text);
    } else {
        let Ok(jwk) = PublicJwk::from_json(text) else { return };
        for alg in ALGS {
            verify_with(&jwk, alg, &PROOF);
        }
    }
});

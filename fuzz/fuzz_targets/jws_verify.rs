//! JWS / JWT verification in the `keys` crate (RFC 7515 §5.2, RFC 7519 §7.2) on arbitrary
//! compact strings: what ferrid runs on every presented access token, ID token hint, logout
//! token and client-signed JWT. The verifier holds one key per supported algorithm, with and
//! without `kid`, so header-driven key selection, `alg` refusal (`none`, HMAC), base64url,
//! signature and claims parsing all see hostile input.
#![no_main]

use std::sync::LazyLock;

use chrono::DateTime;
use keys::{KeyAlg, PrivateKey, SigningAlg, Validation, VerifyingKey, verify_jws, verify_jwt};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_767_225_600;

static KEYS: LazyLock<Vec<VerifyingKey>> = LazyLock::new(|| {
    SigningAlg::ALL
        .iter()
        .filter_map(|alg| PrivateKey::generate(KeyAlg::Signing(*alg)).and_then(|k| k.signing_key()).ok())
        .map(|k| k.verifying_key().public_jwk().clone())
        .filter_map(|jwk| SigningAlg::ALL.iter().find_map(|alg| VerifyingKey::new(&jwk, *alg).ok()))
        .collect()
});

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let _ = verify_jws(token, &KEYS, &SigningAlg::ALL);
    let now = DateTime::from_timestamp(NOW, 0).unwrap_or_default();
    let _ = verify_jwt(token, &KEYS, &Validation::new(&SigningAlg::ALL, now).with_typ("at+jwt"));
});

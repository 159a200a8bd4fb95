//! DPoP proofs (RFC 9449 §4.2, §4.3) carry their own public key in the JWS header (`jwk`, RFC
//! 7515 §4.1.3), so the attacker picks the key as well as the token. This target runs ferrid's
//! own proof check, `oauth::dpop::check_proof` (the one /token and /userinfo call), on two shapes
//! of input:
//! - an arbitrary string as the `DPoP` header;
//! - arbitrary JSON claims in a proof correctly signed by an embedded key, so the claim checks
//!   (`htm`, `htu`, `iat`, `jti`, `ath`) see hostile values behind a valid signature.
#![no_main]

use std::sync::LazyLock;

use chrono::{DateTime, Duration, Utc};
use ferrid::oauth::dpop::{ProofTarget, check_proof};
use keys::{KeyAlg, PrivateKey, SigningAlg, SigningKey, sign_jwt_with_jwk};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

const NOW: i64 = 1_767_225_600;

static KEY: LazyLock<SigningKey> = LazyLock::new(|| {
    PrivateKey::generate(KeyAlg::Signing(SigningAlg::ES256))
        .and_then(|k| k.signing_key())
        .unwrap_or_else(|e| unreachable!("{e}"))
});

fn check(proof: &str, access_token: Option<&str>) {
    let now: DateTime<Utc> = DateTime::from_timestamp(NOW, 0).unwrap_or_default();
    let target = ProofTarget { method: "POST", uri: "https://id.example/token", access_token };
    let _ = check_proof(proof, target, now, Duration::seconds(60));
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let access_token = (mode & 2 != 0).then_some("at");
    if mode % 2 == 0 {
        check(text, access_token);
    } else {
        let Ok(Value::Object(claims)) = serde_json::from_str::<Value>(text) else { return };
        let claims: Map<String, Value> = claims;
        let Ok(proof) = sign_jwt_with_jwk(&KEY, "dpop+jwt", &claims) else { return };
        check(&proof, access_token);
    }
});

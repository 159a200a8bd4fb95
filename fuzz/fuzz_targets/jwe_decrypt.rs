//! JWE decryption in the `keys` crate (RFC 7516 §5.2) and nested JWTs (RFC 7519 §5.2): what
//! ferrid runs on encrypted tokens it is handed back. Two shapes of input:
//! - an arbitrary compact string, tried against one key per supported key-management
//!   algorithm (RSA-OAEP-256, ECDH-ES, ECDH-ES+A256KW), as a JWE and as a nested JWT;
//! - an arbitrary plaintext, correctly encrypted with `cty: JWT`, so the inner JWS parsing of
//!   a nested token sees hostile input behind a valid tag.
#![no_main]

use std::sync::LazyLock;

use chrono::DateTime;
use keys::{
    ContentEncryptionAlg, DecryptionKey, KeyAlg, KeyEncryptionAlg, PrivateKey, SigningAlg, Validation, VerifyingKey,
    decrypt_jwe, decrypt_nested_jwt, encrypt_jwe,
};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_767_225_600;

struct Keys {
    decryption: Vec<DecryptionKey>,
    verifying: Vec<VerifyingKey>,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let decryption = KeyEncryptionAlg::ALL
        .iter()
        .filter_map(|alg| PrivateKey::generate(KeyAlg::Encryption(*alg)).and_then(|k| k.decryption_key()).ok())
        .collect();
    let verifying = PrivateKey::generate(KeyAlg::Signing(SigningAlg::ES256))
        .and_then(|k| k.signing_key())
        .map(|k| k.verifying_key().public_jwk().clone())
        .and_then(|jwk| VerifyingKey::new(&jwk, SigningAlg::ES256))
        .into_iter()
        .collect();
    Keys { decryption, verifying }
});

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let keys = &*KEYS;
    if keys.decryption.is_empty() {
        return;
    }
    let now = DateTime::from_timestamp(NOW, 0).unwrap_or_default();
    let validation = Validation::new(&SigningAlg::ALL, now);
    let key = &keys.decryption[usize::from(mode) % keys.decryption.len()];
    if mode & 0x80 == 0 {
        let Ok(token) = std::str::from_utf8(rest) else { return };
        let _ = decrypt_jwe(token, key);
        let _ = decrypt_nested_jwt(token, key, &keys.verifying, &validation);
    } else {
        let enc = ContentEncryptionAlg::ALL[usize::from(mode >> 4) % ContentEncryptionAlg::ALL.len()];
        let Ok(token) = encrypt_jwe(rest, key.public_jwk(), key.alg(), enc, Some("JWT")) else { return };
        let decrypted = decrypt_jwe(&token, key);
        assert!(decrypted.is_ok_and(|d| d.payload == rest), "a JWE ferrid made does not round-trip");
        let _ = decrypt_nested_jwt(&token, key, &keys.verifying, &validation);
    }
});

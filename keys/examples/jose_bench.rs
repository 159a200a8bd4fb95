//! Throughput of the keys crate's JOSE operations, one thread, fixed iteration counts.
//!
//! Run: `cargo run --release -p keys --example jose_bench`. Prints figures; asserts nothing
//! about speed (DESIGN §8). `encrypt` includes parsing the recipient's public JWK, as when
//! encrypting to a client's registered key.

use std::hint::black_box;
use std::time::Instant;

use chrono::Utc;
use keys::{
    ContentEncryptionAlg, KeyEncryptionAlg, KeyError, PrivateKey, SigningAlg, Validation, VerifyingKey, decrypt_jwe,
    encrypt_jwe, sign_jwt, verify_jwt,
};
use serde_json::{Map, Value, json};

/// Iterations for operations that use an RSA private key (about a millisecond each).
const SLOW: u32 = 300;
/// Iterations for everything else.
const FAST: u32 = 2_000;

fn main() -> Result<(), KeyError> {
    #[allow(clippy::disallowed_methods)] // a benchmark program, not domain code
    let now = Utc::now();
    let claims: Map<String, Value> = json!({
        "iss": "https://ferrid.example", "sub": "248289761001", "aud": "s6BhdRkqt3", "scope": "openid profile",
        "client_id": "s6BhdRkqt3", "jti": "f8d7c1a0-9b2e-4c11-8f0e-3a1d2b4c5e6f",
        "iat": now.timestamp(), "exp": now.timestamp() + 300,
    })
    .as_object()
    .cloned()
    .unwrap_or_default();

    println!("{:<36} {:>10} {:>12} {:>12}", "operation", "iterations", "ops/s", "µs/op");
    for alg in SigningAlg::ALL {
        let key = PrivateKey::generate(alg.into())?.signing_key()?;
        let verifiers = [VerifyingKey::new(key.public_jwk(), alg)?];
        let validation = Validation::new(&SigningAlg::ALL, now).with_typ("at+jwt");
        let rsa = matches!(alg, SigningAlg::RS256 | SigningAlg::PS256);
        let token = sign_jwt(&key, Some("at+jwt"), &claims)?;
        row(&format!("sign   {alg}"), if rsa { SLOW } else { FAST }, || {
            sign_jwt(&key, Some("at+jwt"), &claims).map(|t| drop(black_box(t)))
        })?;
        row(&format!("verify {alg}"), FAST, || {
            verify_jwt(&token, &verifiers, &validation).map(|c| drop(black_box(c)))
        })?;
    }
    let payload = vec![b'x'; 1024];
    for alg in KeyEncryptionAlg::ALL {
        let key = PrivateKey::generate(alg.into())?.decryption_key()?;
        let rsa = alg == KeyEncryptionAlg::RsaOaep256;
        for enc in ContentEncryptionAlg::ALL {
            let token = encrypt_jwe(&payload, key.public_jwk(), alg, enc, None)?;
            row(&format!("encrypt {alg} {enc}"), FAST, || {
                encrypt_jwe(&payload, key.public_jwk(), alg, enc, None).map(|t| drop(black_box(t)))
            })?;
            row(&format!("decrypt {alg} {enc}"), if rsa { SLOW } else { FAST }, || {
                decrypt_jwe(&token, &key).map(|d| drop(black_box(d)))
            })?;
        }
    }
    println!("(JWE payload: 1 KiB; JWT: 8 claims; single thread)");
    Ok(())
}

fn row(name: &str, iterations: u32, mut op: impl FnMut() -> Result<(), KeyError>) -> Result<(), KeyError> {
    op()?;
    let start = Instant::now();
    for _ in 0..iterations {
        op()?;
    }
    let secs = start.elapsed().as_secs_f64();
    let per_sec = f64::from(iterations) / secs;
    println!("{name:<36} {iterations:>10} {per_sec:>12.0} {:>12.1}", 1e6 / per_sec);
    Ok(())
}

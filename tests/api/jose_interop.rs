//! Cross-implementation check: an independent JOSE library (Python jwcrypto, installed by
//! .ci/run) verifies ferrid's JWS against /jwks, decrypts JWE that ferrid encrypted to its keys,
//! and encrypts JWE to ferrid's published encryption keys, which ferrid decrypts.

use std::{path::Path, process::Command, sync::Arc};

use keys::{ContentEncryptionAlg, KeyEncryptionAlg, PublicJwk, SigningAlg};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestResources, start_app};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/jose.py");

/// Whether python3 with jwcrypto is here. In CI it must be: .ci/run installs it.
fn jwcrypto_available() -> bool {
    let found = Command::new("python3").args(["-c", "import jwcrypto"]).status().is_ok_and(|s| s.success());
    assert!(found || std::env::var_os("CI").is_none(), "CI must provide python3 with jwcrypto (pip install jwcrypto)");
    found
}

fn python(args: &[&str]) {
    let output = Command::new("python3").arg(SCRIPT).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "jose.py {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn write(dir: &Path, name: &str, value: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(value).unwrap()).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn an_independent_jose_library_accepts_ferrids_tokens_and_ferrid_accepts_its() {
    if !jwcrypto_available() {
        eprintln!("skipped: python3 with jwcrypto is not installed (pip install jwcrypto)");
        return;
    }
    let app = start_app(TestResources::create(Backend::Embedded).await, &[], Arc::new(ferrid::clock::SystemClock))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let jwks: Value = app.get("/jwks").await.json().await.unwrap();
    let jwks_file = write(dir.path(), "jwks.json", &jwks);
    let published = app.state.keys.current();

    // ferrid signs, jwcrypto verifies against the published JWKS.
    let mut tokens = serde_json::Map::new();
    for alg in SigningAlg::ALL {
        let claims = json!({"iss": "http://127.0.0.1:8080", "sub": "interop", "exp": 4_102_444_800_u64});
        let token =
            keys::sign_jwt(published.ring.signing_key(alg).unwrap(), Some("JWT"), claims.as_object().unwrap()).unwrap();
        tokens.insert(alg.as_str().to_owned(), Value::String(token));
    }
    python(&["verify", &jwks_file, &write(dir.path(), "tokens.json", &Value::Object(tokens))]);

    // ferrid encrypts to jwcrypto's keys with every (alg, enc) pair; jwcrypto decrypts.
    let private_file = dir.path().join("private.json").display().to_string();
    let public_file = dir.path().join("public.json").display().to_string();
    python(&["keygen", &private_file, &public_file]);
    let recipients: Value = serde_json::from_slice(&std::fs::read(&public_file).unwrap()).unwrap();
    let mut jwes = Vec::new();
    for recipient in recipients["keys"].as_array().unwrap() {
        let jwk = PublicJwk::from_value(recipient.clone()).unwrap();
        let algs: &[KeyEncryptionAlg] = if jwk.kty() == "RSA" {
            &[KeyEncryptionAlg::RsaOaep256]
        } else {
            &[KeyEncryptionAlg::EcdhEs, KeyEncryptionAlg::EcdhEsA256Kw]
        };
        for &alg in algs {
            for enc in ContentEncryptionAlg::ALL {
                let plaintext = format!("from ferrid with {} {}", alg.as_str(), enc.as_str());
                let token = keys::encrypt_jwe(plaintext.as_bytes(), &jwk, alg, enc, None).unwrap();
                jwes.push(json!({"token": token, "plaintext": plaintext}));
            }
        }
    }
    assert_eq!(jwes.len(), 6);
    python(&["decrypt", &private_file, &write(dir.path(), "jwes.json", &Value::Array(jwes))]);

    // jwcrypto encrypts to ferrid's published encryption keys; ferrid decrypts each.
    let out_file = dir.path().join("to_ferrid.json").display().to_string();
    python(&["encrypt", &jwks_file, &out_file, "from jwcrypto"]);
    let incoming: Vec<Value> = serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    assert_eq!(incoming.len(), KeyEncryptionAlg::ALL.len() * ContentEncryptionAlg::ALL.len());
    for item in incoming {
        let decrypted = published.ring.decrypt_jwe(item["token"].as_str().unwrap()).unwrap();
        assert_eq!(decrypted.payload, b"from jwcrypto", "{} {}", item["alg"], item["enc"]);
    }
    app.stop().await;
}

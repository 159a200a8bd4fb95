//! `private_key_jwt` client assertions (RFC 7523 §2.2, §3) through the verifier the token
//! endpoint uses, with a fixed clock and the in-process replay store. Three shapes of input:
//! - an arbitrary string presented as the assertion (header, base64url, JSON and signature
//!   parsing before any key is trusted);
//! - arbitrary claims, validly signed by the client's key, so the claim checks (`iss`, `sub`,
//!   `aud`, `exp`, `iat`, `jti`) see hostile values;
//! - an arbitrary registered `jwks` for the client, checked against a well-formed assertion.
#![no_main]

use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use ferrid::clock::FixedClock;
use ferrid::oauth::client_assertion::{AssertionVerifier, unverified_subject};
use ferrid::oauth::client_jwks::ClientJwksFetcher;
use ferrid::oauth::{Client, ClientId, ClientMetadata, ClientType, TokenEndpointAuthMethod};
use ferrid::store::short_lived::MemoryStore;
use keys::{KeyAlg, PrivateKey, SigningAlg, SigningKey, sign_jwt};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use tokio::runtime::Runtime;

const ISSUER: &str = "https://id.example";
const CLIENT_ID: &str = "client-1";
/// 2026-01-01T00:00:00Z: seeds carry `exp` just after it.
const NOW: i64 = 1_767_225_600;

struct Harness {
    runtime: Runtime,
    verifier: AssertionVerifier,
    key: SigningKey,
    jwks: Value,
    signed: String,
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).unwrap_or_default()
}

fn client(jwks: Value) -> Client {
    let mut metadata = ClientMetadata::new("fuzz", ClientType::Confidential);
    metadata.token_endpoint_auth_method = TokenEndpointAuthMethod::PrivateKeyJwt;
    metadata.jwks = Some(jwks);
    Client {
        id: ClientId::parse(CLIENT_ID).unwrap_or_else(|| unreachable!("a valid client id")),
        secret_digest: None,
        registration_token_digest: None,
        metadata,
        created_at: now(),
        updated_at: now(),
    }
}

fn sign(key: &SigningKey, claims: &Map<String, Value>) -> Option<String> {
    sign_jwt(key, None, claims).ok()
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap_or_else(|e| unreachable!("{e}"));
    let clock = Arc::new(FixedClock::at(now()));
    let verifier = AssertionVerifier::new(
        ISSUER,
        clock.clone(),
        Arc::new(MemoryStore::new()),
        ClientJwksFetcher::new(false, clock),
    );
    let private = PrivateKey::generate(KeyAlg::Signing(SigningAlg::ES256)).unwrap_or_else(|e| unreachable!("{e}"));
    let key = private.signing_key().unwrap_or_else(|e| unreachable!("{e}"));
    let public: Value = serde_json::from_str(&private.public_jwk().to_json()).unwrap_or_default();
    let claims =
        json!({"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": format!("{ISSUER}/token"), "exp": NOW + 60, "jti": "seed"});
    let signed = sign(&key, claims.as_object().unwrap_or(&Map::new())).unwrap_or_default();
    Harness { runtime, verifier, key, jwks: json!({ "keys": [public] }), signed }
});

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let h = &*HARNESS;
    let (client, assertion) = match mode % 3 {
        0 => {
            let _ = unverified_subject(text);
            (client(h.jwks.clone()), text.to_owned())
        }
        1 => {
            let Ok(Value::Object(claims)) = serde_json::from_str::<Value>(text) else { return };
            let Some(assertion) = sign(&h.key, &claims) else { return };
            (client(h.jwks.clone()), assertion)
        }
        _ => {
            let Ok(jwks) = serde_json::from_str::<Value>(text) else { return };
            (client(jwks), h.signed.clone())
        }
    };
    let _ = h.runtime.block_on(h.verifier.verify(&client, &assertion));
});

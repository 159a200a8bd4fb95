//! Round trips, rejections and RFC 7520 known-answer tests for the JWS/JWE API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::*;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn claims(exp_offset: i64) -> Map<String, Value> {
    let v = json!({"iss": "https://op.example", "sub": "alice", "aud": "rp", "exp": now().timestamp() + exp_offset,
        "iat": now().timestamp(), "nbf": now().timestamp() - 1});
    v.as_object().unwrap().clone()
}

fn signing(alg: SigningAlg) -> SigningKey {
    PrivateKey::generate(alg.into()).unwrap().signing_key().unwrap()
}

fn verifiers(keys: &[&SigningKey]) -> Vec<VerifyingKey> {
    keys.iter().map(|k| VerifyingKey::new(k.public_jwk(), k.alg()).unwrap()).collect()
}

#[test]
fn every_signing_alg_round_trips() {
    for alg in SigningAlg::ALL {
        let key = signing(alg);
        let token = sign_jwt(&key, Some("at+jwt"), &claims(300)).unwrap();
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header["alg"], alg.as_str());
        assert_eq!(header["kid"], key.kid());
        assert_eq!(header["typ"], "at+jwt");
        let v = Validation::new(&SigningAlg::ALL, now()).with_typ("application/at+jwt");
        let got = verify_jwt(&token, &verifiers(&[&key]), &v).unwrap();
        assert_eq!(got, claims(300), "{alg}");
    }
}

#[test]
fn expired_and_premature_tokens_are_refused() {
    let key = signing(SigningAlg::ES256);
    let keys = verifiers(&[&key]);
    let v = Validation::new(&[SigningAlg::ES256], now());
    let expired = sign_jwt(&key, None, &claims(-120)).unwrap();
    assert!(matches!(verify_jwt(&expired, &keys, &v), Err(KeyError::Expired)));
    let mut early = claims(300);
    early.insert("nbf".into(), json!(now().timestamp() + 600));
    let early = sign_jwt(&key, None, &early).unwrap();
    assert!(matches!(verify_jwt(&early, &keys, &v), Err(KeyError::NotYetValid)));
    let mut no_exp = claims(300);
    no_exp.remove("exp");
    let no_exp = sign_jwt(&key, None, &no_exp).unwrap();
    assert!(matches!(verify_jwt(&no_exp, &keys, &v), Err(KeyError::InvalidClaim("exp"))));
    let wrong_typ = sign_jwt(&key, Some("JWT"), &claims(300)).unwrap();
    assert!(matches!(verify_jwt(&wrong_typ, &keys, &v.with_typ("at+jwt")), Err(KeyError::UnexpectedType)));
}

#[test]
fn tampered_token_is_refused() {
    let key = signing(SigningAlg::RS256);
    let token = sign_jwt(&key, None, &claims(300)).unwrap();
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(br#"{"sub":"mallory","exp":9999999999}"#);
    let forged = parts.join(".");
    let v = Validation::new(&[SigningAlg::RS256], now());
    assert!(matches!(verify_jwt(&forged, &verifiers(&[&key]), &v), Err(KeyError::BadSignature)));
}

#[test]
fn wrong_key_is_refused() {
    let key = signing(SigningAlg::ES256);
    let other = signing(SigningAlg::ES256);
    let token = sign_jwt(&key, None, &claims(300)).unwrap();
    let v = Validation::new(&[SigningAlg::ES256], now());
    assert!(matches!(verify_jwt(&token, &verifiers(&[&other]), &v), Err(KeyError::NoMatchingKey)));
    // Same kid on a different key (a lying header) still fails on the signature.
    let mut stripped: Vec<&str> = token.split('.').collect();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256"}"#);
    stripped[0] = &header;
    let no_kid = stripped.join(".");
    assert!(matches!(verify_jwt(&no_kid, &verifiers(&[&other]), &v), Err(KeyError::BadSignature)));
}

/// RFC 8725 §3.1: an unsecured JWT is never accepted, whatever keys are configured.
#[test]
fn alg_none_is_refused() {
    let key = signing(SigningAlg::RS256);
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, key.kid()));
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(300)).unwrap());
    let v = Validation::new(&SigningAlg::ALL, now());
    for token in [format!("{header}.{body}."), format!("{header}.{body}")] {
        assert!(verify_jwt(&token, &verifiers(&[&key]), &v).is_err());
    }
    assert!(matches!(
        verify_jwt(&format!("{header}.{body}."), &verifiers(&[&key]), &v),
        Err(KeyError::UnsupportedAlgorithm(_))
    ));
}

/// RFC 8725 §2.1 / §3.1: alg confusion. HS256 keyed with the RSA public key is not an algorithm
/// ferrid knows; PS256 against an RS256-bound key, or a disallowed alg, finds no key.
#[test]
fn alg_confusion_is_refused() {
    let rsa = signing(SigningAlg::RS256);
    let keys = verifiers(&[&rsa]);
    let v = Validation::new(&SigningAlg::ALL, now());
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(300)).unwrap());

    let hs_header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"HS256","kid":"{}"}}"#, rsa.kid()));
    let mac = ::ring::hmac::sign(
        &::ring::hmac::Key::new(::ring::hmac::HMAC_SHA256, rsa.public_jwk().to_json().as_bytes()),
        format!("{hs_header}.{body}").as_bytes(),
    );
    let hs = format!("{hs_header}.{body}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()));
    assert!(matches!(verify_jwt(&hs, &keys, &v), Err(KeyError::UnsupportedAlgorithm(_))));

    // A PS256 token refused when only RS256 is allowed, and refused under the RS256-bound kid.
    let pss = PrivateKey::generate(SigningAlg::PS256.into()).unwrap().signing_key().unwrap();
    let ps_token = sign_jwt(&pss, None, &claims(300)).unwrap();
    let ps_keys = verifiers(&[&pss]);
    let only_rs = Validation::new(&[SigningAlg::RS256], now());
    assert!(matches!(verify_jwt(&ps_token, &ps_keys, &only_rs), Err(KeyError::AlgorithmNotAllowed(_))));
    let mut parts: Vec<String> = ps_token.split('.').map(str::to_owned).collect();
    parts[0] = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"PS256","kid":"{}"}}"#, rsa.kid()));
    assert!(matches!(verify_jwt(&parts.join("."), &keys, &v), Err(KeyError::NoMatchingKey)));

    // A key bound to RS256 cannot be turned into a PS256 verifier.
    assert!(VerifyingKey::new(rsa.public_jwk(), SigningAlg::PS256).is_err());
}

fn enc_key(alg: KeyEncryptionAlg) -> DecryptionKey {
    PrivateKey::generate(alg.into()).unwrap().decryption_key().unwrap()
}

#[test]
fn every_alg_enc_pair_round_trips() {
    for alg in KeyEncryptionAlg::ALL {
        let key = enc_key(alg);
        for enc in ContentEncryptionAlg::ALL {
            let token = encrypt_jwe(b"hello, relying party", key.public_jwk(), alg, enc, Some("JWT")).unwrap();
            assert_eq!(token.split('.').count(), 5);
            let out = decrypt_jwe(&token, &key).unwrap();
            assert_eq!(out.payload, b"hello, relying party", "{alg} {enc}");
            assert_eq!(out.header.alg, alg.as_str());
            assert_eq!(out.header.enc.as_deref(), Some(enc.as_str()));
            assert_eq!(out.header.kid.as_deref(), key.kid());
        }
    }
}

#[test]
fn jwe_with_wrong_key_or_tampering_fails_uniformly() {
    let key = enc_key(KeyEncryptionAlg::EcdhEs);
    let other = enc_key(KeyEncryptionAlg::EcdhEs);
    let token = encrypt_jwe(b"x", key.public_jwk(), key.alg(), ContentEncryptionAlg::A256Gcm, None).unwrap();
    assert!(matches!(decrypt_jwe(&token, &other), Err(KeyError::DecryptionFailed)));
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    // Flip a bit of the one-byte ciphertext: a fixed replacement would equal it 1 time in 256.
    let mut ciphertext = URL_SAFE_NO_PAD.decode(&parts[3]).unwrap();
    ciphertext[0] ^= 1;
    parts[3] = URL_SAFE_NO_PAD.encode(ciphertext);
    assert!(matches!(decrypt_jwe(&parts.join("."), &key), Err(KeyError::DecryptionFailed)));
    let rsa = enc_key(KeyEncryptionAlg::RsaOaep256);
    assert!(matches!(decrypt_jwe(&token, &rsa), Err(KeyError::AlgorithmNotAllowed(_))));
    // An RSA recipient cannot be used for ECDH-ES.
    assert!(
        encrypt_jwe(b"x", rsa.public_jwk(), KeyEncryptionAlg::EcdhEs, ContentEncryptionAlg::A256Gcm, None).is_err()
    );
}

/// RFC 7519 §5.2 / §11.2: sign, then encrypt, `cty: "JWT"` on the outer header.
#[test]
fn nested_jwt_round_trips() {
    let signer = signing(SigningAlg::ES256);
    let recipient = enc_key(KeyEncryptionAlg::EcdhEsA256Kw);
    let token = sign_and_encrypt_jwt(
        &signer,
        Some("at+jwt"),
        &claims(300),
        recipient.public_jwk(),
        recipient.alg(),
        ContentEncryptionAlg::A128CbcHs256,
    )
    .unwrap();
    let outer = decrypt_jwe(&token, &recipient).unwrap();
    assert_eq!(outer.header.cty.as_deref(), Some("JWT"));
    let v = Validation::new(&[SigningAlg::ES256], now()).with_typ("at+jwt");
    let got = decrypt_nested_jwt(&token, &recipient, &verifiers(&[&signer]), &v).unwrap();
    assert_eq!(got, claims(300));
    // Without cty the payload is not treated as a JWT.
    let plain = encrypt_jwe(
        outer.payload.as_slice(),
        recipient.public_jwk(),
        recipient.alg(),
        ContentEncryptionAlg::A256Gcm,
        None,
    )
    .unwrap();
    assert!(matches!(
        decrypt_nested_jwt(&plain, &recipient, &verifiers(&[&signer]), &v),
        Err(KeyError::UnexpectedType)
    ));
}

/// RFC 7520 §3.4: the RSA public key of "bilbo.baggins@hobbiton.example".
const RFC7520_RSA_PUBLIC: &str = r#"{"kty":"RSA","kid":"bilbo.baggins@hobbiton.example","use":"sig",
  "n":"n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMaJMRBSFKrKb2wqVwGU_NsYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-oBHqFEHYpPe7Tpe-OfVfHd1E6cS6M1FZcD1NNLYD5lFHpPI9bTwJlsde3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg_3L_vniUFAKwuCLqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhuaxwUkRz5iaiQkqgc5gHdrNP5zw",
  "e":"AQAB"}"#;

/// RFC 7520 §4.1.3: the RS256 compact JWS over the §4 payload.
const RFC7520_4_1_JWS: &str = concat!(
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9",
    ".SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9h",
    "ZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0",
    "IG9mZiB0by4",
    ".MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmKZopdHM1O2U4mwzJdQx996ivp83xuglII7PNDi84wnB-",
    "BDkoBwA78185hX-Es4JIwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8wW1Kt9eRo4QPocSadnHXFxnt8Is9",
    "UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluPxUAhb6L2aXic1U12podGU0KLUQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_fcIe8u9ipH84",
    "ogoree7vjbU5y18kDquDg"
);

/// RFC 7520 §4 payload.
const RFC7520_PAYLOAD: &str = "It\u{2019}s a dangerous business, Frodo, going out your door. You step onto the road, \
    and if you don't keep your feet, there\u{2019}s no knowing where you might be swept off to.";

#[test]
fn rfc7520_4_1_rs256_signature_verifies() {
    let jwk = PublicJwk::from_json(RFC7520_RSA_PUBLIC).unwrap();
    let keys = [VerifyingKey::new(&jwk, SigningAlg::RS256).unwrap()];
    let out = verify_jws(RFC7520_4_1_JWS, &keys, &[SigningAlg::RS256]).unwrap();
    assert_eq!(String::from_utf8(out.payload).unwrap(), RFC7520_PAYLOAD);
    assert_eq!(out.header.kid.as_deref(), Some("bilbo.baggins@hobbiton.example"));
    // One flipped signature character and it no longer verifies.
    let mut bad = RFC7520_4_1_JWS.to_owned();
    bad.pop();
    bad.push('h');
    assert!(verify_jws(&bad, &keys, &[SigningAlg::RS256]).is_err());
}

/// RFC 7520 §5.5: ECDH-ES with A128CBC-HS256, to the P-256 key of
/// "meriadoc.brandybuck@buckland.example" (§5.5.1).
#[test]
fn rfc7520_5_5_ecdh_es_a128cbc_hs256_decrypts() {
    let private = br#"{"kty":"EC","kid":"meriadoc.brandybuck@buckland.example","use":"enc","crv":"P-256",
        "x":"Ze2loSV3wrroKUN_4zhwGhCqo3Xhu1td4QjeQ5wIVR0","y":"HlLtdXARY_f55A3fnzQbPcm6hgr34Mp8p-nuzQCE0Zw",
        "d":"r_kHyZ-a06rmxM3yESK84r1otSg-aQcVStkRhA-iCM8"}"#;
    let key = crate::key::PrivateKey::from_private_jwk_json(KeyEncryptionAlg::EcdhEs.into(), private)
        .unwrap()
        .decryption_key()
        .unwrap();
    let token = concat!(
        "eyJhbGciOiJFQ0RILUVTIiwia2lkIjoibWVyaWFkb2MuYnJhbmR5YnVja0BidWNrbGFuZC5leGFtcGxlIiwiZXBrIjp7Imt0eSI6IkVDIiwi",
        "Y3J2IjoiUC0yNTYiLCJ4IjoibVBVS1RfYkFXR0hJaGcwVHBqanFWc1AxclhXUXVfdndWT0hIdE5rZFlvQSIsInkiOiI4QlFBc0ltR2VBUzQ2",
        "ZnlXdzVNaFlmR1RUMElqQnBGdzJTUzM0RHY0SXJzIn0sImVuYyI6IkExMjhDQkMtSFMyNTYifQ",
        "..yc9N8v5sYyv3iGQT926IUg",
        ".BoDlwPnTypYq-ivjmQvAYJLb5Q6l-F3LIgQomlz87yW4OPKbWE1zSTEFjDfhU9IPIOSA9Bml4m7iDFwA-1ZXvHteLDtw4R1XRGMEsDIqAYts",
        "kTTmzmzNa-_q4F_evAPUmwlO-ZG45Mnq4uhM1fm_D9rBtWolqZSF3xGNNkpOMQKF1Cl8i8wjzRli7-IXgyirlKQsbhhqRzkv8IcY6aHl24j03C-",
        "AR2le1r7URUhArM79BY8soZU0lzwI-sD5PZ3l4NDCCei9XkoIAfsXJWmySPoeRb2Ni5UZL4mYpvKDiwmyzGd65KqVw7MsFfI_K767G9C9Azp7",
        "3gKZD0DyUn1mn0WW5LmyX_yJ-3AROq8p1WZBfG-ZyJ6195_JGG2m9Csg",
        ".WCCkNa-x4BeB9hIDIfFuhg"
    );
    let out = decrypt_jwe(token, &key).unwrap();
    let expected = "You can trust us to stick with you through thick and thin\u{2013}to the bitter end. And you can \
        trust us to keep any secret of yours\u{2013}closer than you keep it yourself. But you cannot trust us to let \
        you face trouble alone, and go off without a word. We are your friends, Frodo.";
    assert_eq!(String::from_utf8(out.payload).unwrap(), expected);
}

/// RFC 7515 §4.1.3 `jwk`: the proof verifies with the key it carries, and only with it.
#[test]
fn embedded_jwk_round_trips_and_refuses_private_members_and_swaps() {
    for alg in SigningAlg::ALL {
        let key = signing(alg);
        let token = sign_jwt_with_jwk(&key, "dpop+jwt", &claims(300)).unwrap();
        let (verified, jwk) = verify_jws_with_embedded_jwk(&token, &SigningAlg::ALL).unwrap();
        assert_eq!(verified.header.typ.as_deref(), Some("dpop+jwt"));
        assert_eq!(jwk.thumbprint().unwrap(), key.public_jwk().thumbprint().unwrap());
    }
    let key = signing(SigningAlg::ES256);
    let other = signing(SigningAlg::ES256);
    let token = sign_jwt_with_jwk(&key, "dpop+jwt", &claims(300)).unwrap();
    let (_, rest) = token.split_once('.').unwrap();
    let swap = |jwk: Value| {
        let header = json!({"alg": "ES256", "typ": "dpop+jwt", "jwk": jwk});
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
    };
    let other_jwk: Value = serde_json::from_str(&other.public_jwk().to_json()).unwrap();
    assert!(matches!(verify_jws_with_embedded_jwk(&swap(other_jwk), &SigningAlg::ALL), Err(KeyError::BadSignature)));
    let mut private: Value = serde_json::from_str(&key.public_jwk().to_json()).unwrap();
    private["d"] = json!("AAAA");
    assert!(matches!(verify_jws_with_embedded_jwk(&swap(private), &SigningAlg::ALL), Err(KeyError::InvalidKey(_))));
    assert!(verify_jws_with_embedded_jwk(&token, &[SigningAlg::RS256]).is_err(), "alg not allowed");
}

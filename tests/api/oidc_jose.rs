//! Every algorithm discovery advertises works (OIDC Discovery §3): ID tokens signed with each
//! signing algorithm, encrypted ID tokens (OIDC Core §10.2), signed and encrypted UserInfo
//! responses (§5.3.2) — checked with the keys crate against the published JWKS.

use chrono::Utc;
use ferrid::oauth::{ClientMetadata, ClientType, GrantType, RedirectUri};
use keys::{Jwks, KeyAlg, KeyEncryptionAlg, PrivateKey, SigningAlg, Validation};
use serde_json::{Map, Value, json};

use crate::{
    browser::{Browser, Landing, hidden},
    helpers::{Backend, TestApp, spawn_app},
    oidc::{PASSWORD, REDIRECT, create_user},
};

struct Rp {
    id: String,
    secret: String,
}

async fn register(app: &TestApp, configure: impl FnOnce(&mut ClientMetadata)) -> Rp {
    let mut metadata = ClientMetadata::new("JOSE RP", ClientType::Confidential);
    metadata.redirect_uris.push(RedirectUri::parse(REDIRECT).unwrap());
    metadata.grant_types = vec![GrantType::AuthorizationCode];
    metadata.first_party = true;
    configure(&mut metadata);
    let (client, secret) = app.state.clients.register(metadata).await.unwrap();
    Rp { id: client.id.as_str().to_owned(), secret: secret.unwrap().expose().to_owned() }
}

fn authorize_url(app: &TestApp, rp: &Rp, extra: &[(&str, &str)]) -> (String, String) {
    crate::oidc::authorize_url(app, &rp.id, "openid email", extra)
}

/// Signs in (once per browser) and redeems the code; returns the token response.
async fn sign_in_and_redeem(app: &TestApp, browser: &Browser, rp: &Rp) -> Value {
    let (url, verifier) = authorize_url(app, rp, &[]);
    let code = browser.sign_in(&url, "ann@example.com", PASSWORD).await.code();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &verifier),
    ];
    let response =
        app.http.post(app.url("/token")).basic_auth(&rp.id, Some(&rp.secret)).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn published(app: &TestApp) -> Jwks {
    Jwks::from_json(&app.get("/jwks").await.text().await.unwrap()).unwrap()
}

fn verify(jwks: &Jwks, alg: SigningAlg, token: &str) -> Map<String, Value> {
    keys::verify_jwt(token, &jwks.verifying_keys(alg), &Validation::new(&[alg], Utc::now_for_test())).unwrap()
}

trait TestClock {
    fn now_for_test() -> chrono::DateTime<Utc>;
}
impl TestClock for Utc {
    #[allow(clippy::disallowed_methods)] // the test compares real tokens against real time
    fn now_for_test() -> chrono::DateTime<Utc> {
        Utc::now()
    }
}

fn client_jwks(keys: &[&PrivateKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| serde_json::from_str::<Value>(&k.public_jwk().to_json()).unwrap()).collect::<Vec<_>>() })
}

#[tokio::test]
async fn id_tokens_verify_with_every_advertised_signing_algorithm() {
    let app = spawn_app(Backend::Embedded).await;
    create_user(&app, "ann@example.com").await;
    let discovery: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    let advertised = discovery["id_token_signing_alg_values_supported"].as_array().unwrap().clone();
    assert_eq!(advertised.len(), 4);
    let browser = Browser::new(&app.address);
    let jwks = published(&app).await;
    for alg in advertised {
        let alg: SigningAlg = alg.as_str().unwrap().parse().unwrap();
        let rp = register(&app, |m| m.id_token_signed_response_alg = alg.as_str().to_owned()).await;
        let tokens = sign_in_and_redeem(&app, &browser, &rp).await;
        let claims = verify(&jwks, alg, tokens["id_token"].as_str().unwrap());
        assert_eq!(claims["aud"], rp.id.as_str(), "{alg}");
        assert_eq!(claims["nonce"], "n1");
        assert_eq!(claims["iss"], app.address.as_str());
        assert_eq!(claims["acr"], "1");
        assert_eq!(claims["amr"], json!(["pwd"]));
        assert!(claims["sid"].is_string() && claims["auth_time"].is_i64());
        // RFC 9068 §2.1: the access token is a JWT of type at+jwt, verifiable from the JWKS.
        let access = verify(&jwks, SigningAlg::ES256, tokens["access_token"].as_str().unwrap());
        assert_eq!(access["client_id"], rp.id.as_str());
        assert!(access["jti"].is_string());
    }
    app.stop().await;
}

#[tokio::test]
async fn encrypted_id_tokens_and_signed_or_encrypted_userinfo_oidc_core_10_2_and_5_3_2() {
    let app = spawn_app(Backend::Embedded).await;
    create_user(&app, "ann@example.com").await;
    let browser = Browser::new(&app.address);
    let jwks = published(&app).await;
    let rsa = PrivateKey::generate(KeyAlg::Encryption(KeyEncryptionAlg::RsaOaep256)).unwrap();
    let ec = PrivateKey::generate(KeyAlg::Encryption(KeyEncryptionAlg::EcdhEs)).unwrap();

    // ID token signed then encrypted to the client's RSA key; UserInfo signed then encrypted.
    let rp = register(&app, |m| {
        m.jwks = Some(client_jwks(&[&rsa, &ec]));
        m.id_token_encrypted_response_alg = Some("RSA-OAEP-256".to_owned());
        m.id_token_encrypted_response_enc = Some("A256GCM".to_owned());
        m.userinfo_signed_response_alg = Some("PS256".to_owned());
        m.userinfo_encrypted_response_alg = Some("RSA-OAEP-256".to_owned());
    })
    .await;
    let tokens = sign_in_and_redeem(&app, &browser, &rp).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(id_token.split('.').count(), 5, "a JWE");
    let validation = Validation::new(&[SigningAlg::RS256], Utc::now_for_test());
    let claims = keys::decrypt_nested_jwt(
        id_token,
        &rsa.decryption_key().unwrap(),
        &jwks.verifying_keys(SigningAlg::RS256),
        &validation,
    )
    .unwrap();
    assert_eq!(claims["email"], "ann@example.com");

    let access_token = tokens["access_token"].as_str().unwrap();
    let response = app.http.get(app.url("/userinfo")).bearer_auth(access_token).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/jwt");
    let body = response.text().await.unwrap();
    // A UserInfo JWT need not expire (OIDC Core §5.3.2 lists iss and aud, not exp).
    let validation = Validation { require_exp: false, ..Validation::new(&[SigningAlg::PS256], Utc::now_for_test()) };
    let claims = keys::decrypt_nested_jwt(
        &body,
        &rsa.decryption_key().unwrap(),
        &jwks.verifying_keys(SigningAlg::PS256),
        &validation,
    )
    .unwrap();
    assert_eq!(claims["aud"], rp.id.as_str());
    assert_eq!(claims["email"], "ann@example.com");

    // UserInfo encrypted only (ECDH-ES): the JWE carries the claims JSON.
    let rp = register(&app, |m| {
        m.jwks = Some(client_jwks(&[&ec]));
        m.userinfo_encrypted_response_alg = Some("ECDH-ES".to_owned());
    })
    .await;
    let tokens = sign_in_and_redeem(&app, &browser, &rp).await;
    let response =
        app.http.get(app.url("/userinfo")).bearer_auth(tokens["access_token"].as_str().unwrap()).send().await.unwrap();
    let body = response.text().await.unwrap();
    let decrypted = keys::decrypt_jwe(&body, &ec.decryption_key().unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&decrypted.payload).unwrap();
    assert_eq!(claims["email"], "ann@example.com");
    app.stop().await;
}

#[tokio::test]
async fn form_post_and_prompt_login_oidc_core_3_1_2_1() {
    let app = spawn_app(Backend::Embedded).await;
    create_user(&app, "ann@example.com").await;
    let rp = register(&app, |_| {}).await;
    let browser = Browser::new(&app.address);

    // OAuth 2.0 Form Post Response Mode §2: an auto-submitting form to the redirect URI.
    let (url, _) = authorize_url(&app, &rp, &[("response_mode", "form_post")]);
    let Landing::Page { status, html } = browser.sign_in(&url, "ann@example.com", PASSWORD).await else {
        panic!("form_post must answer with a page")
    };
    assert_eq!(status, 200);
    assert!(crate::browser::unescape(&html).contains(&format!("action=\"{REDIRECT}\"")));
    assert_eq!(hidden(&html, "state"), "xyz");
    assert_eq!(hidden(&html, "iss"), app.address);
    assert!(!hidden(&html, "code").is_empty());

    // SSO first…
    let (url, _) = authorize_url(&app, &rp, &[]);
    assert!(matches!(browser.follow(url).await, Landing::Redirect { .. }));
    // …but prompt=login and a max_age of 0 demand a fresh login (OIDC Core §3.1.2.1).
    for extra in [("prompt", "login"), ("max_age", "0")] {
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let (url, _) = authorize_url(&app, &rp, &[extra]);
        let Landing::Page { html, .. } = browser.follow(url).await else { panic!("{extra:?} skipped the login") };
        assert!(
            html.contains("action=\"/login\"") && html.contains("You are signed in as ann@example.com"),
            "{extra:?}"
        );
        let landing = browser
            .submit(
                "/login",
                &[
                    ("request", &hidden(&html, "request")),
                    ("csrf", &hidden(&html, "csrf")),
                    ("email", "ann@example.com"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        landing.code();
    }
    app.stop().await;
}

#[tokio::test]
async fn clients_may_only_choose_algorithms_the_key_ring_holds() {
    let app = crate::helpers::spawn_app_with(Backend::Embedded, &[("FERRID_KEY_ALGS", "RS256,ES256")]).await;
    let mut metadata = ClientMetadata::new("PS256 RP", ClientType::Confidential);
    metadata.redirect_uris.push(RedirectUri::parse(REDIRECT).unwrap());
    metadata.id_token_signed_response_alg = "PS256".to_owned();
    let error = app.state.clients.register(metadata.clone()).await.expect_err("PS256 has no key here");
    assert!(error.to_string().contains("PS256 is not enabled"), "{error}");
    metadata.id_token_signed_response_alg = "RS256".to_owned();
    assert!(app.state.clients.register(metadata).await.is_ok());
    let discovery: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    assert_eq!(discovery["id_token_signing_alg_values_supported"], json!(["RS256", "ES256"]));
    app.stop().await;
}

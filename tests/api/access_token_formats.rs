//! Access-token formats per client (DESIGN §6): RFC 9068 JWTs (the default, tested elsewhere),
//! nested JWEs that only the resource server holding the key can read (RFC 7519 §5.2), and opaque
//! tokens. ferrid cannot read the last two itself, so it files them by digest: introspection
//! (RFC 7662), userinfo (OIDC Core §5.3) and revocation (RFC 7009) work for every format.

use chrono::Utc;
use ferrid::oauth::{ClientMetadata, ClientType, GrantType, RedirectUri, client::AccessTokenFormat};
use keys::{Jwks, KeyAlg, KeyEncryptionAlg, OpaqueSecret, PrivateKey, SigningAlg, Validation};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    browser::Browser,
    helpers::{Backend, TestApp, spawn_app},
    oidc::{PASSWORD, REDIRECT, authorize_url, create_user},
};

on_every_backend!(
    opaque_access_tokens_work_everywhere_a_jwt_does,
    jwe_access_tokens_are_readable_only_by_the_resource_server_rfc_7519_5_2
);

struct Rp {
    id: String,
    secret: String,
}

async fn register(app: &TestApp, configure: impl FnOnce(&mut ClientMetadata)) -> Rp {
    let mut metadata = ClientMetadata::new("Format RP", ClientType::Confidential);
    metadata.redirect_uris.push(RedirectUri::parse(REDIRECT).unwrap());
    metadata.grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::ClientCredentials];
    metadata.first_party = true;
    configure(&mut metadata);
    let (client, secret) = app.state.clients.register(metadata).await.unwrap();
    Rp { id: client.id.as_str().to_owned(), secret: secret.unwrap().expose().to_owned() }
}

async fn post(app: &TestApp, rp: &Rp, path: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = app.http.post(app.url(path)).basic_auth(&rp.id, Some(&rp.secret)).form(form).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

/// Signs Ann in through the code flow and redeems the code.
async fn tokens(app: &TestApp, rp: &Rp) -> Value {
    let (url, verifier) = authorize_url(app, &rp.id, "openid email offline_access", &[]);
    let code = Browser::new(&app.address).sign_in(&url, "ann@example.com", PASSWORD).await.code();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, body) = post(app, rp, "/token", &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn introspect(app: &TestApp, rp: &Rp, token: &str) -> Value {
    let (status, body) = post(app, rp, "/introspect", &[("token", token)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn userinfo(app: &TestApp, token: &str) -> StatusCode {
    app.http.get(app.url("/userinfo")).bearer_auth(token).send().await.unwrap().status()
}

async fn opaque_access_tokens_work_everywhere_a_jwt_does(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "ann@example.com").await;
    let rp = register(&app, |m| {
        m.access_token_format = AccessTokenFormat::Opaque;
        m.allowed_scopes.push("profile".to_owned());
    })
    .await;
    let issued = tokens(&app, &rp).await;
    let access = issued["access_token"].as_str().unwrap();
    assert!(!access.contains('.') && access.len() >= 43, "opaque, with at least 256 random bits: {access}");
    // Stored only as a digest (DESIGN §6): the record is found by the digest of the token.
    let digest = OpaqueSecret::from_presented(access.to_owned()).digest();
    let record = app.state.access_tokens.find(&digest).await.unwrap().expect("filed by digest");
    assert_ne!(digest.as_str(), access);

    // RFC 7662 §2.2: the same metadata a JWT's introspection gives.
    let active = introspect(&app, &rp, access).await;
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(active["token_type"], "Bearer");
    assert_eq!(active["client_id"], rp.id.as_str());
    assert_eq!(active["jti"], record.jti.as_str());
    assert_eq!(active["scope"], "openid email offline_access");
    assert_eq!(active["exp"].as_i64().unwrap() - active["iat"].as_i64().unwrap(), 900, "15 minutes by default");
    assert_eq!(userinfo(&app, access).await, StatusCode::OK, "OIDC Core §5.3.1");

    // A refreshed opaque token dies with its family (RFC 7009 §2.1).
    let refresh_token = issued["refresh_token"].as_str().unwrap();
    let (status, refreshed) =
        post(&app, &rp, "/token", &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let second = refreshed["access_token"].as_str().unwrap();
    assert!(!second.contains('.'));
    assert_eq!(introspect(&app, &rp, second).await["active"], true);
    let new_refresh = refreshed["refresh_token"].as_str().unwrap();
    let (status, _) = post(&app, &rp, "/revoke", &[("token", new_refresh)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(introspect(&app, &rp, second).await, json!({"active": false}));
    assert_eq!(userinfo(&app, second).await, StatusCode::UNAUTHORIZED);

    // Revoking the first access token directly deny-lists it (RFC 7009 §2.1).
    let (status, _) = post(&app, &rp, "/revoke", &[("token", access), ("token_type_hint", "access_token")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(introspect(&app, &rp, access).await, json!({"active": false}));
    assert_eq!(userinfo(&app, access).await, StatusCode::UNAUTHORIZED, "RFC 6750 §3.1 invalid_token");

    // client_credentials in the same format, and unknown opaque values are simply inactive.
    let (status, body) = post(&app, &rp, "/token", &[("grant_type", "client_credentials"), ("scope", "profile")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let service = body["access_token"].as_str().unwrap();
    let active = introspect(&app, &rp, service).await;
    assert_eq!((active["active"].clone(), active["sub"].clone()), (json!(true), json!(rp.id)));
    let unknown = OpaqueSecret::generate();
    assert_eq!(introspect(&app, &rp, unknown.expose()).await, json!({"active": false}));
    assert_eq!(userinfo(&app, unknown.expose()).await, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[allow(clippy::disallowed_methods)] // the resource server checks real tokens against real time
fn resource_server_now() -> chrono::DateTime<Utc> {
    Utc::now()
}

async fn jwe_access_tokens_are_readable_only_by_the_resource_server_rfc_7519_5_2(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "ann@example.com").await;
    // The resource server's key pair; the client registers its public half.
    let resource_key = PrivateKey::generate(KeyAlg::Encryption(KeyEncryptionAlg::RsaOaep256)).unwrap();
    let public: Value = serde_json::from_str(&resource_key.public_jwk().to_json()).unwrap();
    let rp = register(&app, |m| {
        m.access_token_format = AccessTokenFormat::Jwe;
        m.jwks = Some(json!({ "keys": [public] }));
        m.access_token_encrypted_response_alg = Some("RSA-OAEP-256".to_owned());
        m.access_token_encrypted_response_enc = Some("A256GCM".to_owned());
    })
    .await;
    let issued = tokens(&app, &rp).await;
    let access = issued["access_token"].as_str().unwrap();
    assert_eq!(access.split('.').count(), 5, "a JWE compact serialisation (RFC 7516 §7.1)");

    // The resource server decrypts with its key and verifies ferrid's signature inside: an RFC
    // 9068 token (`typ: at+jwt`), nested per RFC 7519 §5.2 (`cty: JWT`).
    let published = Jwks::from_json(&app.get("/jwks").await.text().await.unwrap()).unwrap();
    let validation = Validation::new(&[SigningAlg::ES256], resource_server_now()).with_typ("at+jwt");
    let claims = keys::decrypt_nested_jwt(
        access,
        &resource_key.decryption_key().unwrap(),
        &published.verifying_keys(SigningAlg::ES256),
        &validation,
    )
    .unwrap();
    assert_eq!(claims["iss"], app.address.as_str());
    assert_eq!(claims["client_id"], rp.id.as_str());
    assert_eq!(claims["aud"], app.address.as_str());
    // Someone else's key cannot read it.
    let stranger = PrivateKey::generate(KeyAlg::Encryption(KeyEncryptionAlg::RsaOaep256)).unwrap();
    assert!(keys::decrypt_jwe(access, &stranger.decryption_key().unwrap()).is_err());

    // ferrid itself answers for the token by digest: introspection and userinfo.
    let active = introspect(&app, &rp, access).await;
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(active["jti"], claims["jti"]);
    assert_eq!(active["sub"], claims["sub"]);
    assert_eq!(userinfo(&app, access).await, StatusCode::OK);
    let (status, _) = post(&app, &rp, "/revoke", &[("token", access)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(introspect(&app, &rp, access).await, json!({"active": false}));
    assert_eq!(userinfo(&app, access).await, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

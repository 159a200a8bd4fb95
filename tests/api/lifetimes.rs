//! Token and code lifetimes (DESIGN §6): global defaults from the configuration, overridden per
//! client; and the refresh-token reuse grace window a client may opt into, weaker than strict
//! rotation (RFC 9700 §4.14.2).

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use ferrid::{
    clock::FixedClock,
    oauth::{ClientMetadata, ClientType, GrantType, RedirectUri},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    browser::Browser,
    helpers::{Backend, TestApp, TestResources, spawn_app_with, start_app},
    oidc::{PASSWORD, REDIRECT, authorize_url, create_user},
};

on_every_backend!(
    lifetimes_follow_the_configuration_unless_the_client_overrides_them,
    a_reuse_grace_window_tolerates_racing_refreshes_but_not_late_replays,
    a_token_verified_before_still_expires_rfc_7662_2_2
);

struct Rp {
    id: String,
    secret: String,
}

async fn register(app: &TestApp, configure: impl FnOnce(&mut ClientMetadata)) -> Rp {
    let mut metadata = ClientMetadata::new("Lifetimes RP", ClientType::Confidential);
    metadata.redirect_uris.push(RedirectUri::parse(REDIRECT).unwrap());
    metadata.grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
    metadata.first_party = true;
    configure(&mut metadata);
    let (client, secret) = app.state.clients.register(metadata).await.unwrap();
    Rp { id: client.id.as_str().to_owned(), secret: secret.unwrap().expose().to_owned() }
}

async fn post(app: &TestApp, rp: &Rp, path: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = app.http.post(app.url(path)).basic_auth(&rp.id, Some(&rp.secret)).form(form).send().await.unwrap();
    (response.status(), response.json().await.unwrap_or(Value::Null))
}

/// A code for Ann and its PKCE verifier.
async fn code(app: &TestApp, rp: &Rp) -> (String, String) {
    let (url, verifier) = authorize_url(app, &rp.id, "openid offline_access", &[]);
    (Browser::new(&app.address).sign_in(&url, "ann@example.com", PASSWORD).await.code(), verifier)
}

async fn redeem(app: &TestApp, rp: &Rp, (code, verifier): (String, String)) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    post(app, rp, "/token", &form).await
}

async fn refresh(app: &TestApp, rp: &Rp, token: &str) -> (StatusCode, Value) {
    post(app, rp, "/token", &[("grant_type", "refresh_token"), ("refresh_token", token)]).await
}

async fn active(app: &TestApp, rp: &Rp, token: &str) -> bool {
    let (status, body) = post(app, rp, "/introspect", &[("token", token)]).await;
    assert_eq!(status, StatusCode::OK);
    body["active"] == json!(true)
}

fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn lifetime(claims: &Value) -> i64 {
    claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap()
}

async fn lifetimes_follow_the_configuration_unless_the_client_overrides_them(backend: Backend) {
    let settings = [
        ("FERRID_ACCESS_TOKEN_LIFETIME_SECS", "120"),
        ("FERRID_ID_TOKEN_LIFETIME_SECS", "600"),
        ("FERRID_REFRESH_TOKEN_IDLE_SECS", "3600"),
        ("FERRID_REFRESH_TOKEN_LIFETIME_SECS", "7200"),
        ("FERRID_CODE_LIFETIME_SECS", "1"),
    ];
    let app = spawn_app_with(backend, &settings).await;
    create_user(&app, "ann@example.com").await;

    let defaults = register(&app, |_| {}).await;
    let issued = code(&app, &defaults).await;
    let (status, body) = redeem(&app, &defaults, issued).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["expires_in"], 120, "RFC 6749 §5.1 expires_in: the configured access lifetime");
    assert_eq!(lifetime(&claims(body["access_token"].as_str().unwrap())), 120);
    assert_eq!(lifetime(&claims(body["id_token"].as_str().unwrap())), 600);
    let (_, refresh_info) =
        post(&app, &defaults, "/introspect", &[("token", body["refresh_token"].as_str().unwrap())]).await;
    assert_eq!(lifetime(&refresh_info), 3600, "idle lifetime, within the absolute one");

    // RFC 6749 §4.1.2: the code expires after the configured lifetime.
    let late = code(&app, &defaults).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = redeem(&app, &defaults, late).await;
    assert_eq!((status, body["error"].clone()), (StatusCode::BAD_REQUEST, json!("invalid_grant")));

    // No signed token may outlive the retired keys that verify it (FERRID_KEY_RETAIN_RETIRED_SECS).
    let mut too_long = ClientMetadata::new("Too long", ClientType::Confidential);
    too_long.redirect_uris.push(RedirectUri::parse(REDIRECT).unwrap());
    too_long.lifetimes.access_token = Some(2 * 86_400);
    assert!(app.state.clients.register(too_long).await.is_err());

    // A client's own values win over the configuration.
    let tuned = register(&app, |m| {
        m.lifetimes.access_token = Some(60);
        m.lifetimes.id_token = Some(300);
        m.lifetimes.refresh_idle = Some(100_000);
        m.lifetimes.refresh_absolute = Some(1000);
        m.lifetimes.code = Some(30);
    })
    .await;
    let issued = code(&app, &tuned).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = redeem(&app, &tuned, issued).await;
    assert_eq!(status, StatusCode::OK, "the client's 30 s code outlives the global 1 s: {body}");
    assert_eq!(body["expires_in"], 60);
    assert_eq!(lifetime(&claims(body["id_token"].as_str().unwrap())), 300);
    let (_, refresh_info) =
        post(&app, &tuned, "/introspect", &[("token", body["refresh_token"].as_str().unwrap())]).await;
    assert_eq!(lifetime(&refresh_info), 1000, "the idle lifetime never outlives the family");
    app.stop().await;
}

#[allow(clippy::disallowed_methods)] // the fixed clock starts at real time, so JWTs verify
fn real_now() -> chrono::DateTime<Utc> {
    Utc::now()
}

async fn a_reuse_grace_window_tolerates_racing_refreshes_but_not_late_replays(backend: Backend) {
    let clock = FixedClock::at(real_now());
    let app = start_app(TestResources::create(backend).await, &[], Arc::new(clock.clone())).await.unwrap();
    create_user(&app, "ann@example.com").await;
    let rp = register(&app, |m| m.refresh_token_reuse_grace_secs = 10).await;
    let issued = code(&app, &rp).await;
    let (_, body) = redeem(&app, &rp, issued).await;
    let first = body["refresh_token"].as_str().unwrap().to_owned();

    let (status, body) = refresh(&app, &rp, &first).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = body["refresh_token"].as_str().unwrap().to_owned();
    // The same (rotated) token again within the window — two tabs racing: another successor,
    // and the family lives on.
    clock.advance(chrono::Duration::seconds(5));
    let (status, body) = refresh(&app, &rp, &first).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sibling = body["refresh_token"].as_str().unwrap().to_owned();
    assert!(active(&app, &rp, &second).await && active(&app, &rp, &sibling).await);

    // After the window, presenting it again is reuse: the whole family dies (RFC 9700 §4.14.2).
    clock.advance(chrono::Duration::seconds(6));
    let (status, body) = refresh(&app, &rp, &first).await;
    assert_eq!((status, body["error"].clone()), (StatusCode::BAD_REQUEST, json!("invalid_grant")));
    assert!(!active(&app, &rp, &second).await && !active(&app, &rp, &sibling).await);

    // A strict client (the default) gets no window at all.
    let strict = register(&app, |_| {}).await;
    let issued = code(&app, &strict).await;
    let (_, body) = redeem(&app, &strict, issued).await;
    let first = body["refresh_token"].as_str().unwrap().to_owned();
    let (_, body) = refresh(&app, &strict, &first).await;
    let second = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, _) = refresh(&app, &strict, &first).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!active(&app, &strict, &second).await);

    // Not even for a racing request whose clock read came before the winning rotation.
    let issued = code(&app, &strict).await;
    let (_, body) = redeem(&app, &strict, issued).await;
    let first = body["refresh_token"].as_str().unwrap().to_owned();
    let (_, body) = refresh(&app, &strict, &first).await;
    let second = body["refresh_token"].as_str().unwrap().to_owned();
    clock.advance(chrono::Duration::seconds(-1));
    let (status, _) = refresh(&app, &strict, &first).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!active(&app, &strict, &second).await);
    app.stop().await;
}

/// Introspection remembers the JWTs it verified (so a resource server's repeats skip the
/// signature); a remembered token must still turn inactive when it expires (RFC 7662 §2.2,
/// RFC 7519 §4.1.4).
async fn a_token_verified_before_still_expires_rfc_7662_2_2(backend: Backend) {
    let clock = FixedClock::at(real_now());
    let app = start_app(TestResources::create(backend).await, &[], Arc::new(clock.clone())).await.unwrap();
    let service = register(&app, |m| {
        m.grant_types = vec![GrantType::ClientCredentials];
        m.allowed_scopes = vec!["profile".into()];
    })
    .await;
    let (status, body) = post(&app, &service, "/token", &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let expires_in = body["expires_in"].as_i64().unwrap();
    for _ in 0..2 {
        assert_eq!(post(&app, &service, "/introspect", &[("token", &token)]).await.1["active"], true);
    }
    clock.advance(chrono::Duration::seconds(expires_in - 1));
    assert_eq!(post(&app, &service, "/introspect", &[("token", &token)]).await.1["active"], true);
    // Past `exp` introspection says inactive at once; past the verifier's 60 s leeway, too.
    clock.advance(chrono::Duration::seconds(2));
    assert_eq!(post(&app, &service, "/introspect", &[("token", &token)]).await.1["active"], false);
    clock.advance(chrono::Duration::seconds(60));
    assert_eq!(post(&app, &service, "/introspect", &[("token", &token)]).await.1["active"], false);
    app.stop().await;
}

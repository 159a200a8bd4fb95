//! RP-Initiated Logout 1.0 at /logout.

use ferrid::oauth::{ClientMetadata, ClientType, GrantType, RedirectUri};
use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    browser::{Browser, Landing, hidden},
    helpers::{Backend, TestApp, spawn_app},
    oidc::{PASSWORD, REDIRECT, authorize_url, create_user},
};

on_every_backend!(a_valid_id_token_hint_signs_out_and_returns_with_state_rp_initiated_logout_2_3);

const AFTER_LOGOUT: &str = "http://127.0.0.1:9/signed-out";

/// A signed-in browser, its client, and an ID token for it.
async fn signed_in(app: &TestApp) -> (Browser, String, String) {
    create_user(app, "ann@example.com").await;
    let mut metadata = ClientMetadata::new("Logout RP", ClientType::Confidential);
    metadata.redirect_uris.push(RedirectUri::parse(REDIRECT).unwrap());
    metadata.post_logout_redirect_uris.push(RedirectUri::parse(AFTER_LOGOUT).unwrap());
    metadata.grant_types = vec![GrantType::AuthorizationCode];
    metadata.first_party = true;
    let (client, secret) = app.state.clients.register(metadata).await.unwrap();
    let client_id = client.id.as_str().to_owned();
    let browser = Browser::new(&app.address);
    let (url, verifier) = authorize_url(app, &client_id, "openid", &[]);
    let code = browser.sign_in(&url, "ann@example.com", PASSWORD).await.code();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &verifier),
    ];
    let tokens: Value = app
        .http
        .post(app.url("/token"))
        .basic_auth(&client_id, Some(secret.unwrap().expose()))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (browser, client_id, tokens["id_token"].as_str().unwrap().to_owned())
}

async fn needs_login(app: &TestApp, browser: &Browser, client_id: &str) -> bool {
    let (url, _) = authorize_url(app, client_id, "openid", &[]);
    matches!(browser.follow(url).await, Landing::Page { html, .. } if html.contains("action=\"/login\""))
}

async fn a_valid_id_token_hint_signs_out_and_returns_with_state_rp_initiated_logout_2_3(backend: Backend) {
    let app = spawn_app(backend).await;
    let (browser, client_id, id_token) = signed_in(&app).await;
    assert!(!needs_login(&app, &browser, &client_id).await, "SSO before logout");
    let mut url = url::Url::parse(&app.url("/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", AFTER_LOGOUT)
        .append_pair("state", "bye");
    let landing = browser.follow(url.to_string()).await;
    assert_eq!(landing.param("state").as_deref(), Some("bye"), "{landing:?}");
    let Landing::Redirect { url } = landing else { unreachable!() };
    assert!(url.as_str().starts_with(AFTER_LOGOUT));
    assert!(needs_login(&app, &browser, &client_id).await, "the OP session ended");
    app.stop().await;
}

#[tokio::test]
async fn without_a_hint_the_user_confirms_rp_initiated_logout_2() {
    let app = spawn_app(Backend::Embedded).await;
    let (browser, client_id, _) = signed_in(&app).await;
    let Landing::Page { html, .. } = browser.follow(app.url("/logout")).await else {
        panic!("expected a confirmation")
    };
    assert!(html.contains("Sign out?"));
    let csrf = hidden(&html, "csrf");

    let Landing::Page { html, .. } = browser.submit("/logout", &[("csrf", &csrf), ("confirm", "no")]).await else {
        panic!("expected a page")
    };
    assert!(html.contains("still signed in"));
    assert!(!needs_login(&app, &browser, &client_id).await);

    // A forged form (no CSRF token) only brings the confirmation back.
    let Landing::Page { html, .. } = browser.submit("/logout", &[("confirm", "yes")]).await else { panic!() };
    assert!(html.contains("Sign out?"));
    assert!(!needs_login(&app, &browser, &client_id).await);

    let Landing::Page { html, .. } = browser.submit("/logout", &[("csrf", &csrf), ("confirm", "yes")]).await else {
        panic!("expected the signed-out page")
    };
    assert!(html.contains("You are signed out"));
    assert!(needs_login(&app, &browser, &client_id).await);
    app.stop().await;
}

#[tokio::test]
async fn unregistered_post_logout_redirect_uris_are_never_followed_rp_initiated_logout_3() {
    let app = spawn_app(Backend::Embedded).await;
    let (browser, client_id, id_token) = signed_in(&app).await;
    for (hint, uri) in [
        (Some(id_token.as_str()), "https://evil.example/"),
        (None, AFTER_LOGOUT), // no client named: nothing to check the URI against
    ] {
        let mut url = url::Url::parse(&app.url("/logout")).unwrap();
        if let Some(hint) = hint {
            url.query_pairs_mut().append_pair("id_token_hint", hint);
        }
        url.query_pairs_mut().append_pair("post_logout_redirect_uri", uri);
        let response = app.http.get(url.as_str()).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert!(response.headers().get("location").is_none());
    }
    let discovery: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    assert_eq!(discovery["end_session_endpoint"], app.url("/logout"));
    assert!(!needs_login(&app, &browser, &client_id).await, "a refused request signs nobody out");
    app.stop().await;
}

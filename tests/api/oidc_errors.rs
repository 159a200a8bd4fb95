//! Error paths of the authorization and token endpoints, each with the section it follows.

use ferrid::oauth::ClientType;
use openidconnect::PkceCodeChallenge;
use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

use crate::{
    browser::{Browser, Landing},
    helpers::{Backend, TestApp, spawn_app},
    oidc::{PASSWORD, REDIRECT, create_client, create_user},
};

on_every_backend!(
    concurrent_redemptions_of_one_code_yield_exactly_one_token_response,
    concurrent_refreshes_of_one_token_succeed_once
);

fn authorize_url(app: &TestApp, client_id: &str, extra: &[(&str, &str)]) -> (String, String) {
    crate::oidc::authorize_url(app, client_id, "openid email offline_access", extra)
}

/// A signed-in user, a confidential client, and a fresh code for it.
async fn code_for(app: &TestApp) -> (String, String, String, String) {
    create_user(app, "ann@example.com").await;
    let (client_id, secret) = create_client(app, ClientType::Confidential).await;
    let (url, verifier) = authorize_url(app, &client_id, &[]);
    let landing = Browser::new(&app.address).sign_in(&url, "ann@example.com", PASSWORD).await;
    (client_id, secret.unwrap(), landing.code(), verifier)
}

async fn token(
    app: &TestApp,
    client: (&str, &str),
    form: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let response =
        app.http.post(app.url("/token")).basic_auth(client.0, Some(client.1)).form(form).send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

#[tokio::test]
async fn unknown_clients_and_unregistered_redirect_uris_get_a_page_never_a_redirect_rfc_6749_4_1_2_1() {
    let app = spawn_app(Backend::Embedded).await;
    let (client_id, _) = create_client(&app, ClientType::Confidential).await;
    let browser = Browser::new(&app.address);

    let (url, _) = authorize_url(&app, "no-such-client", &[]);
    let Landing::Page { status, html } = browser.follow(url).await else { panic!("redirected for an unknown client") };
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("invalid_client"));

    // RFC 9700 §4.1.3: exact string matching; near misses must not redirect.
    for near_miss in [
        "http://127.0.0.1:9/callback/",
        "http://127.0.0.1:10/callback",
        "http://127.0.0.1:9/callback?x=1",
        "http://127.0.0.1:9/Callback",
        "https://evil.example/callback",
    ] {
        let url = authorize_url(&app, &client_id, &[]).0.replace(&urlencode(REDIRECT), &urlencode(near_miss));
        let response = app.http.get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{near_miss}");
        assert!(response.headers().get("location").is_none(), "{near_miss} was redirected to");
    }
    app.stop().await;
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn later_errors_return_to_the_client_with_state_and_iss_rfc_9207() {
    let app = spawn_app(Backend::Embedded).await;
    let (public_id, _) = create_client(&app, ClientType::Public).await;
    // A public client must use PKCE (RFC 9700 §2.1.1).
    let mut url = Url::parse(&authorize_url(&app, &public_id, &[]).0).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let landing = Browser::new(&app.address).follow(url.to_string()).await;
    assert_eq!(landing.param("error").as_deref(), Some("invalid_request"), "{landing:?}");
    assert_eq!(landing.param("state").as_deref(), Some("xyz"));
    assert_eq!(landing.param("iss").as_deref(), Some(app.address.as_str()));

    // OIDC Core §3.1.2.6: prompt=none without a session.
    let (url, _) = authorize_url(&app, &public_id, &[("prompt", "none")]);
    let landing = Browser::new(&app.address).follow(url).await;
    assert_eq!(landing.param("error").as_deref(), Some("login_required"));

    // RFC 6749 §4.1.2.1: unsupported response types.
    let url = authorize_url(&app, &public_id, &[]).0.replace("response_type=code", "response_type=token");
    let landing = Browser::new(&app.address).follow(url).await;
    assert_eq!(landing.param("error").as_deref(), Some("unsupported_response_type"));
    app.stop().await;
}

#[tokio::test]
async fn denying_consent_returns_access_denied_and_wrong_passwords_stay_on_the_page() {
    let app = spawn_app(Backend::Embedded).await;
    create_user(&app, "ann@example.com").await;
    let (client_id, _) = create_client(&app, ClientType::Confidential).await;
    let browser = Browser::new(&app.address);
    let (url, _) = authorize_url(&app, &client_id, &[]);
    let Landing::Page { html, .. } = browser.follow(url).await else { panic!("expected the login page") };
    let (request, csrf) = (crate::browser::hidden(&html, "request"), crate::browser::hidden(&html, "csrf"));

    // DESIGN §7.2: the same words for an unknown email and a wrong password.
    for email in ["ann@example.com", "nobody@example.com"] {
        let landing = browser
            .submit("/login", &[("request", &request), ("csrf", &csrf), ("email", email), ("password", "wrong")])
            .await;
        let Landing::Page { status, html } = landing else { panic!("left the login page") };
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(html.contains("Wrong email or password."));
    }
    // A form without the CSRF token is refused.
    let landing = browser
        .submit(
            "/login",
            &[("request", &request), ("csrf", "forged"), ("email", "ann@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert!(matches!(landing, Landing::Page { status: StatusCode::FORBIDDEN, .. }), "{landing:?}");

    let landing = browser
        .submit(
            "/login",
            &[("request", &request), ("csrf", &csrf), ("email", "ann@example.com"), ("password", PASSWORD)],
        )
        .await;
    let Landing::Page { html, .. } = landing else { panic!("expected the consent page") };
    let csrf = crate::browser::hidden(&html, "csrf");
    let landing = browser.submit("/consent", &[("request", &request), ("csrf", &csrf), ("decision", "deny")]).await;
    assert_eq!(landing.param("error").as_deref(), Some("access_denied"), "{landing:?}");
    assert_eq!(landing.param("state").as_deref(), Some("xyz"));
    app.stop().await;
}

#[tokio::test]
async fn token_endpoint_errors_follow_rfc_6749_5_2() {
    let app = spawn_app(Backend::Embedded).await;
    let (client_id, secret, code, verifier) = code_for(&app).await;
    let client = (client_id.as_str(), secret.as_str());

    // invalid_client: 401 with WWW-Authenticate, the same answer for an unknown client.
    for credentials in [(client_id.as_str(), "wrong"), ("unknown", "wrong")] {
        let (status, headers, body) =
            token(&app, credentials, &[("grant_type", "authorization_code"), ("code", &code)]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(headers.contains_key("www-authenticate"));
        assert_eq!(body["error"], "invalid_client");
    }

    let (status, headers, body) = token(&app, client, &[("grant_type", "password")]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unsupported_grant_type")));
    assert_eq!(headers["cache-control"], "no-store");

    // RFC 7636 §4.6: a wrong verifier fails — and consumes the code.
    let wrong = PkceCodeChallenge::new_random_sha256().1;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", wrong.secret().as_str()),
    ];
    let (status, _, body) = token(&app, client, &form).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &verifier),
    ];
    let (_, _, body) = token(&app, client, &form).await;
    assert_eq!(body["error"], "invalid_grant", "a code is single use");
    app.stop().await;
}

#[tokio::test]
async fn a_replayed_code_revokes_the_tokens_of_its_first_use_rfc_6749_4_1_2() {
    let app = spawn_app(Backend::Embedded).await;
    let (client_id, secret, code, verifier) = code_for(&app).await;
    let client = (client_id.as_str(), secret.as_str());
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &verifier),
    ];
    let (status, headers, first) = token(&app, client, &form).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(first["token_type"], "Bearer");

    let (status, _, body) = token(&app, client, &form).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));

    // The access token from the first redemption no longer works at userinfo (RFC 6750 §3.1)…
    let userinfo =
        app.http.get(app.url("/userinfo")).bearer_auth(first["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);
    assert!(userinfo.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    // …and neither does its refresh token.
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", first["refresh_token"].as_str().unwrap())];
    let (_, _, body) = token(&app, client, &refresh).await;
    assert_eq!(body["error"], "invalid_grant");
    app.stop().await;
}

#[tokio::test]
async fn userinfo_requires_a_valid_bearer_token_rfc_6750_3_1() {
    let app = spawn_app(Backend::Embedded).await;
    let response = app.get("/userinfo").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"ferrid\"");
    let response = app.http.get(app.url("/userinfo")).bearer_auth("not.a.token").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers()["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
    app.stop().await;
}

async fn concurrent_redemptions_of_one_code_yield_exactly_one_token_response(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client_id, secret, code, verifier) = code_for(&app).await;
    let requests = (0..20).map(|_| {
        let http = app.http.clone();
        let url = app.url("/token");
        let form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.clone()),
            ("redirect_uri", REDIRECT.to_owned()),
            ("code_verifier", verifier.clone()),
        ];
        let (id, secret) = (client_id.clone(), secret.clone());
        async move { http.post(url).basic_auth(id, Some(secret)).form(&form).send().await.unwrap().status() }
    });
    let statuses = futures::future::join_all(requests).await;
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::BAD_REQUEST));
    app.stop().await;
}

async fn concurrent_refreshes_of_one_token_succeed_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client_id, secret, code, verifier) = code_for(&app).await;
    let client = (client_id.as_str(), secret.as_str());
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &verifier),
    ];
    let (_, _, tokens) = token(&app, client, &form).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let requests = (0..20).map(|_| {
        let http = app.http.clone();
        let url = app.url("/token");
        let form = vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token.as_str())];
        let (id, secret) = (client_id.clone(), secret.clone());
        let form: Vec<(String, String)> = form.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        async move {
            let response = http.post(url).basic_auth(id, Some(secret)).form(&form).send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    });
    let results = futures::future::join_all(requests).await;
    let winners: Vec<&Value> = results.iter().filter(|(s, _)| *s == StatusCode::OK).map(|(_, b)| b).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    // The losers reused a rotated token: RFC 9700 §4.14.2 revokes the family, winner included.
    let newest = winners[0]["refresh_token"].as_str().unwrap();
    let (_, _, body) = token(&app, client, &[("grant_type", "refresh_token"), ("refresh_token", newest)]).await;
    assert_eq!(body["error"], "invalid_grant", "the family is consistent: reuse killed it");
    // RFC 7009 §2.1: so are the access tokens minted from it, the winner's included.
    let winner_access = winners[0]["access_token"].as_str().unwrap();
    let userinfo = app.http.get(app.url("/userinfo")).bearer_auth(winner_access).send().await.unwrap();
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

//! /swagger and its built-in public client `ferrid-swagger`: the page presets the client with
//! PKCE and holds no secret; the client's issuer-relative redirect URI (stored by a migration)
//! is resolved against the issuer and then matched exactly (RFC 9700 §4.1.3); PKCE stays
//! required (RFC 9700 §2.1.1).

use openidconnect::PkceCodeChallenge;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::{
    browser::{Browser, Landing, hidden},
    helpers::{Backend, TestApp, spawn_app},
    oidc::{PASSWORD, create_user},
};

on_every_backend!(
    the_swagger_client_signs_in_at_its_issuer_relative_redirect_uri_rfc_9700_4_1_3,
    the_swagger_client_still_demands_pkce_and_exact_redirect_uris,
);

const CLIENT_ID: &str = "ferrid-swagger";
const RECEIVER: &str = "/swagger/oauth-receiver.html";

fn authorize(app: &TestApp, redirect_uri: &str, challenge: Option<&PkceCodeChallenge>) -> String {
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid ferrid:admin")
        .append_pair("state", "xyz");
    if let Some(challenge) = challenge {
        url.query_pairs_mut()
            .append_pair("code_challenge", challenge.as_str())
            .append_pair("code_challenge_method", "S256");
    }
    url.to_string()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()[header::LOCATION].to_str().unwrap().to_owned()
}

/// Signs in and consents, stopping at the first redirect to the Swagger receiver (which
/// `Browser::follow` would load, as it is on ferrid's own origin).
async fn code_at_receiver(app: &TestApp, browser: &Browser, url: String) -> url::Url {
    let receiver = app.url(RECEIVER);
    let Landing::Page { html, .. } = browser.follow(url).await else { panic!("expected the login page") };
    let form = [("request", hidden(&html, "request")), ("csrf", hidden(&html, "csrf"))];
    let mut response = browser
        .http
        .post(app.url("/login"))
        .form(&[
            ("request", form[0].1.as_str()),
            ("csrf", &form[1].1),
            ("email", "root@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    for _ in 0..10 {
        if response.status().is_redirection() {
            let next = location(&response);
            if next.starts_with(&receiver) {
                return url::Url::parse(&next).unwrap();
            }
            let next = if next.starts_with('/') { app.url(&next) } else { next };
            response = browser.http.get(next).send().await.unwrap();
            continue;
        }
        let html = response.text().await.unwrap();
        assert!(html.contains("action=\"/consent\""), "expected the consent page:\n{html}");
        let (request, csrf) = (hidden(&html, "request"), hidden(&html, "csrf"));
        response = browser
            .http
            .post(app.url("/consent"))
            .form(&[("request", request.as_str()), ("csrf", &csrf), ("decision", "allow")])
            .send()
            .await
            .unwrap();
    }
    panic!("never redirected to {receiver}");
}

async fn the_swagger_client_signs_in_at_its_issuer_relative_redirect_uri_rfc_9700_4_1_3(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "root@example.com").await;
    let receiver = app.url(RECEIVER);
    let client = app.state.clients.find(&ferrid::oauth::ClientId::parse(CLIENT_ID).unwrap()).await.unwrap();
    let uris: Vec<&str> = client.metadata.redirect_uris.iter().map(|uri| uri.as_str()).collect();
    assert_eq!(uris, [receiver.as_str()], "resolved against the issuer");

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let browser = Browser::new(&app.address);
    let landed = code_at_receiver(&app, &browser, authorize(&app, &receiver, Some(&challenge))).await;
    let code = landed.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", CLIENT_ID),
        ("code", code.as_str()),
        ("redirect_uri", receiver.as_str()),
        ("code_verifier", verifier.secret().as_str()),
    ];
    let response = app.http.post(app.url("/token")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    // root holds no admin role: RFC 6749 §3.3 lets the server grant less than asked.
    assert_eq!(tokens["scope"], "openid");
    assert!(tokens["refresh_token"].is_null(), "the Swagger client has no refresh_token grant");

    // Writing the client back (as an update does) keeps the stored form issuer-relative.
    let (updated, secret) = app.state.clients.update(&client, client.metadata.clone()).await.unwrap();
    assert!(secret.is_none(), "a public client gets no secret");
    assert_eq!(updated.metadata.redirect_uris[0].stored_form(), RECEIVER);
    let reloaded = app.state.clients.find(&updated.id).await.unwrap();
    assert_eq!(reloaded.metadata.redirect_uris[0].as_str(), receiver);
}

async fn the_swagger_client_still_demands_pkce_and_exact_redirect_uris(backend: Backend) {
    let app = spawn_app(backend).await;
    let receiver = app.url(RECEIVER);
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();

    // RFC 6749 §4.1.2.1: an unregistered redirect URI gets an error page, never a redirect —
    // the stored relative form, another host for the same path, a prefix of the real one.
    let other_host = receiver.replace("127.0.0.1", "localhost");
    for wrong in [RECEIVER, other_host.as_str(), "http://127.0.0.1/swagger/oauth-receiver.html"] {
        let response = app.http.get(authorize(&app, wrong, Some(&challenge))).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{wrong} accepted");
        assert!(response.headers().get(header::LOCATION).is_none());
    }

    // RFC 9700 §2.1.1: without a code_challenge the request fails, at the registered URI.
    let response = app.http.get(authorize(&app, &receiver, None)).send().await.unwrap();
    assert!(response.status().is_redirection());
    let error = url::Url::parse(&location(&response)).unwrap();
    assert!(error.as_str().starts_with(&receiver));
    assert_eq!(error.query_pairs().find(|(k, _)| k == "error").unwrap().1, "invalid_request");

    // RFC 7591 §2: dynamic registration keeps refusing what only a migration may store.
    let response = app
        .http
        .post(app.url("/register"))
        .json(&json!({"redirect_uris": [RECEIVER], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_redirect_uri");
}

/// DESIGN §1: a developer clicks Authorize on /swagger; the page presets the public client with
/// PKCE, loads everything from ferrid itself, and carries no secret.
#[tokio::test]
async fn the_swagger_page_presets_the_public_client_with_pkce() {
    let app = spawn_app(Backend::Embedded).await;
    let page = app.get("/swagger").await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains(&app.url("/swagger/ferrid-swagger.js")), "{html}");
    assert!(!html.contains("<script>"), "no inline script");

    let init = app.get("/swagger/ferrid-swagger.js").await.text().await.unwrap();
    assert!(init.contains("\"clientId\":\"ferrid-swagger\""));
    assert!(init.contains("\"usePkceWithAuthorizationCodeGrant\":true"));
    assert!(init.contains(&format!("\"{}\"", app.url(RECEIVER))));
    assert!(!init.to_lowercase().contains("clientsecret"));

    for asset in ["/swagger/swagger-ui-bundle.js", "/swagger/swagger-ui.css", RECEIVER] {
        let response = app.get(asset).await;
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff", "{asset}");
    }
}

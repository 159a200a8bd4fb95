//! The signed-in user's sessions and applications, and "log out everywhere".

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ferrid::{clock::FixedClock, oauth::ClientType};
use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    browser::{Browser, Landing},
    helpers::{Backend, TestApp, TestResources, spawn_app, start_app},
    oidc::{PASSWORD, REDIRECT, authorize_url, create_client, create_user},
};

on_every_backend!(
    log_out_everywhere_ends_every_session_and_grant_of_that_user_only,
    the_lists_show_when_where_and_how_each_sign_in_was_used
);

/// Signs `email` in with a fresh browser and redeems a code with offline_access.
async fn sign_in(app: &TestApp, client: &(String, Option<String>), email: &str) -> (Browser, Value) {
    let browser = Browser::new(&app.address);
    let (url, verifier) = authorize_url(app, &client.0, "openid offline_access", &[]);
    let code = browser.sign_in(&url, email, PASSWORD).await.code();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &verifier),
    ];
    let tokens = app
        .http
        .post(app.url("/token"))
        .basic_auth(&client.0, client.1.as_deref())
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (browser, tokens)
}

async fn still_signed_in(app: &TestApp, browser: &Browser, client_id: &str) -> bool {
    let (url, _) = authorize_url(app, client_id, "openid offline_access", &[]);
    matches!(browser.follow(url).await, Landing::Redirect { .. })
}

async fn tokens_work(app: &TestApp, client: &(String, Option<String>), tokens: &Value) -> (bool, bool) {
    let userinfo =
        app.http.get(app.url("/userinfo")).bearer_auth(tokens["access_token"].as_str().unwrap()).send().await.unwrap();
    let refresh = app
        .http
        .post(app.url("/token"))
        .basic_auth(&client.0, client.1.as_deref())
        .form(&[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    (userinfo.status() == StatusCode::OK, refresh.status() == StatusCode::OK)
}

async fn log_out_everywhere_ends_every_session_and_grant_of_that_user_only(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "ann@example.com").await;
    create_user(&app, "bo@example.com").await;
    let client = create_client(&app, ClientType::Confidential).await;
    let (laptop, laptop_tokens) = sign_in(&app, &client, "ann@example.com").await;
    let (phone, _) = sign_in(&app, &client, "ann@example.com").await;
    let (bo, bo_tokens) = sign_in(&app, &client, "bo@example.com").await;

    let listed: Value = laptop.http.get(app.url("/api/me/sessions")).send().await.unwrap().json().await.unwrap();
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{listed}");
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert_eq!(listed["applications"].as_array().unwrap().len(), 2);

    // End the phone's session from the laptop.
    let phone_sid = sessions.iter().find(|s| s["current"] == false).unwrap()["sid"].as_str().unwrap().to_owned();
    let ended = laptop.http.delete(app.url(&format!("/api/me/sessions/{phone_sid}"))).send().await.unwrap();
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    assert!(!still_signed_in(&app, &phone, &client.0).await);
    // The history keeps the ended sign-in; the session list does not.
    let listed_now: Value = laptop.http.get(app.url("/api/me/sessions")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed_now["sessions"].as_array().unwrap().len(), 1);
    let statuses: Vec<&str> =
        listed_now["recent_sign_ins"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "ended").count(), 1, "{listed_now}");
    assert_eq!(statuses.iter().filter(|s| **s == "active").count(), 1, "{listed_now}");
    // Another user's session is not found, whatever its sid.
    let bo_sid = {
        let listed: Value = bo.http.get(app.url("/api/me/sessions")).send().await.unwrap().json().await.unwrap();
        listed["sessions"][0]["sid"].as_str().unwrap().to_owned()
    };
    let foreign = laptop.http.delete(app.url(&format!("/api/me/sessions/{bo_sid}"))).send().await.unwrap();
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);

    // Revoke one application grant; one is left.
    let grant = listed["applications"][0]["id"].as_str().unwrap().to_owned();
    let revoked = laptop.http.delete(app.url(&format!("/api/me/applications/{grant}"))).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let again = laptop.http.delete(app.url(&format!("/api/me/applications/{grant}"))).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    let response = laptop.http.post(app.url("/api/me/logout-all")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let done: Value = response.json().await.unwrap();
    assert_eq!(done["applications_revoked"], 1);
    assert!(!still_signed_in(&app, &laptop, &client.0).await);
    assert_eq!(tokens_work(&app, &client, &laptop_tokens).await, (false, false), "access and refresh tokens are dead");
    assert_eq!(laptop.http.get(app.url("/api/me/sessions")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    // Nobody else was signed out.
    assert!(still_signed_in(&app, &bo, &client.0).await);
    assert_eq!(tokens_work(&app, &client, &bo_tokens).await, (true, true));
    app.stop().await;
}

#[tokio::test]
async fn the_account_api_needs_a_session() {
    let app = spawn_app(Backend::Embedded).await;
    for (method, path) in [
        ("GET", "/api/me/sessions"),
        ("POST", "/api/me/logout-all"),
        ("DELETE", "/api/me/sessions/x"),
        ("DELETE", "/api/me/applications/x"),
    ] {
        let response = app.http.request(method.parse().unwrap(), app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "unauthorized");
    }
    app.stop().await;
}

#[allow(clippy::disallowed_methods)] // the fixed clock starts at real time, so JWTs verify
fn real_now() -> DateTime<Utc> {
    Utc::now()
}

fn instant(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

async fn the_lists_show_when_where_and_how_each_sign_in_was_used(backend: Backend) {
    let clock = FixedClock::at(real_now());
    let app = start_app(TestResources::create(backend).await, &[], Arc::new(clock.clone())).await.unwrap();
    create_user(&app, "ann@example.com").await;
    let client = create_client(&app, ClientType::Confidential).await;
    let (browser, tokens) = sign_in(&app, &client, "ann@example.com").await;
    let listed: Value = browser.http.get(app.url("/api/me/sessions")).send().await.unwrap().json().await.unwrap();
    let session = &listed["sessions"][0];
    assert_eq!(session["amr"], serde_json::json!(["pwd"]), "the login method (RFC 8176)");
    assert_eq!(session["ip"], "127.0.0.1");
    assert_eq!(instant(&session["last_seen_at"]), instant(&session["created_at"]));

    // Ten minutes later the browser comes back for SSO, and the app refreshes from elsewhere.
    clock.advance(chrono::Duration::minutes(10));
    assert!(still_signed_in(&app, &browser, &client.0).await);
    let refreshed = app
        .http
        .post(app.url("/token"))
        .basic_auth(&client.0, client.1.as_deref())
        .header("User-Agent", "billing-worker/2.1")
        .form(&[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), StatusCode::OK);

    let listed: Value = browser.http.get(app.url("/api/me/sessions")).send().await.unwrap().json().await.unwrap();
    let session = &listed["sessions"][0];
    let created = instant(&session["created_at"]);
    assert_eq!(instant(&session["last_seen_at"]) - created, chrono::Duration::minutes(10));
    let application = &listed["applications"][0];
    assert_eq!(listed["applications"].as_array().unwrap().len(), 1, "one family, not one row per token");
    assert_eq!(application["client_id"], client.0.as_str());
    assert_eq!(instant(&application["created_at"]), created, "the family began at the sign-in");
    assert_eq!(instant(&application["last_used_at"]) - created, chrono::Duration::minutes(10));
    assert_eq!(application["user_agent"], "billing-worker/2.1");
    assert_eq!(application["ip"], "127.0.0.1");
    assert_eq!(application["amr"], serde_json::json!(["pwd"]));
    app.stop().await;
}

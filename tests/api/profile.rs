//! The user's own account API (issue 7 item 4), with a token from the first-party login API:
//! the profile with roles, groups and permissions, edits within the fields' limits, a change of
//! address that needs the code mailed to the new one, and a change of password that signs out
//! every other session but keeps the current one.

use ferrid::accounts::{Email, GroupName, PermissionName, RoleName};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    accounts::{
        PASSWORD, api_login, mailed_code, mailed_link, post_json, refresh_cookie, register_verified, start_with_mail,
    },
    browser::{Browser, Landing, hidden},
    helpers::{Backend, TestApp},
};

on_every_backend!(
    the_profile_shows_roles_and_group_permissions_and_takes_edits,
    a_new_address_counts_only_once_its_code_is_confirmed,
    a_password_change_signs_out_every_other_session_but_this_one,
    the_link_mailed_to_a_new_address_works_without_javascript,
);

const NEW_PASSWORD: &str = "a brand new passphrase 42";

async fn me(app: &TestApp, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> reqwest::Response {
    let mut request = app.http.request(method.parse().unwrap(), app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

fn token(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

async fn the_profile_shows_roles_and_group_permissions_and_takes_edits(backend: Backend) {
    let (app, sink) = start_with_mail(backend, &[]).await;
    register_verified(&app, &sink, "ann@example.com").await;
    let ann = app.state.accounts.find_by_email(&Email::parse("ann@example.com").unwrap()).await.unwrap();
    let access = &app.state.access_control;
    access.create_role(&RoleName::parse("editor").unwrap(), None).await.unwrap();
    access.create_group(&GroupName::parse("billing").unwrap(), None).await.unwrap();
    access.create_group(&GroupName::parse("empty").unwrap(), None).await.unwrap();
    access.create_permission(&PermissionName::parse("invoices:read").unwrap(), None).await.unwrap();
    access
        .grant_permission(&GroupName::parse("billing").unwrap(), &PermissionName::parse("invoices:read").unwrap())
        .await
        .unwrap();
    access.assign_role(ann.id, &RoleName::parse("editor").unwrap()).await.unwrap();
    access.add_to_group(ann.id, &GroupName::parse("billing").unwrap()).await.unwrap();
    access.add_to_group(ann.id, &GroupName::parse("empty").unwrap()).await.unwrap();
    let (tokens, _) = api_login(&app, "ann@example.com", PASSWORD).await;

    // RFC 6750 §3.1: no token, no profile.
    assert_eq!(me(&app, "GET", "/api/users/me", None, None).await.status(), StatusCode::UNAUTHORIZED);
    let response = me(&app, "GET", "/api/users/me", Some(token(&tokens)), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let profile: Value = response.json().await.unwrap();
    assert_eq!(profile["id"], ann.id.to_string());
    assert!(uuid::Uuid::parse_str(profile["id"].as_str().unwrap()).is_ok());
    assert_eq!(profile["email"], "ann@example.com");
    assert_eq!(profile["email_verified"], true);
    assert_eq!(profile["roles"], json!(["editor"]));
    assert_eq!(
        profile["groups"],
        json!([{ "name": "billing", "permissions": ["invoices:read"] }, { "name": "empty", "permissions": [] }])
    );

    let edit = json!({ "name": "Ann Lee", "phone": "+1 555 010 0000", "picture": "https://cdn.example.com/a.png", "locale": "en-GB" });
    let response = me(&app, "PATCH", "/api/users/me", Some(token(&tokens)), Some(edit)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let profile: Value = response.json().await.unwrap();
    assert_eq!(
        (&profile["name"], &profile["phone"], &profile["picture"], &profile["locale"]),
        (&json!("Ann Lee"), &json!("+1 555 010 0000"), &json!("https://cdn.example.com/a.png"), &json!("en-GB"))
    );
    // null clears a field; an absent one stays.
    let response = me(&app, "PATCH", "/api/users/me", Some(token(&tokens)), Some(json!({ "phone": null }))).await;
    let profile: Value = response.json().await.unwrap();
    assert_eq!((&profile["phone"], &profile["name"]), (&Value::Null, &json!("Ann Lee")));

    for bad in [
        json!({ "picture": "http://cdn.example.com/a.png" }),
        json!({ "picture": "javascript:alert(1)" }),
        json!({ "locale": "en_US" }),
        json!({ "name": "x".repeat(201) }),
        json!({ "phone": "call me" }),
    ] {
        let response = me(&app, "PATCH", "/api/users/me", Some(token(&tokens)), Some(bad.clone())).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_request", "{bad}");
    }
    app.stop().await;
}

async fn a_new_address_counts_only_once_its_code_is_confirmed(backend: Backend) {
    let (app, sink) = start_with_mail(backend, &[]).await;
    register_verified(&app, &sink, "ann@example.com").await;
    register_verified(&app, &sink, "bob@example.com").await;
    let (tokens, _) = api_login(&app, "ann@example.com", PASSWORD).await;
    let change = |email: &str, password: &str| json!({ "new_email": email, "current_password": password });
    let mailed = sink.messages().len();

    let response = me(
        &app,
        "POST",
        "/api/users/me/email",
        Some(token(&tokens)),
        Some(change("ann@example.org", "wrong password 1")),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "wrong_password");

    // Another account's address: the same answer, and nothing is sent (DESIGN §7.2).
    let taken =
        me(&app, "POST", "/api/users/me/email", Some(token(&tokens)), Some(change("Bob@example.com", PASSWORD))).await;
    let (taken_status, taken_body) = (taken.status(), taken.text().await.unwrap());
    let free =
        me(&app, "POST", "/api/users/me/email", Some(token(&tokens)), Some(change("ann@example.org", PASSWORD))).await;
    assert_eq!(free.status(), StatusCode::ACCEPTED);
    assert_eq!((taken_status, taken_body), (free.status(), free.text().await.unwrap()));
    let messages = sink.wait_for(mailed + 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(sink.messages().len(), mailed + 1, "nothing to bob's address");
    let mail = messages.last().unwrap();
    assert_eq!(mail.rcpt_to, ["<ann@example.org>"]);

    // Until the code is confirmed, the address stays.
    let profile: Value = me(&app, "GET", "/api/users/me", Some(token(&tokens)), None).await.json().await.unwrap();
    assert_eq!(profile["email"], "ann@example.com");
    let wrong =
        me(&app, "POST", "/api/users/me/email/verify", Some(token(&tokens)), Some(json!({ "code": "000000" }))).await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    assert_eq!(wrong.json::<Value>().await.unwrap()["error"], "invalid_code");

    let code = mailed_code(mail);
    let response =
        me(&app, "POST", "/api/users/me/email/verify", Some(token(&tokens)), Some(json!({ "code": code }))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let profile: Value = response.json().await.unwrap();
    assert_eq!((&profile["email"], &profile["email_verified"]), (&json!("ann@example.org"), &json!(true)));
    // Single use (DESIGN §7.1).
    let again =
        me(&app, "POST", "/api/users/me/email/verify", Some(token(&tokens)), Some(json!({ "code": code }))).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    api_login(&app, "ann@example.org", PASSWORD).await;
    let old =
        post_json(&app, "/api/auth/login", &json!({ "email": "ann@example.com", "password": PASSWORD }), None).await;
    assert!(!old.status().is_success());
    app.stop().await;
}

async fn a_password_change_signs_out_every_other_session_but_this_one(backend: Backend) {
    let (app, sink) = start_with_mail(backend, &[]).await;
    register_verified(&app, &sink, "ann@example.com").await;
    let (here, here_cookie) = api_login(&app, "ann@example.com", PASSWORD).await;
    let (elsewhere, elsewhere_cookie) = api_login(&app, "ann@example.com", PASSWORD).await;
    let mailed = sink.messages().len();
    let change = |current: &str, new: &str| json!({ "current_password": current, "new_password": new });

    let response =
        me(&app, "POST", "/api/users/me/password", Some(token(&here)), Some(change("wrong password 1", NEW_PASSWORD)))
            .await;
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "wrong_password");
    let response =
        me(&app, "POST", "/api/users/me/password", Some(token(&here)), Some(change(PASSWORD, "short"))).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "weak_password");

    let response =
        me(&app, "POST", "/api/users/me/password", Some(token(&here)), Some(change(PASSWORD, NEW_PASSWORD))).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // The other session is over: its refresh cookie and its access token.
    let refreshed = post_json(&app, "/api/auth/refresh", &json!({}), Some(&elsewhere_cookie)).await;
    assert!(!refreshed.status().is_success(), "{}", refreshed.status());
    let response = me(&app, "GET", "/api/users/me", Some(token(&elsewhere)), None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // This one carries on: its refresh cookie still rotates, and the new token works.
    let refreshed = post_json(&app, "/api/auth/refresh", &json!({}), Some(&here_cookie)).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let (rotated, _) = refresh_cookie(&refreshed);
    assert_ne!(rotated, here_cookie);
    let tokens: Value = refreshed.json().await.unwrap();
    assert_eq!(me(&app, "GET", "/api/users/me", Some(token(&tokens)), None).await.status(), StatusCode::OK);

    let old =
        post_json(&app, "/api/auth/login", &json!({ "email": "ann@example.com", "password": PASSWORD }), None).await;
    assert!(!old.status().is_success());
    api_login(&app, "ann@example.com", NEW_PASSWORD).await;
    let messages = sink.wait_for(mailed + 1).await;
    assert!(messages[mailed].decoded().contains("Subject: Your ferrid password was changed"));
    app.stop().await;
}

async fn the_link_mailed_to_a_new_address_works_without_javascript(backend: Backend) {
    let (app, sink) = start_with_mail(backend, &[]).await;
    register_verified(&app, &sink, "ann@example.com").await;
    let (tokens, _) = api_login(&app, "ann@example.com", PASSWORD).await;
    let mailed = sink.messages().len();
    let change = json!({ "new_email": "ann@example.org", "current_password": PASSWORD });
    let response = me(&app, "POST", "/api/users/me/email", Some(token(&tokens)), Some(change)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let mail = sink.wait_for(mailed + 1).await.pop().unwrap();
    let link = mailed_link(&mail, &app.url("/account/email/confirm?token="));

    // Following the link only shows a button (a mail scanner fetching it changes nothing).
    let browser = Browser::new(&app.address);
    let Landing::Page { status, html } = browser.follow(link).await else { panic!("no page") };
    assert_eq!(status, StatusCode::OK);
    let profile: Value = me(&app, "GET", "/api/users/me", Some(token(&tokens)), None).await.json().await.unwrap();
    assert_eq!(profile["email"], "ann@example.com");

    let fields = [("token", hidden(&html, "token")), ("csrf", hidden(&html, "csrf"))];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let Landing::Page { status, html } = browser.submit("/account/email/confirm", &fields).await else { panic!() };
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("ann@example.org"), "{html}");
    let profile: Value = me(&app, "GET", "/api/users/me", Some(token(&tokens)), None).await.json().await.unwrap();
    assert_eq!((&profile["email"], &profile["email_verified"]), (&json!("ann@example.org"), &json!(true)));

    // The link works once.
    let Landing::Page { status, .. } = browser.submit("/account/email/confirm", &fields).await else { panic!() };
    assert_eq!(status, StatusCode::BAD_REQUEST);
    app.stop().await;
}

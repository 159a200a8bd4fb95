//! The audit trail of issue 8 item 5, read back through `GET /api/admin/audit`: sign-ins on the
//! login page and the login API (success, and failure with the reason the caller is not told),
//! token issuance per grant, RFC 7009 revocation, refresh token reuse (RFC 9700 §4.14.2) and
//! RP-Initiated Logout — each with time, actor, subject, client, IP, user agent and outcome, and
//! never a secret.

use ferrid::{
    accounts::{Email, NewUser, Password},
    audit::kinds,
    oauth::{ClientType, GrantType},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    accounts::post_json,
    admin_sessions::{refresh, register, service_token, sign_in, user_id},
    admin_users::audited,
    browser::{Browser, Landing, hidden},
    helpers::{Backend, TestApp, spawn_app},
    oidc::{PASSWORD, authorize_url, create_client, create_user},
};

on_every_backend!(
    sign_ins_on_the_login_page_are_recorded_with_the_reason,
    sign_ins_through_the_login_api_are_recorded_with_the_reason,
    token_issuance_revocation_reuse_and_logout_are_recorded,
);

/// Asserts the fields every record carries and that no secret appears in it.
fn assert_well_formed(record: &Value, secrets: &[&str]) {
    assert!(record["occurred_at"].is_string(), "{record}");
    assert!(record["outcome"] == "success" || record["outcome"] == "failure", "{record}");
    assert_eq!(record["ip"], "127.0.0.1", "{record}");
    let text = record.to_string();
    for secret in secrets {
        assert!(!text.contains(secret), "a secret leaked into {record}");
    }
}

/// The sign-in records (`auth.login`) of `user`, newest first.
async fn sign_ins(app: &TestApp, admin: &str, user: Option<&str>) -> Vec<Value> {
    audited(app, admin, kinds::AUTH_LOGIN, user).await
}

async fn submit_login_page(app: &TestApp, client_id: &str, email: &str, password: &str) -> Landing {
    let browser = Browser::new(&app.address);
    let (url, _) = authorize_url(app, client_id, "openid", &[]);
    let Landing::Page { html, .. } = browser.follow(url).await else { panic!("no login page") };
    let (request, csrf) = (hidden(&html, "request"), hidden(&html, "csrf"));
    browser.submit("/login", &[("request", &request), ("csrf", &csrf), ("email", email), ("password", password)]).await
}

async fn sign_ins_on_the_login_page_are_recorded_with_the_reason(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = service_token(&app).await;
    create_user(&app, "ann@example.com").await;
    let ann = user_id(&app, "ann@example.com").await;
    let (client_id, _) = create_client(&app, ClientType::Confidential).await;

    let wrong = submit_login_page(&app, &client_id, "ann@example.com", "not the password").await;
    assert!(matches!(wrong, Landing::Page { status: StatusCode::UNAUTHORIZED, .. }));
    let unknown = submit_login_page(&app, &client_id, "nobody@example.com", "whatever it is").await;
    assert!(matches!(unknown, Landing::Page { status: StatusCode::UNAUTHORIZED, .. }));
    let signed_in = submit_login_page(&app, &client_id, "ann@example.com", PASSWORD).await;
    assert!(!matches!(signed_in, Landing::Page { status: StatusCode::UNAUTHORIZED, .. }));
    app.state.accounts.set_disabled(ann.parse().map(ferrid::accounts::UserId).unwrap(), true).await.unwrap();
    let disabled = submit_login_page(&app, &client_id, "ann@example.com", PASSWORD).await;
    assert!(
        matches!(disabled, Landing::Page { status: StatusCode::UNAUTHORIZED, ref html } if html.contains("Wrong email or password")),
        "a disabled account gets the wrong-password answer"
    );

    let records = sign_ins(&app, &admin, None).await;
    let summary: Vec<(&str, &str, &str)> = records
        .iter()
        .map(|r| {
            assert_well_formed(r, &[PASSWORD, "not the password"]);
            assert_eq!(r["client_id"], client_id.as_str(), "{r}");
            assert_eq!(r["details"]["channel"], "login_page", "{r}");
            (
                r["outcome"].as_str().unwrap(),
                r["details"]["reason"].as_str().unwrap_or("-"),
                r["user_id"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("failure", "disabled", ann.as_str()),
            ("success", "-", ann.as_str()),
            ("failure", "unknown_or_wrong_password", "-"),
            ("failure", "unknown_or_wrong_password", ann.as_str()),
        ]
    );
    assert_eq!(records[1]["actor_user_id"], ann.as_str(), "on success the user is the actor");
}

async fn sign_ins_through_the_login_api_are_recorded_with_the_reason(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = service_token(&app).await;
    create_user(&app, "ann@example.com").await;
    let ann = user_id(&app, "ann@example.com").await;
    let unverified = NewUser { email: Email::parse("ben@example.com").unwrap(), name: None };
    let ben = app.state.accounts.create_user_verified(unverified, Some(Password::new(PASSWORD)), false).await.unwrap();

    let login = |email: &'static str, password: &'static str| {
        let app = &app;
        async move { post_json(app, "/api/auth/login", &json!({ "email": email, "password": password }), None).await }
    };
    assert_eq!(login("ann@example.com", "wrong password!").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(login("ben@example.com", PASSWORD).await.status(), StatusCode::FORBIDDEN);
    let ok = login("ann@example.com", PASSWORD).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let body: Value = ok.json().await.unwrap();
    let access_token = body["access_token"].as_str().unwrap().to_owned();

    let records = sign_ins(&app, &admin, None).await;
    let summary: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            assert_well_formed(r, &[PASSWORD, "wrong password!", &access_token]);
            assert_eq!(r["details"]["channel"], "login_api", "{r}");
            assert_eq!(r["client_id"], "ferrid-app", "{r}");
            (r["outcome"].as_str().unwrap(), r["details"]["reason"].as_str().unwrap_or("-"))
        })
        .collect();
    assert_eq!(summary, [("success", "-"), ("failure", "unverified"), ("failure", "unknown_or_wrong_password")]);
    assert_eq!(records[1]["user_id"], ben.id.to_string().as_str());
    assert_eq!(records[2]["user_id"], ann.as_str());

    // The first-party login issues tokens too.
    let issued = audited(&app, &admin, kinds::TOKEN_ISSUE, Some(&ann)).await;
    assert_eq!(issued.len(), 1, "{issued:?}");
    assert_eq!(issued[0]["details"]["grant_type"], "first_party_login");
    assert_well_formed(&issued[0], &[&access_token]);
}

async fn token_issuance_revocation_reuse_and_logout_are_recorded(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = service_token(&app).await;
    create_user(&app, "ann@example.com").await;
    let ann = user_id(&app, "ann@example.com").await;
    let client =
        register(&app, vec![GrantType::AuthorizationCode, GrantType::RefreshToken], &["openid", "offline_access"])
            .await;
    let (browser, tokens) = sign_in(&app, &client, "ann@example.com", "openid offline_access").await;
    let first_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(refresh(&app, &client, &tokens).await.status(), StatusCode::OK);
    // Replaying the spent token revokes the family (RFC 9700 §4.14.2).
    assert_eq!(refresh(&app, &client, &tokens).await.status(), StatusCode::BAD_REQUEST);

    let secrets = [first_refresh.as_str(), tokens["access_token"].as_str().unwrap(), client.1.as_deref().unwrap()];
    let issued = audited(&app, &admin, kinds::TOKEN_ISSUE, Some(&ann)).await;
    let grants: Vec<(&str, &str)> = issued
        .iter()
        .map(|r| {
            assert_well_formed(r, &secrets);
            assert_eq!(r["client_id"], client.0.as_str());
            (r["details"]["grant_type"].as_str().unwrap(), r["outcome"].as_str().unwrap())
        })
        .collect();
    assert_eq!(grants, [("refresh_token", "success"), ("authorization_code", "success")]);
    assert_eq!(issued[1]["details"]["issued"], json!(["access_token", "refresh_token", "id_token"]));
    let reuse = audited(&app, &admin, kinds::TOKEN_REUSE_DETECTED, Some(&ann)).await;
    assert_eq!(reuse.len(), 1);
    assert_well_formed(&reuse[0], &secrets);
    assert_eq!(reuse[0]["client_id"], client.0.as_str());
    // The refused replay is itself a failed issuance, with its error code.
    let failed = audited(&app, &admin, kinds::TOKEN_ISSUE, None).await;
    assert!(failed.iter().any(|r| r["outcome"] == "failure" && r["details"]["error"] == "invalid_grant"));

    // RFC 7009: a client revokes its (new) refresh token; an unknown token is recorded as a failure.
    let (_, tokens) = sign_in(&app, &client, "ann@example.com", "openid offline_access").await;
    let revoke = |token: String| {
        let app = &app;
        let client = &client;
        async move {
            app.http
                .post(app.url("/revoke"))
                .basic_auth(&client.0, client.1.as_deref())
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(revoke(tokens["refresh_token"].as_str().unwrap().to_owned()).await.status(), StatusCode::OK);
    assert_eq!(revoke("no-such-token".to_owned()).await.status(), StatusCode::OK);
    let revocations = audited(&app, &admin, kinds::TOKEN_REVOKE, None).await;
    let outcomes: Vec<(&str, &str)> = revocations
        .iter()
        .map(|r| {
            assert_well_formed(r, &[tokens["refresh_token"].as_str().unwrap(), "no-such-token"]);
            (r["outcome"].as_str().unwrap(), r["details"]["token_type"].as_str().unwrap_or("-"))
        })
        .collect();
    assert_eq!(outcomes, [("failure", "-"), ("success", "refresh_token")]);
    assert_eq!(revocations[1]["user_id"], ann.as_str());

    // A wrong client secret at /token (RFC 6749 §5.2 invalid_client): the claimed client and the
    // method are recorded, never the secret presented.
    let refused = app
        .http
        .post(app.url("/token"))
        .basic_auth(&client.0, Some("not-the-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let failures = audited(&app, &admin, kinds::CLIENT_AUTHENTICATE, None).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_well_formed(&failures[0], &["not-the-secret"]);
    assert_eq!(
        (failures[0]["client_id"].as_str(), failures[0]["outcome"].as_str()),
        (Some(client.0.as_str()), Some("failure"))
    );
    assert_eq!(failures[0]["details"], json!({ "method": "client_secret_basic", "error": "invalid_client" }));

    // RP-Initiated Logout with a confirmation ends the OP session.
    let Landing::Page { html, .. } = browser.follow(app.url("/logout")).await else { panic!("no confirmation") };
    let csrf = hidden(&html, "csrf");
    browser.submit("/logout", &[("csrf", &csrf), ("confirm", "yes")]).await;
    let logouts = audited(&app, &admin, kinds::SESSION_LOGOUT, Some(&ann)).await;
    assert_eq!(logouts.len(), 1, "{logouts:?}");
    assert_eq!(logouts[0]["actor_user_id"], ann.as_str());
}

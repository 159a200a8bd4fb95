//! The admin API's bearer guard (RFC 6750) and an administrator's view of a user's sessions:
//! list, end one, revoke one application, log out everywhere. Admin tokens come from
//! client_credentials for a service client allowed `ferrid:admin`, or from the code flow for a
//! user holding the `admin` role.

use ferrid::{
    accounts::{Email, RoleName},
    oauth::{ClientMetadata, ClientType, GrantType, RedirectUri},
};
use reqwest::{StatusCode, header};
use serde_json::Value;

use crate::{
    browser::{Browser, Landing, hidden},
    helpers::{Backend, TestApp, spawn_app},
    oidc::{PASSWORD, REDIRECT, authorize_url, create_client, create_user},
};

on_every_backend!(
    admin_endpoints_demand_a_ferrid_admin_bearer_token_rfc_6750_3_1,
    a_service_client_manages_one_users_sessions_and_no_one_elses,
    only_users_with_the_admin_role_are_granted_ferrid_admin_rfc_6749_3_3,
);

pub type Client = (String, Option<String>);

/// A confidential client registered for `grant_types` and allowed `scopes`.
pub async fn register(app: &TestApp, grant_types: Vec<GrantType>, scopes: &[&str]) -> Client {
    let mut metadata = ClientMetadata::new("Admin console", ClientType::Confidential);
    if grant_types.contains(&GrantType::AuthorizationCode) {
        metadata.redirect_uris.push(RedirectUri::parse(REDIRECT).unwrap());
    }
    metadata.grant_types = grant_types;
    metadata.allowed_scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
    let (client, secret) = app.state.clients.register(metadata).await.unwrap();
    (client.id.as_str().to_owned(), secret.map(|s| s.expose().to_owned()))
}

pub async fn token_request(app: &TestApp, client: &Client, form: &[(&str, &str)]) -> reqwest::Response {
    app.http.post(app.url("/token")).basic_auth(&client.0, client.1.as_deref()).form(form).send().await.unwrap()
}

/// A `ferrid:admin` access token of a fresh service client (client_credentials).
pub async fn service_token(app: &TestApp) -> String {
    let service = register(app, vec![GrantType::ClientCredentials], &["ferrid:admin"]).await;
    let response =
        token_request(app, &service, &[("grant_type", "client_credentials"), ("scope", "ferrid:admin")]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["scope"], "ferrid:admin");
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// Signs `email` in with a fresh browser for `scope` and redeems the code.
pub async fn sign_in(app: &TestApp, client: &Client, email: &str, scope: &str) -> (Browser, Value) {
    let browser = Browser::new(&app.address);
    let (url, verifier) = authorize_url(app, &client.0, scope, &[]);
    let code = browser.sign_in(&url, email, PASSWORD).await.code();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &verifier),
    ];
    let response = token_request(app, client, &form).await;
    assert_eq!(response.status(), StatusCode::OK);
    (browser, response.json().await.unwrap())
}

pub async fn user_id(app: &TestApp, email: &str) -> String {
    app.state.accounts.find_by_email(&Email::parse(email).unwrap()).await.unwrap().id.to_string()
}

async fn admin(app: &TestApp, method: &str, path: &str, token: Option<&str>) -> reqwest::Response {
    let request = app.http.request(method.parse().unwrap(), app.url(path));
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request.send().await.unwrap()
}

fn challenge(response: &reqwest::Response) -> String {
    response.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().to_owned()
}

pub async fn still_signed_in(app: &TestApp, browser: &Browser, client_id: &str) -> bool {
    let (url, _) = authorize_url(app, client_id, "openid offline_access", &[]);
    matches!(browser.follow(url).await, Landing::Redirect { .. })
}

pub async fn refresh(app: &TestApp, client: &Client, tokens: &Value) -> reqwest::Response {
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    token_request(app, client, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
}

async fn admin_endpoints_demand_a_ferrid_admin_bearer_token_rfc_6750_3_1(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "ann@example.com").await;
    let client = create_client(&app, ClientType::Confidential).await;
    let (_, user_tokens) = sign_in(&app, &client, "ann@example.com", "openid offline_access").await;
    let ann = user_id(&app, "ann@example.com").await;
    let endpoints = [
        ("GET", format!("/api/admin/users/{ann}/sessions")),
        ("DELETE", format!("/api/admin/users/{ann}/sessions/x")),
        ("DELETE", format!("/api/admin/users/{ann}/applications/x")),
        ("POST", format!("/api/admin/users/{ann}/logout-all")),
    ];
    for (method, path) in &endpoints {
        // RFC 6750 §3.1: without any token, a challenge with no error code.
        let response = admin(&app, method, path, None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(challenge(&response), "Bearer realm=\"ferrid\"");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "unauthorized");

        let response = admin(&app, method, path, Some("not-a-token")).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        assert!(challenge(&response).contains("error=\"invalid_token\""), "{}", challenge(&response));
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_token");

        // A valid token for ferrid without the scope: 403 insufficient_scope naming the scope.
        let response = admin(&app, method, path, user_tokens["access_token"].as_str()).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
        let value = challenge(&response);
        assert!(value.contains("error=\"insufficient_scope\"") && value.contains("scope=\"ferrid:admin\""), "{value}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "insufficient_scope");
    }
    // Unknown and malformed user ids are both "no such user".
    let token = service_token(&app).await;
    for id in [uuid::Uuid::now_v7().to_string(), "not-a-uuid".to_owned()] {
        let response = admin(&app, "GET", &format!("/api/admin/users/{id}/sessions"), Some(&token)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{id}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "not_found");
    }
    app.stop().await;
}

async fn a_service_client_manages_one_users_sessions_and_no_one_elses(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "ann@example.com").await;
    create_user(&app, "bo@example.com").await;
    let client = create_client(&app, ClientType::Confidential).await;
    let (laptop, laptop_tokens) = sign_in(&app, &client, "ann@example.com", "openid offline_access").await;
    let (phone, _) = sign_in(&app, &client, "ann@example.com", "openid offline_access").await;
    let (bo, bo_tokens) = sign_in(&app, &client, "bo@example.com", "openid offline_access").await;
    let (ann, bo_id) = (user_id(&app, "ann@example.com").await, user_id(&app, "bo@example.com").await);
    let token = service_token(&app).await;

    let response = admin(&app, "GET", &format!("/api/admin/users/{ann}/sessions"), Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let listed: Value = response.json().await.unwrap();
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{listed}");
    assert!(sessions.iter().all(|s| s.get("current").is_none()), "no `current` for an administrator");
    let applications = listed["applications"].as_array().unwrap();
    assert_eq!(applications.len(), 2, "{listed}");

    // End one session: one of Ann's two browsers is signed out.
    let sid = sessions[0]["sid"].as_str().unwrap();
    let ended = admin(&app, "DELETE", &format!("/api/admin/users/{ann}/sessions/{sid}"), Some(&token)).await;
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    let signed_in = [still_signed_in(&app, &laptop, &client.0).await, still_signed_in(&app, &phone, &client.0).await];
    assert_eq!(signed_in.iter().filter(|s| **s).count(), 1, "{signed_in:?}");
    // Bo's session is not Ann's.
    let bo_sid = {
        let listed: Value =
            admin(&app, "GET", &format!("/api/admin/users/{bo_id}/sessions"), Some(&token)).await.json().await.unwrap();
        listed["sessions"][0]["sid"].as_str().unwrap().to_owned()
    };
    let foreign = admin(&app, "DELETE", &format!("/api/admin/users/{ann}/sessions/{bo_sid}"), Some(&token)).await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);

    // Revoke one application grant; revoking it again finds nothing.
    let grant = applications[0]["id"].as_str().unwrap();
    let path = format!("/api/admin/users/{ann}/applications/{grant}");
    assert_eq!(admin(&app, "DELETE", &path, Some(&token)).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(admin(&app, "DELETE", &path, Some(&token)).await.status(), StatusCode::NOT_FOUND);

    let response = admin(&app, "POST", &format!("/api/admin/users/{ann}/logout-all"), Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let done: Value = response.json().await.unwrap();
    assert_eq!(done["sessions_ended"], 1, "{done}");
    assert_eq!(done["applications_revoked"], 1, "{done}");
    assert!(!still_signed_in(&app, &laptop, &client.0).await);
    assert!(!still_signed_in(&app, &phone, &client.0).await);
    // RFC 6749 §5.2: the revoked refresh token is an invalid_grant.
    let refreshed = refresh(&app, &client, &laptop_tokens).await;
    assert_eq!(refreshed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(refreshed.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let listed: Value =
        admin(&app, "GET", &format!("/api/admin/users/{ann}/sessions"), Some(&token)).await.json().await.unwrap();
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 0, "{listed}");
    assert_eq!(listed["applications"].as_array().unwrap().len(), 0, "{listed}");

    // Bo was not touched.
    assert!(still_signed_in(&app, &bo, &client.0).await);
    assert_eq!(refresh(&app, &client, &bo_tokens).await.status(), StatusCode::OK);
    app.stop().await;
}

async fn only_users_with_the_admin_role_are_granted_ferrid_admin_rfc_6749_3_3(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "ann@example.com").await;
    create_user(&app, "root@example.com").await;
    let console = register(
        &app,
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        &["openid", "offline_access", "ferrid:admin"],
    )
    .await;
    let role = RoleName::parse("admin").unwrap();
    app.state.access_control.create_role(&role, None).await.unwrap();
    let root = user_id(&app, "root@example.com").await;
    let root_id = ferrid::accounts::UserId(root.parse().unwrap());
    app.state.access_control.assign_role(root_id, &role).await.unwrap();
    let ann = user_id(&app, "ann@example.com").await;
    let sessions_of_ann = format!("/api/admin/users/{ann}/sessions");

    // Ann is no administrator: the consent page does not offer the scope, and RFC 6749 §3.3 lets
    // the server grant less than asked, saying so in the token response's `scope` (§5.1).
    let browser = Browser::new(&app.address);
    let (url, verifier) = authorize_url(&app, &console.0, "openid offline_access ferrid:admin", &[]);
    let Landing::Page { html, .. } = browser.follow(url).await else { panic!("expected the login page") };
    let fields = [("request", hidden(&html, "request")), ("csrf", hidden(&html, "csrf"))];
    let landing = browser
        .submit(
            "/login",
            &[("request", &fields[0].1), ("csrf", &fields[1].1), ("email", "ann@example.com"), ("password", PASSWORD)],
        )
        .await;
    let Landing::Page { html, .. } = landing else { panic!("expected the consent page") };
    assert!(html.contains("action=\"/consent\""), "{html}");
    assert!(!html.contains("Administer ferrid"), "the consent page offers ferrid:admin to a non-admin");
    let (request, csrf) = (hidden(&html, "request"), hidden(&html, "csrf"));
    let code =
        browser.submit("/consent", &[("request", &request), ("csrf", &csrf), ("decision", "allow")]).await.code();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &verifier),
    ];
    let tokens: Value = token_request(&app, &console, &form).await.json().await.unwrap();
    assert_eq!(tokens["scope"], "openid offline_access", "{tokens}");
    let response = admin(&app, "GET", &sessions_of_ann, tokens["access_token"].as_str()).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Asking for nothing but ferrid:admin leaves nothing to grant: access_denied (RFC 6749 §4.1.2.1).
    let (url, _) = authorize_url(&app, &console.0, "ferrid:admin", &[]);
    let landing = browser.follow(url).await;
    assert_eq!(landing.param("error").as_deref(), Some("access_denied"), "{landing:?}");

    // Root holds the admin role and gets the scope.
    let (_, tokens) = sign_in(&app, &console, "root@example.com", "openid offline_access ferrid:admin").await;
    assert_eq!(tokens["scope"], "openid offline_access ferrid:admin", "{tokens}");
    let response = admin(&app, "GET", &sessions_of_ann, tokens["access_token"].as_str()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["sessions"].as_array().unwrap().len(), 1);

    // Taking the role away ends admin access at once and narrows the next refresh.
    app.state.access_control.remove_role(root_id, &role).await.unwrap();
    let response = admin(&app, "GET", &sessions_of_ann, tokens["access_token"].as_str()).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let refreshed: Value = refresh(&app, &console, &tokens).await.json().await.unwrap();
    assert_eq!(refreshed["scope"], "openid offline_access", "{refreshed}");
    app.stop().await;
}

/// DESIGN §4 bootstrap: the first administrator comes from the configuration on an empty
/// database, and only then — a restart with other values changes nothing.
#[tokio::test]
async fn the_first_administrator_is_bootstrapped_once_from_the_configuration() {
    let first = [("FERRID_ADMIN_EMAIL", "root@example.com"), ("FERRID_ADMIN_PASSWORD", "first admin password")];
    let app = crate::helpers::spawn_app_with(Backend::Embedded, &first).await;
    let admin = app
        .state
        .accounts
        .authenticate("root@example.com", ferrid::accounts::Password::new("first admin password"))
        .await
        .unwrap();
    let roles = app.state.access_control.authorization_of(admin.id).await.unwrap().roles;
    assert_eq!(roles, vec!["admin".to_owned()]);
    let resources = app.stop().await;

    let again = [("FERRID_ADMIN_EMAIL", "other@example.com"), ("FERRID_ADMIN_PASSWORD", "another password!")];
    let app =
        crate::helpers::start_app(resources, &again, std::sync::Arc::new(ferrid::clock::SystemClock)).await.unwrap();
    assert!(app.state.accounts.find_by_email(&Email::parse("other@example.com").unwrap()).await.is_err());
    let still = app
        .state
        .accounts
        .authenticate("root@example.com", ferrid::accounts::Password::new("first admin password"))
        .await;
    assert!(still.is_ok(), "a restart never resets the administrator's password");
    app.stop().await;
}

//! The admin API for users: create, search with keyset paging, read, edit, disable and enable,
//! delete, password and second-factor resets, and the rule that ferrid always keeps an enabled
//! administrator. Every change must leave its record in the audit log.

use ferrid::{
    accounts::{Email, Password, UserId},
    oauth::{ClientType, admin::make_administrator},
};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::{Value, json};

use crate::{
    admin_sessions::{Client, refresh, service_token, sign_in, still_signed_in, user_id},
    helpers::{Backend, TestApp, spawn_app},
    oidc::{PASSWORD, create_client, create_user},
};

on_every_backend!(
    users_are_created_read_and_edited,
    search_matches_email_or_name_literally_and_pages_by_id,
    disabling_signs_the_user_out_everywhere_and_blocks_sign_in,
    a_password_reset_replaces_the_password_and_ends_every_sign_in,
    an_mfa_reset_removes_every_second_factor,
    deleting_a_user_takes_their_sign_ins_with_them,
    the_last_enabled_administrator_cannot_be_disabled_deleted_or_demoted,
);

/// An admin API call with a JSON body (or none); the status and the JSON answer (`Null` when
/// there is no body).
pub async fn call(app: &TestApp, token: &str, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let request = app.http.request(method.parse().unwrap(), app.url(path)).bearer_auth(token);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

/// The audit records of `kind`, about `user` when given.
pub async fn audited(app: &TestApp, token: &str, kind: &str, user: Option<&str>) -> Vec<Value> {
    let mut path = format!("/api/admin/audit?kind={kind}");
    if let Some(user) = user {
        path.push_str(&format!("&user_id={user}"));
    }
    let (status, page) = call(app, token, "GET", &path, None).await;
    assert_eq!(status, StatusCode::OK);
    page["items"].as_array().unwrap().clone()
}

/// Whether the password is accepted (an unverified address is refused only after that check).
async fn signs_in(app: &TestApp, email: &str, password: &str) -> bool {
    let outcome = app.state.accounts.authenticate(email, Password::new(password)).await;
    matches!(outcome, Ok(_) | Err(ferrid::accounts::AccountError::EmailNotVerified))
}

async fn users_are_created_read_and_edited(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = service_token(&app).await;
    let body = json!({ "email": "Ann@Example.com", "password": "pw-1", "name": "Ann", "email_verified": false });
    let (status, ann) = call(&app, &token, "POST", "/api/admin/users", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!((ann["email"].as_str(), ann["email_verified"].as_bool()), (Some("Ann@Example.com"), Some(false)));
    assert_eq!((ann["has_password"].as_bool(), ann["disabled"].as_bool()), (Some(true), Some(false)));
    assert!(ann.get("password").is_none() && ann.get("password_hash").is_none());
    assert!(signs_in(&app, "ann@example.com", "pw-1").await);
    let id = ann["id"].as_str().unwrap().to_owned();

    // The admin API may say that an email is taken: its callers are administrators.
    for (body, expected) in [
        (json!({ "email": "ANN@example.com" }), StatusCode::CONFLICT),
        (json!({ "email": "not-an-email" }), StatusCode::BAD_REQUEST),
        (json!({ "email": "bo@example.com", "password": "" }), StatusCode::BAD_REQUEST),
        (json!({ "email": "bo@example.com", "name": "x".repeat(201) }), StatusCode::BAD_REQUEST),
    ] {
        let (status, error) = call(&app, &token, "POST", "/api/admin/users", Some(body.clone())).await;
        assert_eq!(status, expected, "{body}");
        let code = if expected == StatusCode::CONFLICT { "conflict" } else { "invalid_request" };
        assert_eq!(error["error"], code);
    }

    let (status, read) = call(&app, &token, "GET", &format!("/api/admin/users/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["name"], "Ann");
    assert_eq!((&read["roles"], &read["groups"], &read["permissions"]), (&json!([]), &json!([]), &json!([])));
    assert_eq!(read["mfa_enrolled"], false);

    let patch = json!({ "name": null, "phone": "+44 20 7946 0000", "locale": "en-GB", "email": "ann.lee@example.com" });
    let (status, edited) = call(&app, &token, "PATCH", &format!("/api/admin/users/{id}"), Some(patch)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(edited["name"], Value::Null);
    assert_eq!((edited["phone"].as_str(), edited["locale"].as_str()), (Some("+44 20 7946 0000"), Some("en-GB")));
    assert_eq!(edited["email"], "ann.lee@example.com");
    assert!(signs_in(&app, "ann.lee@example.com", "pw-1").await);

    // A new address is unverified unless the administrator vouches for it in the same change.
    let path = format!("/api/admin/users/{id}");
    let (_, verified) = call(&app, &token, "PATCH", &path, Some(json!({ "email_verified": true }))).await;
    assert_eq!(verified["email_verified"], true);
    let (_, moved) = call(&app, &token, "PATCH", &path, Some(json!({ "email": "ann@example.org" }))).await;
    assert_eq!((&moved["email"], &moved["email_verified"]), (&json!("ann@example.org"), &json!(false)));
    let vouched = json!({ "email": "ann.lee@example.com", "email_verified": true });
    let (_, vouched) = call(&app, &token, "PATCH", &path, Some(vouched)).await;
    assert_eq!(vouched["email_verified"], true);
    let (_, same) = call(&app, &token, "PATCH", &path, Some(json!({ "email": "Ann.Lee@example.com" }))).await;
    assert_eq!(same["email_verified"], true, "the same address in other case stays verified");

    create_user(&app, "bo@example.com").await;
    let unknown = uuid::Uuid::now_v7();
    for (path, body, expected, code) in [
        (format!("/api/admin/users/{id}"), json!({ "email": "BO@example.com" }), StatusCode::CONFLICT, "conflict"),
        (format!("/api/admin/users/{id}"), json!({ "email": "nope" }), StatusCode::BAD_REQUEST, "invalid_request"),
        (
            format!("/api/admin/users/{id}"),
            json!({ "phone": "1".repeat(33) }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (format!("/api/admin/users/{unknown}"), json!({ "name": "X" }), StatusCode::NOT_FOUND, "not_found"),
        ("/api/admin/users/not-a-uuid".to_owned(), json!({ "name": "X" }), StatusCode::NOT_FOUND, "not_found"),
    ] {
        let (status, error) = call(&app, &token, "PATCH", &path, Some(body.clone())).await;
        assert_eq!((status, error["error"].as_str()), (expected, Some(code)), "{path} {body}");
    }
    for path in [format!("/api/admin/users/{unknown}"), "/api/admin/users/not-a-uuid".to_owned()] {
        assert_eq!(call(&app, &token, "GET", &path, None).await.0, StatusCode::NOT_FOUND);
    }

    let created = audited(&app, &token, "admin.user.create", Some(&id)).await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["details"], json!({ "email_verified": false, "has_password": true }));
    let updated = audited(&app, &token, "admin.user.update", Some(&id)).await;
    assert_eq!(updated.len(), 5, "newest first");
    assert_eq!(updated[4]["details"], json!({ "fields": ["name", "phone", "locale", "email"] }));
    assert_eq!(updated[3]["details"], json!({ "fields": ["email_verified"] }));
    app.stop().await;
}

async fn search_matches_email_or_name_literally_and_pages_by_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = service_token(&app).await;
    for (email, name) in [
        ("ann@example.com", "Ann 100% Lee"),
        ("bo@example.com", "Bo 1000 Li"),
        ("cy_x@example.com", "Cy"),
        ("cyrx@example.com", "Cyr"),
        ("dee@example.org", "DEE"),
    ] {
        let body = json!({ "email": email, "name": name });
        assert_eq!(call(&app, &token, "POST", "/api/admin/users", Some(body)).await.0, StatusCode::CREATED);
    }
    let emails = |page: &Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_owned()).collect()
    };
    // `%` and `_` are literal characters, not LIKE wildcards.
    let (_, page) = call(&app, &token, "GET", "/api/admin/users?q=0%25", None).await;
    assert_eq!(emails(&page), ["ann@example.com"]);
    let (_, page) = call(&app, &token, "GET", "/api/admin/users?q=cy_", None).await;
    assert_eq!(emails(&page), ["cy_x@example.com"]);
    // Case-insensitive, on the name or the email.
    let (_, page) = call(&app, &token, "GET", "/api/admin/users?q=dEe", None).await;
    assert_eq!(emails(&page), ["dee@example.org"]);
    let (_, page) = call(&app, &token, "GET", "/api/admin/users?q=EXAMPLE.COM", None).await;
    assert_eq!(emails(&page).len(), 4);

    // Three pages of two, two and one, ordered by id, the last without a cursor.
    let mut seen = Vec::new();
    let mut path = "/api/admin/users?limit=2".to_owned();
    for expected in [2, 2, 1] {
        let (status, page) = call(&app, &token, "GET", &path, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["items"].as_array().unwrap().len(), expected);
        seen.extend(page["items"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/admin/users?limit=2&cursor={cursor}"),
            None => assert_eq!(expected, 1),
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!((seen.len(), &seen), (5, &sorted));

    let ann = user_id(&app, "ann@example.com").await;
    call(&app, &token, "POST", &format!("/api/admin/users/{ann}/disable"), None).await;
    let (_, page) = call(&app, &token, "GET", "/api/admin/users?disabled=true", None).await;
    assert_eq!(emails(&page), ["ann@example.com"]);
    let (_, page) = call(&app, &token, "GET", "/api/admin/users?disabled=false", None).await;
    assert_eq!(emails(&page).len(), 4);

    for query in ["limit=0", "limit=201", "cursor=nope"] {
        let (status, error) = call(&app, &token, "GET", &format!("/api/admin/users?{query}"), None).await;
        assert_eq!((status, error["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{query}");
    }
    app.stop().await;
}

/// Whether `/introspect` calls `token` active, asked by `client`.
async fn active(app: &TestApp, client: &Client, token: &str) -> bool {
    let response = app
        .http
        .post(app.url("/introspect"))
        .basic_auth(&client.0, client.1.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    response.json::<Value>().await.unwrap()["active"] == true
}

async fn disabling_signs_the_user_out_everywhere_and_blocks_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "ann@example.com").await;
    let client = create_client(&app, ClientType::Confidential).await;
    let (browser, tokens) = sign_in(&app, &client, "ann@example.com", "openid offline_access").await;
    // A second sign-in without offline_access: its access token belongs to no refresh family.
    let (_, untracked) = sign_in(&app, &client, "ann@example.com", "openid").await;
    let untracked = untracked["access_token"].as_str().unwrap().to_owned();
    assert!(active(&app, &client, &untracked).await);
    let ann = user_id(&app, "ann@example.com").await;
    let token = service_token(&app).await;

    let (status, done) = call(&app, &token, "POST", &format!("/api/admin/users/{ann}/disable"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(done, json!({ "sessions_ended": 2, "applications_revoked": 1 }));
    // RFC 7662 §2.2: every access token the user held is inactive at once, tracked or not.
    assert!(!active(&app, &client, tokens["access_token"].as_str().unwrap()).await);
    assert!(!active(&app, &client, &untracked).await);
    let response = refresh(&app, &client, &tokens).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_grant");
    assert!(!still_signed_in(&app, &browser, &client.0).await);
    assert!(!signs_in(&app, "ann@example.com", PASSWORD).await);
    let (_, read) = call(&app, &token, "GET", &format!("/api/admin/users/{ann}"), None).await;
    assert_eq!(read["disabled"], true);

    let (status, _) = call(&app, &token, "POST", &format!("/api/admin/users/{ann}/enable"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(signs_in(&app, "ann@example.com", PASSWORD).await);

    let unknown = uuid::Uuid::now_v7();
    for action in ["disable", "enable"] {
        for id in [unknown.to_string(), "not-a-uuid".to_owned()] {
            let (status, error) = call(&app, &token, "POST", &format!("/api/admin/users/{id}/{action}"), None).await;
            assert_eq!((status, error["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
        }
    }
    let disabled = audited(&app, &token, "admin.user.disable", Some(&ann)).await;
    assert_eq!(disabled[0]["details"], json!({ "sessions_ended": 2, "applications_revoked": 1 }));
    assert_eq!(audited(&app, &token, "admin.user.enable", Some(&ann)).await.len(), 1);
    app.stop().await;
}

async fn a_password_reset_replaces_the_password_and_ends_every_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "ann@example.com").await;
    let client = create_client(&app, ClientType::Confidential).await;
    let (_, tokens) = sign_in(&app, &client, "ann@example.com", "openid offline_access").await;
    let ann = user_id(&app, "ann@example.com").await;
    let token = service_token(&app).await;
    let path = format!("/api/admin/users/{ann}/password");

    let (status, done) = call(&app, &token, "POST", &path, Some(json!({ "password": "a new secret" }))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(done["applications_revoked"], 1);
    assert!(!done.to_string().contains("a new secret"));
    assert!(!signs_in(&app, "ann@example.com", PASSWORD).await);
    assert!(signs_in(&app, "ann@example.com", "a new secret").await);
    assert_eq!(refresh(&app, &client, &tokens).await.status(), StatusCode::BAD_REQUEST);

    let (status, error) = call(&app, &token, "POST", &path, Some(json!({ "password": "" }))).await;
    assert_eq!((status, error["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
    let unknown = format!("/api/admin/users/{}/password", uuid::Uuid::now_v7());
    assert_eq!(call(&app, &token, "POST", &unknown, Some(json!({ "password": "x" }))).await.0, StatusCode::NOT_FOUND);

    let records = audited(&app, &token, "admin.user.reset_password", Some(&ann)).await;
    assert_eq!(records.len(), 1);
    assert!(!records[0].to_string().contains("a new secret"));
    app.stop().await;
}

async fn an_mfa_reset_removes_every_second_factor(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "ann@example.com").await;
    let ann = user_id(&app, "ann@example.com").await;
    let user = uuid::Uuid::parse_str(&ann).unwrap();
    let now = app.state.clock.now();
    for (kind, digest) in [("totp", None), ("recovery_code", Some("d1".to_owned()))] {
        entity::mfa_factors::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            user_id: Set(user),
            kind: Set(kind.to_owned()),
            sealed_secret: Set(None),
            digest: Set(digest),
            created_at: Set(now),
            confirmed_at: Set(Some(now)),
            last_used_at: Set(None),
        }
        .insert(app.state.database.connection())
        .await
        .unwrap();
    }
    let token = service_token(&app).await;
    let (_, read) = call(&app, &token, "GET", &format!("/api/admin/users/{ann}"), None).await;
    assert_eq!(read["mfa_enrolled"], true);

    let path = format!("/api/admin/users/{ann}/mfa/reset");
    let (status, done) = call(&app, &token, "POST", &path, None).await;
    assert_eq!((status, done), (StatusCode::OK, json!({ "factors_removed": 2 })));
    let (_, read) = call(&app, &token, "GET", &format!("/api/admin/users/{ann}"), None).await;
    assert_eq!(read["mfa_enrolled"], false);
    assert_eq!(call(&app, &token, "POST", &path, None).await.1, json!({ "factors_removed": 0 }));
    let unknown = format!("/api/admin/users/{}/mfa/reset", uuid::Uuid::now_v7());
    assert_eq!(call(&app, &token, "POST", &unknown, None).await.0, StatusCode::NOT_FOUND);

    let records = audited(&app, &token, "admin.user.reset_mfa", Some(&ann)).await;
    assert_eq!(records.len(), 2);
    assert_eq!(records[1]["details"], json!({ "factors_removed": 2 }));
    app.stop().await;
}

async fn deleting_a_user_takes_their_sign_ins_with_them(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "ann@example.com").await;
    let client = create_client(&app, ClientType::Confidential).await;
    let (browser, tokens) = sign_in(&app, &client, "ann@example.com", "openid offline_access").await;
    let ann = user_id(&app, "ann@example.com").await;
    let token = service_token(&app).await;

    let (status, _) = call(&app, &token, "DELETE", &format!("/api/admin/users/{ann}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(call(&app, &token, "GET", &format!("/api/admin/users/{ann}"), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(refresh(&app, &client, &tokens).await.status(), StatusCode::BAD_REQUEST);
    assert!(!still_signed_in(&app, &browser, &client.0).await);
    assert!(!signs_in(&app, "ann@example.com", PASSWORD).await);
    assert_eq!(call(&app, &token, "DELETE", &format!("/api/admin/users/{ann}"), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(call(&app, &token, "DELETE", "/api/admin/users/not-a-uuid", None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(audited(&app, &token, "admin.user.delete", Some(&ann)).await.len(), 1);
    app.stop().await;
}

async fn the_last_enabled_administrator_cannot_be_disabled_deleted_or_demoted(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "ann@example.com").await;
    create_user(&app, "bo@example.com").await;
    let ann = user_id(&app, "ann@example.com").await;
    let bo = user_id(&app, "bo@example.com").await;
    let id = |raw: &str| UserId(uuid::Uuid::parse_str(raw).unwrap());
    make_administrator(&app.state.access_control, id(&ann)).await.unwrap();
    let token = service_token(&app).await;

    let refused = [
        ("POST", format!("/api/admin/users/{ann}/disable")),
        ("DELETE", format!("/api/admin/users/{ann}")),
        ("DELETE", format!("/api/admin/users/{ann}/roles/admin")),
        ("DELETE", "/api/admin/roles/admin".to_owned()),
    ];
    for (method, path) in &refused {
        let (status, error) = call(&app, &token, method, path, None).await;
        assert_eq!((status, error["error"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{method} {path}");
    }
    let (status, _) = call(&app, &token, "PATCH", "/api/admin/roles/admin", Some(json!({ "name": "root" }))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(signs_in(&app, "ann@example.com", PASSWORD).await);

    // With a second enabled administrator, either may go, but not both.
    assert_eq!(
        call(&app, &token, "PUT", &format!("/api/admin/users/{bo}/roles/admin"), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(call(&app, &token, "POST", &format!("/api/admin/users/{ann}/disable"), None).await.0, StatusCode::OK);
    assert_eq!(
        call(&app, &token, "POST", &format!("/api/admin/users/{bo}/disable"), None).await.0,
        StatusCode::CONFLICT
    );
    let (status, _) = call(&app, &token, "DELETE", &format!("/api/admin/users/{bo}/roles/admin"), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // A disabled holder does not count, so removing the role from them is fine.
    let (status, _) = call(&app, &token, "DELETE", &format!("/api/admin/users/{ann}/roles/admin"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let bo_roles = app.state.access_control.authorization_of(id(&bo)).await.unwrap().roles;
    assert_eq!(bo_roles, ["admin"]);
    assert!(app.state.accounts.find_by_email(&Email::parse("bo@example.com").unwrap()).await.is_ok());
    app.stop().await;
}

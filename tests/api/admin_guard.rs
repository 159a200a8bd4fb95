//! Every admin route, found by walking the generated OpenAPI document, refuses requests without
//! a `ferrid:admin` bearer token — 401 with no or an invalid token, 403 `insufficient_scope`
//! with a valid token lacking the scope (RFC 6750 §3.1) — and lets a token with it through.
//! New admin routes are covered without touching this file.

use ferrid::oauth::{ClientMetadata, ClientType, GrantType};
use reqwest::{Method, StatusCode, header};
use serde_json::Value;

use crate::{
    admin_sessions::service_token,
    helpers::{Backend, TestApp, spawn_app},
};

on_every_backend!(every_admin_route_demands_the_ferrid_admin_scope_rfc_6750_3_1);

/// Every `(method, path)` under /api/admin, path parameters filled with ids that exist nowhere.
fn admin_operations() -> Vec<(Method, String)> {
    let document: Value = serde_json::from_str(&ferrid::http::openapi_document()).unwrap();
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        if !path.starts_with("/api/admin/") {
            continue;
        }
        let concrete = path
            .split('/')
            .map(|segment| if segment.starts_with('{') { uuid::Uuid::new_v4().to_string() } else { segment.to_owned() })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            operations.push((method.to_uppercase().parse().unwrap(), concrete.clone()));
        }
    }
    assert!(operations.len() >= 5, "the admin API is in the document: {operations:?}");
    operations
}

/// A valid access token for ferrid without `ferrid:admin`.
async fn token_without_admin_scope(app: &TestApp) -> String {
    let mut metadata = ClientMetadata::new("Reporting job", ClientType::Confidential);
    metadata.grant_types = vec![GrantType::ClientCredentials];
    let (client, secret) = app.state.clients.register(metadata).await.unwrap();
    let response = app
        .http
        .post(app.url("/token"))
        .basic_auth(client.id.as_str(), Some(secret.unwrap().expose()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

async fn call(app: &TestApp, method: &Method, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app.http.request(method.clone(), app.url(path));
    if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        request = request.json(&serde_json::json!({}));
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

fn challenge(response: &reqwest::Response) -> String {
    response.headers().get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

async fn every_admin_route_demands_the_ferrid_admin_scope_rfc_6750_3_1(backend: Backend) {
    let app = spawn_app(backend).await;
    let unprivileged = token_without_admin_scope(&app).await;
    let admin = service_token(&app).await;
    for (method, path) in admin_operations() {
        let anonymous = call(&app, &method, &path, None).await;
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{method} {path} without a token");
        assert!(challenge(&anonymous).starts_with("Bearer"), "{method} {path}");

        let forged = call(&app, &method, &path, Some("not-a-token")).await;
        assert_eq!(forged.status(), StatusCode::UNAUTHORIZED, "{method} {path} with an invalid token");
        assert!(challenge(&forged).contains("invalid_token"), "{method} {path}");

        let lacking = call(&app, &method, &path, Some(&unprivileged)).await;
        assert_eq!(lacking.status(), StatusCode::FORBIDDEN, "{method} {path} without ferrid:admin");
        assert!(challenge(&lacking).contains("insufficient_scope"), "{method} {path}");

        let allowed = call(&app, &method, &path, Some(&admin)).await;
        assert!(
            !matches!(allowed.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
            "{method} {path} with ferrid:admin answered {}",
            allowed.status()
        );
    }
}

//! `/api/admin/keys`: list the ring, rotate now, revoke a key — ferrid keeps signing, /jwks
//! follows (RFC 7517), and each change is audited with its `key:<kid>` target.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    admin_clients::call,
    admin_sessions::service_token,
    helpers::{Backend, TestApp, spawn_app},
};

on_every_backend!(
    keys_are_listed_without_private_material_and_rotate_on_request,
    revoking_the_active_key_leaves_ferrid_signing_with_a_published_key,
);

fn active(list: &Value, alg: &str) -> String {
    let items = list["items"].as_array().unwrap();
    let found = items.iter().find(|k| k["alg"] == alg && k["state"] == "active");
    found.unwrap_or_else(|| panic!("no active {alg} key in {list}"))["kid"].as_str().unwrap().to_owned()
}

fn state_of(list: &Value, kid: &str) -> String {
    let items = list["items"].as_array().unwrap();
    items.iter().find(|k| k["kid"] == kid).unwrap()["state"].as_str().unwrap().to_owned()
}

async fn audit(app: &TestApp, token: &str, kind: &str) -> Vec<Value> {
    let (status, page) = call(app, token, "GET", &format!("/api/admin/audit?kind={kind}"), None).await;
    assert_eq!(status, StatusCode::OK);
    page["items"].as_array().unwrap().clone()
}

async fn keys_are_listed_without_private_material_and_rotate_on_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = service_token(&app).await;
    let (status, list) = call(&app, &token, "GET", "/api/admin/keys", None).await;
    assert_eq!(status, StatusCode::OK);
    for key in list["items"].as_array().unwrap() {
        for member in ["kid", "alg", "use", "state", "created_at"] {
            assert!(key.get(member).is_some(), "{member} missing from {key}");
        }
        for private in ["d", "p", "q", "sealed_private", "private_key"] {
            assert!(key.get(private).is_none(), "{private} exposed in {key}");
        }
    }
    let before = active(&list, "RS256");

    let (status, rotated) = call(&app, &token, "POST", "/api/admin/keys/rotate", Some(json!({"alg": "RS256"}))).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let after = active(&rotated, "RS256");
    assert_ne!(after, before);
    assert_eq!(state_of(&rotated, &before), "retired", "kept in the JWKS until its tokens expire");
    let jwks: Value = app.get("/jwks").await.json().await.unwrap();
    let published: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert!(published.contains(&before.as_str()) && published.contains(&after.as_str()));
    let records = audit(&app, &token, "admin.key.rotate").await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["target"], format!("key:{after}"));

    // `{}` rotates every configured algorithm: one record each.
    let (status, _) = call(&app, &token, "POST", "/api/admin/keys/rotate", Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(audit(&app, &token, "admin.key.rotate").await.len(), 1 + app.state.config.key_ring.algs.len());

    for alg in ["HS256", "none", "PS512"] {
        let (status, error) = call(&app, &token, "POST", "/api/admin/keys/rotate", Some(json!({"alg": alg}))).await;
        assert_eq!((status, error["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{alg}");
    }
    app.stop().await;
}

fn kid_of(jwt: &str) -> String {
    let header = jwt.split('.').next().unwrap();
    let header: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

async fn revoking_the_active_key_leaves_ferrid_signing_with_a_published_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = service_token(&app).await;
    let signed_with = kid_of(&token);
    let (status, error) = call(&app, &token, "POST", "/api/admin/keys/no-such-kid/revoke", None).await;
    assert_eq!((status, error["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));

    let (status, list) = call(&app, &token, "POST", &format!("/api/admin/keys/{signed_with}/revoke"), None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(state_of(&list, &signed_with), "revoked");
    // The token that asked was signed with the revoked key: it no longer verifies.
    assert_eq!(call(&app, &token, "GET", "/api/admin/keys", None).await.0, StatusCode::UNAUTHORIZED);
    let token = service_token(&app).await;
    let records = audit(&app, &token, "admin.key.revoke").await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["target"], format!("key:{signed_with}"));

    // A new token is signed by a key /jwks publishes, and the revoked key is gone from it.
    let new_kid = kid_of(&token);
    assert_ne!(new_kid, signed_with);
    let jwks: Value = app.get("/jwks").await.json().await.unwrap();
    let published: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert!(published.contains(&new_kid.as_str()));
    assert!(!published.contains(&signed_with.as_str()), "RFC 7517: a revoked key leaves the set");
    let (status, list) = call(&app, &token, "GET", "/api/admin/keys", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state_of(&list, &new_kid), "active");
    app.stop().await;
}

//! /health, /ready, /swagger, /openapi.json, and the JSON error shape for bad requests.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, spawn_app, spawn_app_with};

on_every_backend!(
    health_is_ok_with_a_request_id,
    ready_checks_every_configured_dependency,
    swagger_and_openapi_are_served
);

async fn health_is_ok_with_a_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), StatusCode::OK);
    let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    app.stop().await;
}

async fn ready_checks_every_configured_dependency(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let expected = match backend {
        Backend::Embedded => json!({"status": "ready", "checks": {"database": "ok"}}),
        Backend::External => {
            json!({"status": "ready", "rate_limits": "shared", "checks": {"database": "ok", "redis": "ok"}})
        }
    };
    assert_eq!(body, expected);
    app.stop().await;
}

async fn swagger_and_openapi_are_served(backend: Backend) {
    let app = spawn_app(backend).await;
    let swagger = app.get("/swagger").await;
    assert_eq!(swagger.status(), StatusCode::OK);
    assert!(swagger.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(swagger.text().await.unwrap().contains("swagger-ui-bundle.js"));

    let document: Value = app.get("/openapi.json").await.json().await.unwrap();
    let committed: Value = serde_json::from_str(&ferrid::http::openapi_document()).unwrap();
    assert_eq!(document, committed);
    assert!(document["paths"]["/health"]["get"].is_object());
    assert!(document["paths"]["/ready"]["get"].is_object());
    app.stop().await;
}

#[tokio::test]
async fn ready_is_200_degraded_and_names_redis_when_redis_is_unreachable() {
    // Nothing listens on port 1; ferrid must start anyway and report the dependency (DESIGN §7.7).
    // Degraded, not unavailable: the node serves with local rate limits (issue 8 item 1).
    let app = spawn_app_with(Backend::Embedded, &[("FERRID_REDIS_URL", "redis://127.0.0.1:1")]).await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["redis"], "unreachable");
    assert_eq!(app.get("/health").await.status(), StatusCode::OK, "liveness is independent of Redis");
    app.stop().await;
}

#[tokio::test]
async fn ready_is_503_and_names_the_database_when_it_is_gone() {
    let app = spawn_app(Backend::Embedded).await;
    app.state.database.connection().close_by_ref().await.unwrap();
    let response = app.get("/ready").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "unreachable");
    app.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = spawn_app(Backend::Embedded).await;

    let response = app.get("/no/such/route").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "not_found");

    let response = app.http.delete(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "method_not_allowed");
    app.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413_declared_or_chunked() {
    let app = spawn_app(Backend::Embedded).await;
    let big = vec![b'a'; 65 * 1024];

    let response = app.http.post(app.url("/health")).body(big.clone()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "request_too_large");

    let chunks =
        futures::stream::iter(big.chunks(4096).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>());
    let response = app.http.post(app.url("/health")).body(reqwest::Body::wrap_stream(chunks)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    app.stop().await;
}

#[tokio::test]
async fn a_well_formed_incoming_request_id_is_echoed_and_others_are_replaced() {
    let app = spawn_app(Backend::Embedded).await;
    let response = app.http.get(app.url("/health")).header("x-request-id", "edge-proxy-42").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "edge-proxy-42");

    let response = app.http.get(app.url("/health")).header("x-request-id", "bad id!").send().await.unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(id, "bad id!");
    assert!(uuid::Uuid::parse_str(id).is_ok());
    app.stop().await;
}

//! Headers and limits (issue 8 item 3): every answer carries `X-Content-Type-Options`,
//! `Referrer-Policy` and a CSP with `frame-ancestors 'none'` (pages keep their nonce policy);
//! HSTS only for an https issuer (RFC 6797 §7.2); bodies over the cap are 413 on every route;
//! a request past the deadline is 503 with the error shape and the request id.

use std::time::Duration;

use futures::stream;
use reqwest::{StatusCode, header};
use serde_json::Value;

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};

on_every_backend!(
    every_answer_carries_the_security_headers,
    hsts_is_sent_only_for_an_https_issuer_rfc_6797_7_2,
    oversized_bodies_are_413_on_every_route,
    a_request_past_the_deadline_is_503_with_its_request_id,
);

fn header_of<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers().get(name).map_or("", |value| value.to_str().unwrap())
}

async fn every_answer_carries_the_security_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        ("GET", "/.well-known/openid-configuration", StatusCode::OK),
        ("GET", "/jwks", StatusCode::OK),
        ("POST", "/token", StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ("GET", "/no-such-path", StatusCode::NOT_FOUND),
        ("GET", "/api/users/me", StatusCode::UNAUTHORIZED),
        ("GET", "/password/forgot", StatusCode::OK),
    ];
    for (method, path, status) in cases {
        let response = app.http.request(method.parse().unwrap(), app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), status, "{method} {path}");
        assert_eq!(header_of(&response, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header_of(&response, "referrer-policy"), "no-referrer", "{path}");
        let csp = header_of(&response, "content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(response.headers().get("strict-transport-security").is_none(), "{path}: http issuer, no HSTS");
        if path == "/password/forgot" {
            assert!(csp.contains("'nonce-"), "a page keeps its own nonce policy: {csp}");
        } else {
            assert!(csp.starts_with("default-src 'none'"), "{path}: {csp}");
        }
    }
}

async fn hsts_is_sent_only_for_an_https_issuer_rfc_6797_7_2(backend: Backend) {
    // Behind a TLS-terminating proxy the issuer is https while ferrid itself listens on http.
    let app = spawn_app_with(backend, &[("FERRID_ISSUER", "https://id.example.com")]).await;
    for path in ["/jwks", "/health", "/no-such-path"] {
        let response = app.get(path).await;
        assert_eq!(header_of(&response, "strict-transport-security"), "max-age=31536000; includeSubDomains", "{path}");
    }
}

async fn post_bytes(app: &TestApp, path: &str, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    app.http.post(app.url(path)).header(header::CONTENT_TYPE, content_type).body(body).send().await.unwrap()
}

async fn oversized_bodies_are_413_on_every_route(backend: Backend) {
    let app = spawn_app(backend).await;
    let form = "application/x-www-form-urlencoded";
    let json = "application/json";
    let big = |prefix: &str| {
        let mut body = prefix.as_bytes().to_vec();
        body.resize(65 * 1024, b'a');
        body
    };
    let cases = [
        ("/token", form, big("grant_type=")),
        ("/introspect", form, big("token=")),
        ("/revoke", form, big("token=")),
        ("/authorize", form, big("client_id=")),
        ("/login", form, big("email=")),
        ("/logout", form, big("state=")),
        ("/api/auth/login", json, big("{\"email\":\"")),
        ("/api/account/register", json, big("{\"email\":\"")),
        ("/api/admin/users", json, big("{\"email\":\"")),
        ("/register", json, big("{\"client_name\":\"")),
    ];
    for (path, content_type, body) in cases {
        let response = post_bytes(&app, path, content_type, body).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "request_too_large", "{path}");
    }
    // A chunked body (no Content-Length) is cut off at the cap too.
    let chunks = (0..80).map(|_| Ok::<_, std::io::Error>(vec![b'a'; 1024]));
    let response = app
        .http
        .post(app.url("/token"))
        .header(header::CONTENT_TYPE, form)
        .body(reqwest::Body::wrap_stream(stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

async fn a_request_past_the_deadline_is_503_with_its_request_id(backend: Backend) {
    let app = spawn_app_with(backend, &[("FERRID_REQUEST_TIMEOUT_SECS", "1")]).await;
    // A client that trickles its body: the handler waits for it, and the deadline ends the wait.
    let slow = stream::unfold(0u8, |sent| async move {
        if sent >= 10 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        Some((Ok::<_, std::io::Error>(b"a".to_vec()), sent + 1))
    });
    let response = app
        .http
        .post(app.url("/token"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(reqwest::Body::wrap_stream(slow))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let request_id = header_of(&response, "x-request-id").to_owned();
    assert_eq!(header_of(&response, "cache-control"), "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(body["request_id"], request_id.as_str(), "the 5xx body names the request");
}

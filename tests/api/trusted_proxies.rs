//! Trusted proxies (issue 10 item 4): behind a proxy listed in `FERRID_TRUSTED_PROXIES`, the
//! client address comes from its `X-Forwarded-For` (or RFC 7239 `Forwarded`) header, for rate
//! limits and audit records alike; from any other peer the header is ignored. The hostile header
//! forms are unit-tested next to the parser (`src/forwarded.rs`).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp, spawn_app_with};

on_every_backend!(
    behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget_and_audit_address,
    forwarding_headers_from_an_untrusted_peer_are_ignored,
);

const TWO_LOGINS_PER_IP: (&str, &str) = ("FERRID_RATE_LIMITS", "login_ip=2/1m");

async fn failed_login(app: &TestApp, header: (&str, &str)) -> StatusCode {
    app.http
        .post(app.url("/api/auth/login"))
        .header("X-Requested-With", "test")
        .header(header.0, header.1)
        .json(&json!({ "email": "nobody@example.com", "password": "wrong password" }))
        .send()
        .await
        .unwrap()
        .status()
}

async fn login_audit_addresses(app: &TestApp) -> Vec<Option<String>> {
    let query = ferrid::audit::AuditQuery {
        kind: Some(ferrid::audit::kinds::AUTH_LOGIN.to_owned()),
        limit: 100,
        ..Default::default()
    };
    app.state.audit.query(&query).await.unwrap().into_iter().map(|record| record.event.actor.origin.ip).collect()
}

async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget_and_audit_address(backend: Backend) {
    // The test client connects from 127.0.0.1, standing in for the proxy.
    let app = spawn_app_with(backend, &[TWO_LOGINS_PER_IP, ("FERRID_TRUSTED_PROXIES", "127.0.0.0/8, ::1")]).await;
    // The client put a spoofed address first; the proxy appended the one it saw.
    let first = ("X-Forwarded-For", "6.6.6.6, 203.0.113.9");
    assert_eq!(failed_login(&app, first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(failed_login(&app, first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(failed_login(&app, first).await, StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy has a budget of its own.
    assert_eq!(failed_login(&app, ("X-Forwarded-For", "203.0.113.10")).await, StatusCode::UNAUTHORIZED);

    let addresses = login_audit_addresses(&app).await;
    assert!(addresses.contains(&Some("203.0.113.9".to_owned())), "{addresses:?}");
    assert!(addresses.contains(&Some("203.0.113.10".to_owned())), "{addresses:?}");
    assert!(!addresses.iter().flatten().any(|ip| ip == "6.6.6.6" || ip == "127.0.0.1"), "{addresses:?}");

    // Only the configured header counts: `Forwarded` passes through a proxy that maintains
    // X-Forwarded-For untouched, so a client could write anything in it.
    assert_eq!(failed_login(&app, ("Forwarded", "for=198.51.100.1")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(failed_login(&app, ("Forwarded", "for=198.51.100.2")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(failed_login(&app, ("Forwarded", "for=198.51.100.3")).await, StatusCode::TOO_MANY_REQUESTS);

    // RFC 7239 when configured instead.
    let app = spawn_app_with(
        backend,
        &[TWO_LOGINS_PER_IP, ("FERRID_TRUSTED_PROXIES", "127.0.0.1/32"), ("FERRID_FORWARDED_HEADER", "forwarded")],
    )
    .await;
    let header = ("Forwarded", r#"for="[2001:db8:cafe::17]:4711";proto=https"#);
    for _ in 0..2 {
        assert_eq!(failed_login(&app, header).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(failed_login(&app, header).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(failed_login(&app, ("Forwarded", "for=192.0.2.60")).await, StatusCode::UNAUTHORIZED);
    assert!(login_audit_addresses(&app).await.contains(&Some("2001:db8:cafe::17".to_owned())));
}

async fn forwarding_headers_from_an_untrusted_peer_are_ignored(backend: Backend) {
    // The proxy is elsewhere: 127.0.0.1 is a client like any other, whatever it claims.
    let app = spawn_app_with(backend, &[TWO_LOGINS_PER_IP, ("FERRID_TRUSTED_PROXIES", "10.0.0.0/8")]).await;
    assert_eq!(failed_login(&app, ("X-Forwarded-For", "203.0.113.1")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(failed_login(&app, ("X-Forwarded-For", "203.0.113.2")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(failed_login(&app, ("X-Forwarded-For", "203.0.113.3")).await, StatusCode::TOO_MANY_REQUESTS);
    let addresses = login_audit_addresses(&app).await;
    assert!(addresses.iter().all(|ip| ip.as_deref() == Some("127.0.0.1")), "{addresses:?}");
}

//! `GET /metrics`: each app counts on its own registry, in the OpenMetrics text format.

use chrono::Duration;
use ferrid::{
    maintenance::sweep,
    metrics::CONTENT_TYPE,
    oauth::{
        ClientMetadata, ClientType, GrantType, Scope,
        access_token::{AccessGrant, AccessTokenRecord},
    },
};
use keys::OpaqueSecret;
use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp, spawn_app};

on_every_backend!(metrics_count_issued_tokens_and_maintenance_sweeps);

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], CONTENT_TYPE);
    response.text().await.unwrap()
}

/// The value of one series, `name{labels}` exactly as encoded; `None` when absent.
pub fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn metrics_count_issued_tokens_and_maintenance_sweeps(backend: Backend) {
    let app = spawn_app(backend).await;
    let text = scrape(&app).await;
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(value(&text, r#"ferrid_key_ring_keys{state="active"}"#).unwrap() >= 1.0, "{text}");
    // A fresh app has counted nothing (each app has its own registry).
    assert_eq!(value(&text, r#"ferrid_tokens_issued_total{grant_type="client_credentials",token="access"}"#), None);

    let mut metadata = ClientMetadata::new("Service", ClientType::Confidential);
    metadata.grant_types = vec![GrantType::ClientCredentials];
    metadata.allowed_scopes = vec!["profile".into()];
    let (client, secret) = app.state.clients.register(metadata).await.unwrap();
    let secret = secret.unwrap().expose().to_owned();
    let response = app
        .http
        .post(app.url("/token"))
        .basic_auth(client.id.as_str(), Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let access_token = response.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();

    // One expired access token reference for the sweep to delete.
    let now = app.state.clock.now();
    let expired = AccessTokenRecord {
        digest: OpaqueSecret::generate().digest(),
        grant: AccessGrant {
            subject: client.id.as_str().to_owned(),
            client_id: client.id.as_str().to_owned(),
            scope: Scope::parse("profile").unwrap(),
            jti: "expired".into(),
            issued_at: now - Duration::hours(1),
            expires_at: now - Duration::minutes(1),
            audience: vec![app.address.clone()],
            sid: None,
            jkt: None,
        },
    };
    app.state.access_tokens.insert(&expired).await.unwrap();
    sweep(&app.state).await.unwrap();

    let text = scrape(&app).await;
    let expect = [
        (r#"ferrid_tokens_issued_total{grant_type="client_credentials",token="access"}"#, 1.0),
        (r#"ferrid_maintenance_rows_deleted_total{table="access_tokens"}"#, 1.0),
        (r#"ferrid_maintenance_rows_deleted_total{table="refresh_tokens"}"#, 0.0),
        (r#"ferrid_maintenance_rows_deleted_total{table="sessions"}"#, 0.0),
        (r#"ferrid_maintenance_sweeps_total{outcome="ok"}"#, 1.0),
        ("ferrid_maintenance_sweep_duration_seconds_count", 1.0),
    ];
    for (series, expected) in expect {
        assert_eq!(value(&text, series), Some(expected), "{series} in\n{text}");
    }
    let last_success = value(&text, "ferrid_maintenance_last_success_timestamp_seconds").unwrap();
    assert!((now.timestamp() as f64..now.timestamp() as f64 + 60.0).contains(&last_success), "{text}");
    assert_eq!(value(&text, r#"ferrid_tokens_issued_total{grant_type="client_credentials",token="refresh"}"#), None);
    // Nothing that identifies a client or carries a secret.
    for secret_or_id in [client.id.as_str(), &secret, &access_token] {
        assert!(!text.contains(secret_or_id), "{text}");
    }

    // A sweep that fails (the database is gone) is counted as an error.
    app.state.database.clone().close().await;
    assert!(sweep(&app.state).await.is_err());
    let text = scrape(&app).await;
    assert_eq!(value(&text, r#"ferrid_maintenance_sweeps_total{outcome="error"}"#), Some(1.0), "{text}");
    assert_eq!(value(&text, r#"ferrid_maintenance_sweeps_total{outcome="ok"}"#), Some(1.0), "{text}");
    assert_eq!(value(&text, "ferrid_maintenance_sweep_duration_seconds_count"), Some(2.0), "{text}");
    app.stop().await;
}

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

use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::{
    helpers::{Backend, TestApp, spawn_app, spawn_app_with},
    oidc::{PASSWORD, create_user},
};

on_every_backend!(
    metrics_count_issued_tokens_and_maintenance_sweeps,
    requests_are_counted_by_route_template_with_latency,
    sign_ins_are_counted_by_outcome,
    pool_usage_key_age_and_store_errors_are_reported,
);

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

/// The sum of every series of `name` whose labels contain all of `labels`.
fn sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let rest = series.strip_prefix(name)?;
            (rest.starts_with('{') && labels.iter().all(|label| rest.contains(label)))
                .then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

async fn requests_are_counted_by_route_template_with_latency(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
    // Two different users' paths are one route template (poem-openapi names path parameters
    // `:param0`, `:param1`…): ids never become labels.
    for id in ["0b6f8f7e-2f44-4c8a-9d1e-4f1b0a6c9e01", "5c3a1d2e-7b8f-4e6a-8c9d-0e1f2a3b4c5d"] {
        assert_eq!(app.get(&format!("/api/admin/users/{id}")).await.status(), StatusCode::UNAUTHORIZED);
    }
    // A request the framework refuses before the handler (a body that is not a form) still
    // counts under its route.
    let response =
        app.http.post(app.url("/token")).header("content-type", "text/plain").body("x").send().await.unwrap();
    assert!(response.status().is_client_error());
    let refused = response.status().as_u16();
    // Probing random paths adds no series: every unknown path is one label value.
    for path in ["/wp-admin/setup.php", "/.env", "/a/b/c"] {
        assert_eq!(app.get(path).await.status(), StatusCode::NOT_FOUND);
    }

    let text = scrape(&app).await;
    let expect = [
        (r#"ferrid_http_requests_total{route="/health",method="GET",status="200"}"#, 1.0),
        (r#"ferrid_http_requests_total{route="/api/admin/users/:param0",method="GET",status="401"}"#, 2.0),
        (r#"ferrid_http_requests_total{route="unmatched",method="GET",status="404"}"#, 3.0),
        (r#"ferrid_http_request_duration_seconds_count{route="/api/admin/users/:param0",method="GET"}"#, 2.0),
    ];
    for (series, expected) in expect {
        assert_eq!(value(&text, series), Some(expected), "{series} in\n{text}");
    }
    let token = format!(r#"ferrid_http_requests_total{{route="/token",method="POST",status="{refused}"}}"#);
    assert_eq!(value(&text, &token), Some(1.0), "{token} in\n{text}");
    assert!(value(&text, r#"ferrid_http_request_duration_seconds_sum{route="/health",method="GET"}"#).unwrap() > 0.0);
    // Every latency falls in the last bucket; the first ones are milliseconds wide.
    assert_eq!(
        value(&text, r#"ferrid_http_request_duration_seconds_bucket{le="+Inf",route="unmatched",method="GET"}"#),
        Some(3.0),
        "{text}"
    );
    for raw in ["0b6f8f7e", "wp-admin", ".env"] {
        assert!(!text.contains(raw), "{raw} in\n{text}");
    }
}

async fn sign_ins_are_counted_by_outcome(backend: Backend) {
    let app = spawn_app_with(backend, &[("FERRID_RATE_LIMITS", "login_ip_email=3/1m")]).await;
    create_user(&app, "ann@example.com").await;
    let login = |password: &'static str| {
        app.http
            .post(app.url("/api/auth/login"))
            .header("X-Requested-With", "test")
            .json(&json!({ "email": "ann@example.com", "password": password }))
            .send()
    };
    assert_eq!(login(PASSWORD).await.unwrap().status(), StatusCode::OK);
    assert_eq!(login("wrong").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(login("wrong").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(login("wrong").await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);

    let text = scrape(&app).await;
    let sign_ins = |outcome: &str| sum(&text, "ferrid_sign_ins_total", &[&format!("outcome=\"{outcome}\"")]);
    assert_eq!(sign_ins("success"), 1.0, "{text}");
    // A lock after the failures answers like a wrong password, so the two together count 2.
    assert_eq!(sign_ins("unknown_or_wrong_password") + sign_ins("locked"), 2.0, "{text}");
    assert_eq!(sign_ins("rate_limited"), 1.0, "{text}");
    assert_eq!(value(&text, r#"ferrid_rate_limited_total{scope="login_ip_email"}"#), Some(1.0), "{text}");
    assert!(!text.contains("ann@example.com"));
}

async fn pool_usage_key_age_and_store_errors_are_reported(backend: Backend) {
    let app = spawn_app(backend).await;
    let text = scrape(&app).await;
    // The default pool: 4 connections on SQLite, 10 on PostgreSQL; on SQLite the writer has one
    // more of its own.
    let configured = f64::from(app.state.config.database_max_connections);
    assert_eq!(configured, if backend == Backend::Embedded { 4.0 } else { 10.0 });
    let opened = if backend == Backend::Embedded { configured + 1.0 } else { configured };
    assert_eq!(value(&text, "ferrid_database_pool_max_connections"), Some(opened), "{text}");
    let open = sum(&text, "ferrid_database_pool_connections", &[]);
    assert!(open >= 1.0, "the pool has served requests: {text}");
    assert!(value(&text, r#"ferrid_database_pool_connections{state="in_use"}"#).is_some(), "{text}");
    assert_eq!(sum(&text, "ferrid_store_errors_total", &[]), 0.0, "{text}");
    // The ring generated at start-up: its active keys began signing moments ago.
    let since = value(&text, "ferrid_key_ring_oldest_active_key_since_timestamp_seconds").unwrap();
    let now = app.state.clock.now().timestamp() as f64;
    assert!((now - 300.0..=now).contains(&since), "{since} vs {now}");

    // A statement the database refuses is counted by its class.
    let connection = app.state.database.connection();
    let statement = sea_orm::Statement::from_string(connection.get_database_backend(), "SELECT * FROM no_such_table");
    assert!(connection.query_one_raw(statement).await.is_err());
    let text = scrape(&app).await;
    assert_eq!(value(&text, r#"ferrid_store_errors_total{store="database",operation="read"}"#), Some(1.0), "{text}");

    // A short-lived store that does not answer (Redis on a closed port): a sign-in's rate-limit
    // counters fail over to this node and the failed operation is counted.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let redis_url = format!("redis://127.0.0.1:{closed_port}");
    let app = spawn_app_with(backend, &[("FERRID_REDIS_URL", &redis_url)]).await;
    let response = app
        .http
        .post(app.url("/api/auth/login"))
        .header("X-Requested-With", "test")
        .json(&json!({ "email": "nobody@example.com", "password": "wrong" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let text = scrape(&app).await;
    assert!(value(&text, r#"ferrid_store_errors_total{store="short_lived",operation="count"}"#) >= Some(1.0), "{text}");
}

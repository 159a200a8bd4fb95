//! The audit log through `GET /api/admin/audit`: admin changes are recorded with their actor,
//! subject and origin; filters combine; cursor paging walks the log newest first; malformed
//! filters are 400; records past the retention are swept.

use chrono::Duration;
use ferrid::{
    accounts::{Email, NewUser},
    audit::{Actor, AuditEvent, kinds},
    maintenance::sweep,
    store::sql::{AuditRepository, Writer},
};
use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    admin_sessions::service_token,
    helpers::{Backend, TestApp, spawn_app},
};

on_every_backend!(
    admin_changes_are_recorded_and_queried_by_user_kind_and_time,
    the_audit_log_pages_newest_first_by_cursor,
    malformed_audit_filters_are_400,
    audit_records_past_the_retention_are_swept,
    concurrent_records_are_committed_together_and_each_is_durable_on_return,
);

async fn new_user(app: &TestApp, email: &str) -> String {
    let new = NewUser { email: Email::parse(email).unwrap(), name: None };
    app.state.accounts.create_user(new, None).await.unwrap().id.to_string()
}

async fn log_out_everywhere(app: &TestApp, token: &str, user: &str) {
    let response = app
        .http
        .post(app.url(&format!("/api/admin/users/{user}/logout-all")))
        .bearer_auth(token)
        .header("User-Agent", "audit-test/1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn audit(app: &TestApp, token: &str, query: &str) -> (StatusCode, Value) {
    let response = app.http.get(app.url(&format!("/api/admin/audit{query}"))).bearer_auth(token).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn admin_changes_are_recorded_and_queried_by_user_kind_and_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = service_token(&app).await;
    let ann = new_user(&app, "ann@example.com").await;
    let bob = new_user(&app, "bob@example.com").await;
    let before = app.state.clock.now();
    log_out_everywhere(&app, &token, &ann).await;
    log_out_everywhere(&app, &token, &bob).await;

    let (status, page) = audit(&app, &token, &format!("?user_id={ann}")).await;
    assert_eq!(status, StatusCode::OK);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    let record = &items[0];
    assert_eq!(record["kind"], kinds::ADMIN_LOGOUT_EVERYWHERE);
    assert_eq!(record["outcome"], "success");
    assert_eq!(record["user_id"], ann.as_str());
    // A service client acted: no person, the client named, and where the request came from.
    assert!(record.get("actor_user_id").is_none_or(Value::is_null), "{record}");
    assert!(record["actor_client_id"].is_string());
    assert_eq!(record["ip"], "127.0.0.1");
    assert_eq!(record["user_agent"], "audit-test/1.0");
    assert!(page.get("next_cursor").is_none_or(Value::is_null));

    let (_, by_kind) = audit(&app, &token, &format!("?kind={}", kinds::ADMIN_LOGOUT_EVERYWHERE)).await;
    let users: Vec<&str> =
        by_kind["items"].as_array().unwrap().iter().map(|r| r["user_id"].as_str().unwrap()).collect();
    assert_eq!(users, [bob.as_str(), ann.as_str()], "newest first");

    let since = (before - Duration::seconds(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (_, recent) = audit(&app, &token, &format!("?since={since}&user_id={bob}")).await;
    assert_eq!(recent["items"].as_array().unwrap().len(), 1);
    let until = since;
    let (_, older) = audit(&app, &token, &format!("?until={until}")).await;
    assert!(older["items"].as_array().unwrap().is_empty(), "{older}");
    let (_, none) = audit(&app, &token, &format!("?kind=admin.user.delete&user_id={ann}")).await;
    assert!(none["items"].as_array().unwrap().is_empty());
}

async fn the_audit_log_pages_newest_first_by_cursor(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = service_token(&app).await;
    let user = new_user(&app, "ann@example.com").await;
    for _ in 0..5 {
        log_out_everywhere(&app, &token, &user).await;
    }
    let mut seen = Vec::new();
    let mut query = format!("?user_id={user}&limit=2");
    loop {
        let (status, page) = audit(&app, &token, &query).await;
        assert_eq!(status, StatusCode::OK);
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|r| (r["id"].as_str().unwrap().to_owned(), r["occurred_at"].clone())));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?user_id={user}&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "every record exactly once: {seen:?}");
    let mut ids: Vec<&String> = seen.iter().map(|(id, _)| id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 5);
    assert!(seen.windows(2).all(|w| w[0].0 > w[1].0), "newest first: {seen:?}");
}

async fn malformed_audit_filters_are_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = service_token(&app).await;
    for query in ["?user_id=not-a-uuid", "?cursor=nope", "?limit=0", "?limit=201", "?since=yesterday"] {
        let response =
            app.http.get(app.url(&format!("/api/admin/audit{query}"))).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
    }
}

async fn audit_records_past_the_retention_are_swept(backend: Backend) {
    let app = spawn_app(backend).await;
    let repository =
        AuditRepository::new(app.state.database.connection().clone(), Writer::new(app.state.database.writer().clone()));
    let now = app.state.clock.now();
    let event = AuditEvent::new(kinds::ADMIN_USER_DISABLE, &Actor::system());
    // The default retention is 365 days.
    let old = (uuid::Uuid::now_v7(), now - Duration::days(366), event.clone());
    let recent = (uuid::Uuid::now_v7(), now - Duration::days(364), event);
    tokio::join!(repository.append(old), repository.append(recent));
    assert_eq!(sweep(&app.state).await.unwrap().audit_events, 1);
    let query = ferrid::audit::AuditQuery { limit: 10, ..Default::default() };
    let left = app.state.audit.query(&query).await.unwrap();
    assert_eq!(left.len(), 1);
    assert!(left[0].occurred_at > now - Duration::days(365));
}

/// DESIGN §7.5 for the group-commit writer: many records made at once share commits, yet every
/// `record` returns only after its own row is in the database, and none is lost or doubled.
async fn concurrent_records_are_committed_together_and_each_is_durable_on_return(backend: Backend) {
    // One page of the audit query holds them all.
    const RECORDS: i64 = ferrid::audit::MAX_PAGE as i64;
    let app = spawn_app(backend).await;
    let target = uuid::Uuid::new_v4().to_string();
    let recorders = (0..RECORDS).map(|n| {
        let (audit, target) = (app.state.audit.clone(), target.clone());
        tokio::spawn(async move {
            let mut event = AuditEvent::new(kinds::ADMIN_USER_DISABLE, &Actor::system());
            event.target = Some(target.clone());
            event.details = Some(serde_json::json!({ "n": n }));
            audit.record(event).await;
            // Durable on return: this record is readable now, whatever the others are doing.
            let query = ferrid::audit::AuditQuery { limit: RECORDS as u64, ..Default::default() };
            let found = audit.query(&query).await.unwrap();
            assert!(found.iter().any(|r| r.event.details == Some(serde_json::json!({ "n": n }))), "record {n} missing");
        })
    });
    for recorder in recorders {
        recorder.await.unwrap();
    }
    let query = ferrid::audit::AuditQuery { limit: RECORDS as u64, ..Default::default() };
    let mut numbers: Vec<i64> = app
        .state
        .audit
        .query(&query)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.event.target.as_deref() == Some(target.as_str()))
        .map(|r| r.event.details.unwrap()["n"].as_i64().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..RECORDS).collect::<Vec<_>>());
}

//! Suspicious refreshes (issue 8 item 6, seed 002's IP and fingerprint checks): a refresh token
//! used from another network (IPv4 /24) or user agent than the family's last use is recorded in
//! the audit log, and the client's policy decides — `allow`, `notify` (a mail to the user) or
//! `reauthenticate` (`invalid_grant` and the family revoked, RFC 6749 §5.2 / RFC 9700 §4.14.2).
//! The new network is a second loopback address (127.0.1.x is another /24 than 127.0.0.1).

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
};

use ferrid::{
    audit::{AuditQuery, Outcome},
    clock::SystemClock,
    oauth::{ClientMetadata, ClientType, GrantType, RedirectUri, RefreshOriginPolicy},
};
use reqwest::{StatusCode, header};
use serde_json::Value;

use crate::{
    browser::Browser,
    helpers::{Backend, TestApp, TestResources, start_app_adjusted},
    oidc::{PASSWORD, REDIRECT, authorize_url, create_user},
    password_reset::quick_mail,
    smtp_sink::SmtpSink,
};

on_every_backend!(
    a_new_user_agent_is_recorded_and_allowed_by_default,
    notify_mails_the_user_about_a_new_network,
    reauthenticate_refuses_the_refresh_and_revokes_the_family,
);

const KIND: &str = "token.refresh.new_origin";
const APP_UA: &str = "PhotoApp/1.0 (Android 14)";

struct Rig {
    app: TestApp,
    client_id: String,
}

async fn rig(backend: Backend, sink: &SmtpSink, policy: RefreshOriginPolicy) -> Rig {
    let url = sink.url();
    let app = start_app_adjusted(
        TestResources::create(backend).await,
        &[("FERRID_SMTP_URL", &url)],
        Arc::new(SystemClock),
        quick_mail,
    )
    .await
    .unwrap();
    create_user(&app, "ann@example.com").await;
    let mut metadata = ClientMetadata::new("Photo app", ClientType::Public);
    metadata.redirect_uris.push(RedirectUri::parse(REDIRECT).unwrap());
    metadata.grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
    metadata.first_party = true;
    metadata.refresh_origin_policy = policy;
    let (client, _) = app.state.clients.register(metadata).await.unwrap();
    Rig { client_id: client.id.as_str().to_owned(), app }
}

/// An HTTP client that connects from `local` (a loopback address) and sends `user_agent`.
fn device(local: Ipv4Addr, user_agent: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(local))
        .default_headers([(header::USER_AGENT, user_agent.parse().unwrap())].into_iter().collect())
        .build()
        .unwrap()
}

fn home() -> reqwest::Client {
    device(Ipv4Addr::LOCALHOST, APP_UA)
}

async fn post_token(rig: &Rig, http: &reqwest::Client, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut form = form.to_vec();
    form.push(("client_id", &rig.client_id));
    let response = http.post(rig.app.url("/token")).form(&form).send().await.unwrap();
    (response.status(), response.json().await.unwrap_or(Value::Null))
}

/// Ann signs in; the app redeems the code from home and holds the refresh token.
async fn refresh_token(rig: &Rig) -> String {
    let (url, verifier) = authorize_url(&rig.app, &rig.client_id, "openid offline_access", &[]);
    let code = Browser::new(&rig.app.address).sign_in(&url, "ann@example.com", PASSWORD).await.code();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, body) = post_token(rig, &home(), &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["refresh_token"].as_str().unwrap().to_owned()
}

async fn refresh(rig: &Rig, http: &reqwest::Client, token: &str) -> (StatusCode, Value) {
    post_token(rig, http, &[("grant_type", "refresh_token"), ("refresh_token", token)]).await
}

async fn new_origin_records(rig: &Rig) -> Vec<ferrid::audit::AuditRecord> {
    let query = AuditQuery { kind: Some(KIND.to_owned()), limit: 50, ..AuditQuery::default() };
    rig.app.state.audit.query(&query).await.unwrap()
}

async fn a_new_user_agent_is_recorded_and_allowed_by_default(backend: Backend) {
    let sink = SmtpSink::start().await;
    let rig = rig(backend, &sink, RefreshOriginPolicy::Allow).await;
    let token = refresh_token(&rig).await;

    // Same network, same app (a newer version is the same fingerprint): nothing to record.
    let (status, body) = refresh(&rig, &device(Ipv4Addr::LOCALHOST, "PhotoApp/1.1 (Android 14)"), &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(new_origin_records(&rig).await.is_empty());

    // Another user agent: recorded, and allowed.
    let token = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = refresh(&rig, &device(Ipv4Addr::LOCALHOST, "curl/8.5.0"), &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let records = new_origin_records(&rig).await;
    assert_eq!(records.len(), 1, "{records:?}");
    let event = &records[0].event;
    assert_eq!(event.outcome, Outcome::Success);
    assert_eq!(event.client_id.as_deref(), Some(rig.client_id.as_str()));
    let details = event.details.clone().unwrap();
    assert_eq!((details["policy"].as_str(), details["user_agent_changed"].as_bool()), (Some("allow"), Some(true)));
    assert_eq!(details["network_changed"], false);
    assert!(!format!("{records:?}").contains(&token), "no token in the audit log");
    assert!(sink.messages().is_empty(), "allow sends no mail");
}

async fn notify_mails_the_user_about_a_new_network(backend: Backend) {
    let sink = SmtpSink::start().await;
    let rig = rig(backend, &sink, RefreshOriginPolicy::Notify).await;
    let token = refresh_token(&rig).await;

    let elsewhere = device(Ipv4Addr::new(127, 0, 1, 7), APP_UA);
    let (status, body) = refresh(&rig, &elsewhere, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let records = new_origin_records(&rig).await;
    assert_eq!(records.len(), 1, "{records:?}");
    let details = records[0].event.details.clone().unwrap();
    assert_eq!((details["policy"].as_str(), details["network_changed"].as_bool()), (Some("notify"), Some(true)));

    let messages = sink.wait_for(1).await;
    assert_eq!(messages[0].rcpt_to, vec!["<ann@example.com>".to_owned()], "{messages:?}");
    let mail = messages[0].decoded();
    assert!(mail.contains("new device or network"), "{mail}");
    assert!(mail.contains("127.0.1.0/24") && mail.contains("Photo app"), "{mail}");
    assert!(!mail.contains(&token), "no token in the mail");

    // From the new network again: no longer new.
    let token = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, _) = refresh(&rig, &elsewhere, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(new_origin_records(&rig).await.len(), 1);
}

async fn reauthenticate_refuses_the_refresh_and_revokes_the_family(backend: Backend) {
    let sink = SmtpSink::start().await;
    let rig = rig(backend, &sink, RefreshOriginPolicy::Reauthenticate).await;
    let token = refresh_token(&rig).await;

    // From home the family goes on.
    let (status, body) = refresh(&rig, &home(), &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["refresh_token"].as_str().unwrap().to_owned();

    // From another network: refused, and the grant is gone (RFC 6749 §5.2 invalid_grant).
    let (status, body) = refresh(&rig, &device(Ipv4Addr::new(127, 0, 1, 9), APP_UA), &token).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    let records = new_origin_records(&rig).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].event.outcome, Outcome::Failure);
    assert_eq!(records[0].event.details.clone().unwrap()["policy"], "reauthenticate");

    // Even the legitimate app, back home, must sign in again: the family is revoked.
    let (status, body) = refresh(&rig, &home(), &token).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    let live = rig.app.state.refresh_tokens.unrevoked_families_of(records[0].event.subject_user.unwrap()).await;
    assert!(live.unwrap().is_empty());
}

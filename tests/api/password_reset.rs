//! Password reset by mail (issue 7 item 5) through a real SMTP sink: the mailed link opens a
//! page that works without JavaScript, the new password replaces the old one and every earlier
//! sign-in ends; the token is single use (DESIGN §7.1), expires after 10 minutes, and survives a
//! refused password. The request and the email hint answer the same for every address and
//! number (DESIGN §7.2).

use std::{sync::Arc, time::Duration};

use chrono::{TimeZone, Utc};
use ferrid::{
    accounts::{Email, NewUser, Password, UserChanges},
    app::AppState,
    clock::{Clock, FixedClock, SystemClock},
    oauth::ClientType,
};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use futures::FutureExt;

use crate::{
    accounts::{fastest, similar},
    admin_sessions::{refresh, sign_in, still_signed_in, user_id},
    browser::{Browser, Landing, hidden},
    helpers::{Backend, TestApp, TestResources, start_app_adjusted},
    oidc::{PASSWORD, authorize_url, create_client, create_user},
    smtp_sink::{Received, SmtpSink},
};

on_every_backend!(
    the_mailed_link_sets_a_new_password_without_javascript_and_ends_every_sign_in,
    the_request_answers_the_same_for_unknown_addresses_and_mails_nobody,
    a_token_is_single_use_also_under_concurrency_design_7_1,
    a_token_expires_after_ten_minutes,
    the_email_hint_answers_the_same_and_mails_only_verified_owners,
);

const NEW_PASSWORD: &str = "a brand new passphrase 42";

/// Delivers mail quickly: polls every 50 ms.
pub(crate) fn quick_mail(state: &mut AppState) {
    let policy = &mut state.mail_sender.policy;
    policy.retry_after = Duration::from_millis(100);
    policy.max_retry_after = Duration::from_millis(400);
    policy.poll_every = Duration::from_millis(50);
}

async fn start(backend: Backend, sink: &SmtpSink, clock: Arc<dyn Clock>) -> TestApp {
    let url = sink.url();
    start_app_adjusted(TestResources::create(backend).await, &[("FERRID_SMTP_URL", &url)], clock, quick_mail)
        .await
        .unwrap()
}

pub(crate) async fn ask_for_reset(app: &TestApp, email: &str) -> (StatusCode, String) {
    let response = app.http.post(app.url("/api/password/reset")).json(&json!({ "email": email })).send().await.unwrap();
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    (response.status(), response.text().await.unwrap())
}

/// The path and query of the reset link in a mail.
pub(crate) fn reset_link(message: &Received) -> String {
    let data = message.decoded();
    let start = data.find("/password/reset?token=").unwrap_or_else(|| panic!("no reset link in {data}"));
    data[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || "/?=_-".contains(*c)).collect()
}

pub(crate) fn token_of(link: &str) -> String {
    link.split_once("token=").unwrap().1.to_owned()
}

pub(crate) async fn confirm(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.http
        .post(app.url("/api/password/reset/confirm"))
        .json(&json!({ "token": token, "new_password": password }))
        .send()
        .await
        .unwrap()
}

fn page(landing: Landing) -> (StatusCode, String) {
    match landing {
        Landing::Page { status, html } => (status, html),
        other => panic!("expected a page, got {other:?}"),
    }
}

async fn the_mailed_link_sets_a_new_password_without_javascript_and_ends_every_sign_in(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = start(backend, &sink, Arc::new(SystemClock)).await;
    create_user(&app, "ann@example.com").await;
    let client = create_client(&app, ClientType::Confidential).await;
    let (old_browser, old_tokens) = sign_in(&app, &client, "ann@example.com", "openid offline_access").await;
    assert!(still_signed_in(&app, &old_browser, &client.0).await);

    // The login page leads to the form that asks for the link.
    let browser = Browser::new(&app.address);
    let (url, _) = authorize_url(&app, &client.0, "openid", &[]);
    let (_, login) = page(browser.follow(url).await);
    assert!(login.contains("href=\"/password/forgot\""), "{login}");
    let (status, forgot) = page(browser.follow(app.url("/password/forgot")).await);
    assert_eq!(status, StatusCode::OK);
    let csrf = hidden(&forgot, "csrf");
    let (status, sent) =
        page(browser.submit("/password/forgot", &[("csrf", &csrf), ("email", "Ann@Example.com")]).await);
    assert_eq!(status, StatusCode::OK);
    assert!(sent.contains("If an account exists"), "{sent}");

    let messages = sink.wait_for(1).await;
    assert_eq!(messages[0].rcpt_to, ["<ann@example.com>"]);
    assert!(messages[0].decoded().contains("Subject: Reset your ferrid password"));
    let link = reset_link(&messages[0]);
    assert_eq!(token_of(&link).len(), 43, "256 bits, base64url");

    // The page behind the link: no-store and no referrer, since the token is in the URL.
    let response = browser.http.get(app.url(&link)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    let form = response.text().await.unwrap();
    assert!(form.contains("action=\"/password/reset\"") && !form.contains("<script"), "{form}");
    let (token, csrf) = (hidden(&form, "token"), hidden(&form, "csrf"));
    let submit = |password: &'static str, repeated: &'static str| {
        let (token, csrf, browser) = (token.clone(), csrf.clone(), &browser);
        async move {
            let fields = [("token", token.as_str()), ("csrf", &csrf), ("password", password), ("confirm", repeated)];
            page(browser.submit("/password/reset", &fields).await)
        }
    };

    // A refused password shows the form again with the reason, and the link still works.
    let (status, again) = submit("short", "short").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(again.contains("at least 10 characters") && again.contains("name=\"token\""), "{again}");
    let (status, again) = submit(NEW_PASSWORD, "another passphrase 42").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(again.contains("do not match"), "{again}");
    // Without the CSRF cookie's twin, nothing happens.
    let forged = [("token", token.as_str()), ("csrf", "x"), ("password", NEW_PASSWORD), ("confirm", NEW_PASSWORD)];
    assert_eq!(page(browser.submit("/password/reset", &forged).await).0, StatusCode::FORBIDDEN);

    let (status, done) = submit(NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert!(done.contains("Password changed"), "{done}");

    // The link worked once.
    let (status, used) = submit(NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(used.contains("does not work any more"), "{used}");
    assert_eq!(page(browser.follow(app.url(&link)).await).0, StatusCode::BAD_REQUEST);

    // Only the new password signs in.
    let (url, _) = authorize_url(&app, &client.0, "openid", &[]);
    let (status, _) = page(Browser::new(&app.address).sign_in(&url, "ann@example.com", PASSWORD).await);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (url, _) = authorize_url(&app, &client.0, "openid", &[]);
    let landing = Browser::new(&app.address).sign_in(&url, "ann@example.com", NEW_PASSWORD).await;
    assert!(landing.param("code").is_some(), "{landing:?}");

    // Every earlier sign-in is over: the browser session and the refresh family.
    assert!(!still_signed_in(&app, &old_browser, &client.0).await);
    let response = refresh(&app, &client, &old_tokens).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_grant");

    // The owner hears of the change.
    let messages = sink.wait_for(2).await;
    assert!(messages[1].decoded().contains("Subject: Your ferrid password was changed"));
    let ann = user_id(&app, "ann@example.com").await;
    let audit = app
        .state
        .audit
        .query(&ferrid::audit::AuditQuery { kind: Some("password.reset".to_owned()), limit: 5, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].event.subject_user.map(|u| u.to_string()), Some(ann));
    assert!(!format!("{:?}", audit[0]).contains(&token_of(&link)), "no token in the audit log");
    app.stop().await;
}

async fn the_request_answers_the_same_for_unknown_addresses_and_mails_nobody(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = start(backend, &sink, Arc::new(SystemClock)).await;
    create_user(&app, "ann@example.com").await;

    let unknown = ask_for_reset(&app, "nobody@example.com").await;
    let malformed = ask_for_reset(&app, "not an address").await;
    let known = ask_for_reset(&app, "ann@example.com").await;
    assert_eq!(known.0, StatusCode::ACCEPTED);
    assert_eq!(unknown, known, "DESIGN §7.2: same status and body");
    assert_eq!(malformed, known);

    // Similar timing too: the lookup and the mail happen after the answer.
    let timed = |email: &'static str| {
        let app = &app;
        move |_| {
            app.http.post(app.url("/api/password/reset")).json(&json!({ "email": email })).send().map(Result::unwrap)
        }
    };
    let (known_time, known_status, known_body) = fastest(timed("ann@example.com")).await;
    let (unknown_time, unknown_status, unknown_body) = fastest(timed("nobody@example.com")).await;
    assert_eq!((known_status, &known_body), (unknown_status, &unknown_body));
    assert!(similar(known_time, unknown_time), "known {known_time:?} vs unknown {unknown_time:?}");

    // Requests within the minute are accepted the same way but send nothing more.
    assert_eq!(ask_for_reset(&app, "ann@example.com").await, known);
    let messages = sink.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let messages = if sink.messages().len() > messages.len() { sink.messages() } else { messages };
    assert_eq!(messages.len(), 1, "one mail, to the account holder only");
    assert_eq!(messages[0].rcpt_to, ["<ann@example.com>"]);

    // A disabled account gets nothing either.
    let ann = app.state.accounts.find_by_email(&Email::parse("ann@example.com").unwrap()).await.unwrap();
    app.state.accounts.set_disabled(ann.id, true).await.unwrap();
    let new = NewUser::new(Email::parse("bob@example.com").unwrap(), None).unwrap();
    let bob = app.state.accounts.create_user(new, Some(Password::new(PASSWORD))).await.unwrap();
    app.state.accounts.set_disabled(bob.id, true).await.unwrap();
    assert_eq!(ask_for_reset(&app, "bob@example.com").await, known);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.messages().len(), 1);
    app.stop().await;
}

async fn a_token_is_single_use_also_under_concurrency_design_7_1(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = start(backend, &sink, Arc::new(SystemClock)).await;
    create_user(&app, "ann@example.com").await;
    ask_for_reset(&app, "ann@example.com").await;
    let token = token_of(&reset_link(&sink.wait_for(1).await[0]));

    // The policy refuses the password: 400 weak_password, and the token is not used up.
    let response = confirm(&app, &token, "ann-example-password").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], "weak_password");
    assert!(!error.to_string().contains("ann-example-password"), "the password is not echoed");

    let (a, b) = tokio::join!(confirm(&app, &token, NEW_PASSWORD), confirm(&app, &token, "another passphrase 42"));
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::NO_CONTENT, StatusCode::BAD_REQUEST], "exactly one confirmation wins");

    let response = confirm(&app, &token, NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_token");
    let response = confirm(&app, "made-up-token", NEW_PASSWORD).await;
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_token");
    app.stop().await;
}

async fn a_token_expires_after_ten_minutes(backend: Backend) {
    let sink = SmtpSink::start().await;
    let clock = Arc::new(FixedClock::at(Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap()));
    let app = start(backend, &sink, clock.clone()).await;
    create_user(&app, "ann@example.com").await;
    ask_for_reset(&app, "ann@example.com").await;
    let link = reset_link(&sink.wait_for(1).await[0]);

    clock.advance(chrono::Duration::seconds(9 * 60 + 59));
    assert_eq!(app.get(&link).await.status(), StatusCode::OK, "still valid just before 10 minutes");
    clock.advance(chrono::Duration::seconds(1));
    let response = app.get(&link).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("does not work any more"));
    let response = confirm(&app, &token_of(&link), NEW_PASSWORD).await;
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_token");
    app.stop().await;
}

async fn hint(app: &TestApp, phone: &str) -> (StatusCode, String) {
    let response =
        app.http.post(app.url("/api/account/email-hint")).json(&json!({ "phone": phone })).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn the_email_hint_answers_the_same_and_mails_only_verified_owners(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = start(backend, &sink, Arc::new(SystemClock)).await;
    create_user(&app, "ann@example.com").await;
    let new = NewUser::new(Email::parse("unverified@example.com").unwrap(), None).unwrap();
    let unverified = app.state.accounts.create_user_verified(new, None, false).await.unwrap();
    let ann = app.state.accounts.find_by_email(&Email::parse("ann@example.com").unwrap()).await.unwrap();
    for (user, phone) in [(ann.id, "+1 (555) 010-0000"), (unverified.id, "+1 555 010 0000")] {
        let changes = UserChanges { phone: Some(Some(phone.to_owned())), ..Default::default() };
        app.state.accounts.update_user(user, &changes).await.unwrap();
    }

    let nobody = hint(&app, "+44 20 7946 0000").await;
    let garbage = hint(&app, "call me maybe").await;
    let owner = hint(&app, "+1.555.010.0000").await;
    assert_eq!(owner.0, StatusCode::ACCEPTED);
    assert_eq!(nobody, owner, "DESIGN §7.2: the same answer");
    assert_eq!(garbage, owner);

    let messages = sink.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.messages().len(), 1, "only the verified owner is mailed: {messages:?}");
    assert_eq!(messages[0].rcpt_to, ["<ann@example.com>"]);
    let data = messages[0].decoded();
    assert!(data.contains("Subject: The email address of your ferrid account"), "{data}");
    assert!(data.contains("ann@example.com"));

    // Asking again for the same number within the window mails nobody.
    assert_eq!(hint(&app, "+15550100000").await, owner);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.messages().len(), 1);
    app.stop().await;
}

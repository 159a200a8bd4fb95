//! Email delivery through the outbox: delivered over real SMTP (a sink started by the test) with
//! both parts, kept through an outage, given up after the last attempt, sent once by two nodes
//! sharing a database, and written as .eml files without SMTP.

use std::{sync::Arc, time::Duration};

use ferrid::{
    app::AppState,
    clock::{Clock, FixedClock, SystemClock},
    config::Sensitive,
    mail::{Mail, MailStatus},
    maintenance::sweep,
    store::{Database, sql::MailOutboxRepository},
};
use sea_orm::EntityTrait;
use url::Url;
use uuid::Uuid;

use crate::{
    helpers::{Backend, TestApp, TestResources, spawn_app, start_app, start_app_adjusted},
    smtp_sink::SmtpSink,
};

on_every_backend!(
    a_mail_is_delivered_over_smtp_with_text_and_html_parts,
    an_outage_keeps_the_mail_queued_until_the_relay_recovers,
    a_mail_is_dead_after_the_last_attempt,
    two_nodes_on_one_database_deliver_each_mail_once,
    a_claim_left_by_a_crashed_node_lapses_and_the_mail_is_sent,
    without_smtp_mails_are_written_as_eml_files,
    finished_mails_are_swept_after_a_week,
);

fn verification(to: &str, code: &str) -> Mail {
    let link = Url::parse(&format!("https://id.example.com/verify?token=t{code}")).unwrap();
    Mail::verify_email(to.parse().unwrap(), code, &link, 10).unwrap()
}

/// Retries after 100 ms instead of 30 s, and polls every 50 ms.
pub fn quick_retries(state: &mut AppState) {
    let policy = &mut state.mail_sender.policy;
    policy.retry_after = Duration::from_millis(100);
    policy.max_retry_after = Duration::from_millis(400);
    policy.poll_every = Duration::from_millis(50);
}

async fn start(resources: TestResources, extra: &[(&str, &str)]) -> TestApp {
    start_app_adjusted(resources, extra, Arc::new(SystemClock), quick_retries).await.unwrap()
}

async fn wait_for_status(app: &TestApp, id: Uuid, status: MailStatus) -> ferrid::mail::OutboxEntry {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let entry = app.state.outbox.find(id).await.unwrap().unwrap();
        if entry.status == status {
            return entry;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {entry:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn metric(app: &TestApp, line_start: &str) -> Option<f64> {
    let text = app.state.metrics.encode().unwrap();
    text.lines().find_map(|line| line.strip_prefix(line_start)?.trim().parse().ok())
}

async fn a_mail_is_delivered_over_smtp_with_text_and_html_parts(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = start(TestResources::create(backend).await, &[("FERRID_SMTP_URL", &url)]).await;

    let id = app.state.outbox.enqueue(verification("Ann Lee <ann@example.com>", "493817")).await.unwrap();

    let messages = sink.wait_for(1).await;
    let message = &messages[0];
    let host = Url::parse(&app.address).unwrap().host_str().unwrap().to_owned();
    assert_eq!(message.mail_from, format!("<no-reply@{host}>"));
    assert_eq!(message.rcpt_to, ["<ann@example.com>"]);
    let data = message.decoded();
    assert!(data.contains(&format!("From: ferrid <no-reply@{host}>\r\n")), "{data}");
    assert!(
        data.contains("To: \"Ann Lee\" <ann@example.com>\r\n") || data.contains("To: Ann Lee <ann@example.com>\r\n"),
        "{data}"
    );
    assert!(data.contains("Subject: Your ferrid verification code\r\n"), "{data}");
    assert!(data.contains(&format!("Message-ID: <{id}@{host}>")), "{data}");
    assert!(data.contains("Content-Type: multipart/alternative"), "{data}");
    let text_part = data.find("Content-Type: text/plain").expect("a text part");
    let html_part = data.find("Content-Type: text/html").expect("an HTML part");
    assert!(text_part < html_part, "RFC 2046 §5.1.4: the preferred (HTML) part comes last");
    assert!(data[text_part..html_part].contains("493817"));
    assert!(data[text_part..html_part].contains("https://id.example.com/verify?token=t493817"));
    assert!(data[html_part..].contains("493817"));
    assert!(data[html_part..].contains("href=\"https://id.example.com/verify?token=t493817\""));

    let entry = wait_for_status(&app, id, MailStatus::Sent).await;
    assert_eq!(entry.attempts, 1);
    assert!(entry.sent_at.is_some() && entry.last_error.is_none());
    assert_eq!(metric(&app, "ferrid_mail_sent_total "), Some(1.0));
    assert_eq!(stored_bodies(&app, id).await, ("".to_owned(), "".to_owned()), "the code is not kept once sent");
}

/// The bodies as stored in the outbox row.
async fn stored_bodies(app: &TestApp, id: Uuid) -> (String, String) {
    let row = entity::mail_outbox::Entity::find_by_id(id).one(app.state.database.connection()).await.unwrap().unwrap();
    (row.text_body, row.html_body)
}

async fn an_outage_keeps_the_mail_queued_until_the_relay_recovers(backend: Backend) {
    let sink = SmtpSink::start().await;
    sink.refuse_next(2);
    let url = sink.url();
    let app = start(TestResources::create(backend).await, &[("FERRID_SMTP_URL", &url)]).await;

    let id = app.state.outbox.enqueue(verification("ann@example.com", "111111")).await.unwrap();

    let messages = sink.wait_for(1).await;
    assert!(messages[0].decoded().contains("111111"));
    let entry = wait_for_status(&app, id, MailStatus::Sent).await;
    assert_eq!(entry.attempts, 3, "two refused attempts, then delivered");
    assert_eq!(metric(&app, r#"ferrid_mail_failed_total{outcome="retry"} "#), Some(2.0));
    assert_eq!(metric(&app, "ferrid_mail_sent_total "), Some(1.0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 1, "a delivered mail is not sent again");
}

async fn a_mail_is_dead_after_the_last_attempt(backend: Backend) {
    let sink = SmtpSink::start().await;
    sink.refuse_next(usize::MAX);
    let url = sink.url();
    let app =
        start(TestResources::create(backend).await, &[("FERRID_SMTP_URL", &url), ("FERRID_MAIL_MAX_ATTEMPTS", "3")])
            .await;

    let id = app.state.outbox.enqueue(verification("ann@example.com", "222222")).await.unwrap();

    let entry = wait_for_status(&app, id, MailStatus::Dead).await;
    assert_eq!(entry.attempts, 3);
    assert_eq!(stored_bodies(&app, id).await, ("".to_owned(), "".to_owned()), "nor once given up");
    let error = entry.last_error.unwrap();
    assert!(error.contains("451"), "{error}");
    assert!(!error.contains("222222"), "no body in the error");
    assert_eq!(metric(&app, r#"ferrid_mail_failed_total{outcome="dead"} "#), Some(1.0));
    assert_eq!(metric(&app, r#"ferrid_mail_failed_total{outcome="retry"} "#), Some(2.0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.state.outbox.find(id).await.unwrap().unwrap().attempts, 3, "a dead mail is not retried");
    assert!(sink.messages().is_empty());
}

async fn two_nodes_on_one_database_deliver_each_mail_once(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let resources = TestResources::create(backend).await;
    let shared = resources.share();
    let first = start(resources, &[("FERRID_SMTP_URL", &url)]).await;
    let second = start(shared, &[("FERRID_SMTP_URL", &url)]).await;

    let mut ids = Vec::new();
    for n in 0..10 {
        let node = if n % 2 == 0 { &first } else { &second };
        ids.push(
            node.state.outbox.enqueue(verification(&format!("user{n}@example.com"), &format!("{n:06}"))).await.unwrap(),
        );
    }

    sink.wait_for(ids.len()).await;
    for id in &ids {
        wait_for_status(&first, *id, MailStatus::Sent).await;
    }
    // Both nodes keep polling; give a duplicate the chance to show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let messages = sink.messages();
    assert_eq!(messages.len(), ids.len(), "each mail exactly once");
    let mut recipients: Vec<_> = messages.iter().map(|m| m.rcpt_to.join(",")).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), ids.len());
    let sent = metric(&first, "ferrid_mail_sent_total ").unwrap() + metric(&second, "ferrid_mail_sent_total ").unwrap();
    assert_eq!(sent, 10.0);
    second.stop().await;
}

async fn a_claim_left_by_a_crashed_node_lapses_and_the_mail_is_sent(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let resources = TestResources::create(backend).await;
    // A node that enqueued a mail and claimed it for a second, then died before sending.
    let database = Database::connect(&Sensitive::new(resources.database_url.clone()), 2).await.unwrap();
    database.migrate_up(None).await.unwrap();
    let crashed = MailOutboxRepository::new(database.connection().clone());
    let id = Uuid::now_v7();
    let now = SystemClock.now();
    crashed.insert(id, &verification("ann@example.com", "444444"), now).await.unwrap();
    let claim = crashed.claim(id, now, now + chrono::Duration::seconds(1)).await.unwrap().unwrap();
    assert_eq!(claim.attempt, 1);
    assert!(crashed.claim(id, now, now).await.unwrap().is_none(), "a claimed mail is not claimed twice");
    database.close().await;

    let app = start(resources, &[("FERRID_SMTP_URL", &url)]).await;

    assert!(sink.wait_for(1).await[0].decoded().contains("444444"));
    let entry = wait_for_status(&app, id, MailStatus::Sent).await;
    assert_eq!(entry.attempts, 2);
}

async fn without_smtp_mails_are_written_as_eml_files(backend: Backend) {
    let app = spawn_app(backend).await;

    let id = app.state.outbox.enqueue(verification("Ann <ann@example.com>", "333333")).await.unwrap();

    wait_for_status(&app, id, MailStatus::Sent).await;
    let path = app.state.config.data_dir.join("mail").join(format!("{id}.eml"));
    let eml = std::fs::read_to_string(&path).unwrap();
    assert!(eml.contains("To: Ann <ann@example.com>\r\n"), "{eml}");
    assert!(eml.contains("Subject: Your ferrid verification code\r\n"), "{eml}");
    assert!(eml.contains("Content-Type: multipart/alternative"), "{eml}");
    assert!(eml.contains("Content-Type: text/plain") && eml.contains("Content-Type: text/html"), "{eml}");
    assert!(eml.contains("333333"), "{eml}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

async fn finished_mails_are_swept_after_a_week(backend: Backend) {
    let clock = FixedClock::at(SystemClock.now());
    let app = start_app(TestResources::create(backend).await, &[], Arc::new(clock.clone())).await.unwrap();
    let id = app.state.outbox.enqueue(verification("ann@example.com", "555555")).await.unwrap();
    wait_for_status(&app, id, MailStatus::Sent).await;

    clock.advance(chrono::Duration::days(6));
    assert_eq!(sweep(&app.state).await.unwrap().mail_outbox, 0, "kept for a week");
    clock.advance(chrono::Duration::days(2));
    assert_eq!(sweep(&app.state).await.unwrap().mail_outbox, 1);
    assert!(app.state.outbox.find(id).await.unwrap().is_none());
}

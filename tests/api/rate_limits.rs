//! Rate limits and sign-in delays (issue 8 items 1 and 2): budgets per scope with the
//! draft-ietf-httpapi-ratelimit-headers on every answer of a limited route, each route's 429
//! shape, one budget across two nodes sharing Redis (DESIGN §7.7), a Redis outage through a TCP
//! proxy the test cuts and restores (local limits, no 5xx, `degraded` on /ready, the metric,
//! recovery), and the per-account lock that answers like a wrong password and that a password
//! reset lifts (DESIGN §7.2).

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use ferrid::clock::{Clock, FixedClock, SystemClock};
use reqwest::{StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

use crate::{
    helpers::{
        Backend, TestApp, TestResources, external_backend_configured, spawn_app_with, start_app, start_app_adjusted,
    },
    oidc::{PASSWORD, create_user},
    password_reset::{ask_for_reset, confirm, quick_mail, reset_link, token_of},
    smtp_sink::SmtpSink,
};

on_every_backend!(
    login_budgets_per_ip_and_address_with_headers_on_every_answer,
    each_route_answers_429_in_its_own_shape,
    an_address_is_locked_after_failures_like_a_wrong_password_and_a_reset_unlocks_it,
);

async fn login(app: &TestApp, email: &str, password: &str) -> (StatusCode, HeaderMap, Value) {
    let response = app
        .http
        .post(app.url("/api/auth/login"))
        .header("X-Requested-With", "test")
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.json().await.unwrap_or(Value::Null))
}

fn header(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

/// `RateLimit-Limit` and `RateLimit-Remaining`, with a sane `RateLimit-Reset`.
fn budget(headers: &HeaderMap) -> (u64, u64) {
    let reset = header(headers, "ratelimit-reset").expect("RateLimit-Reset");
    assert!(reset <= 60, "reset {reset}");
    (header(headers, "ratelimit-limit").expect("RateLimit-Limit"), header(headers, "ratelimit-remaining").unwrap())
}

const LOGIN_LIMITS: (&str, &str) = ("FERRID_RATE_LIMITS", "login_ip_email=3/1m,login_ip=5/1m");

async fn login_budgets_per_ip_and_address_with_headers_on_every_answer(backend: Backend) {
    let app = spawn_app_with(backend, &[LOGIN_LIMITS]).await;
    create_user(&app, "ann@example.com").await;

    // A success carries the headers too: the tighter budget (per address) is the one shown.
    let (status, headers, _) = login(&app, "ann@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(budget(&headers), (3, 2));
    assert_eq!(headers["ratelimit-policy"], "3;w=60");
    assert!(headers.get("retry-after").is_none());

    for remaining in [1, 0] {
        let (status, headers, _) = login(&app, "ANN@example.com", "wrong password 1").await;
        assert_eq!((status, budget(&headers)), (StatusCode::UNAUTHORIZED, (3, remaining)), "one budget per address");
    }
    let (status, headers, body) = login(&app, "ann@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the right password is not even checked");
    assert_eq!(body["error"], "too_many_requests", "{body}");
    let retry_after = header(&headers, "retry-after").expect("Retry-After");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(budget(&headers), (3, 0));

    // Another address from the same IP has its own budget until the IP's (5) runs out: the
    // fifth request from this IP leaves none.
    let (status, headers, _) = login(&app, "bo@example.com", "wrong password 1").await;
    assert_eq!((status, budget(&headers)), (StatusCode::UNAUTHORIZED, (5, 0)));
    let (status, headers, _) = login(&app, "cy@example.com", "wrong password 1").await;
    assert_eq!((status, budget(&headers).0), (StatusCode::TOO_MANY_REQUESTS, 5), "the per-IP budget");

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("ferrid_rate_limited_total{scope=\"login_ip_email\"} 1"), "{metrics}");
    assert!(metrics.contains("ferrid_rate_limited_total{scope=\"login_ip\"} 1"), "{metrics}");
    app.stop().await;
}

async fn each_route_answers_429_in_its_own_shape(backend: Backend) {
    let limits = "register_ip=1/1h,token_ip=1/1m,reset_request_ip_email=1/1m,reset_confirm_ip=1/1h,\
                  client_registration_ip=1/1h";
    let app = spawn_app_with(backend, &[("FERRID_RATE_LIMITS", limits), ("FERRID_REGISTRATION", "open")]).await;
    let post = |path: &'static str, body: Value| {
        let app = &app;
        async move { app.http.post(app.url(path)).json(&body).send().await.unwrap() }
    };
    let registration = json!({ "email": "dee@example.com", "password": "violet-harbour-42" });
    assert_eq!(post("/api/account/register", registration.clone()).await.status(), StatusCode::ACCEPTED);
    let refused = post("/api/account/register", registration).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "too_many_requests");

    // RFC 6749 §5.2 shape on /token: `temporarily_unavailable`, no-store.
    let token = || app.http.post(app.url("/token")).form(&[("grant_type", "client_credentials")]).send();
    let first = token().await.unwrap();
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED, "no client: invalid_client");
    assert_eq!(budget(first.headers()), (1, 0));
    let refused = token().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["cache-control"], "no-store");
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "temporarily_unavailable");

    let reset = json!({ "email": "eve@example.com" });
    assert_eq!(post("/api/password/reset", reset.clone()).await.status(), StatusCode::ACCEPTED);
    assert_eq!(post("/api/password/reset", reset).await.status(), StatusCode::TOO_MANY_REQUESTS);
    let other = post("/api/password/reset", json!({ "email": "fay@example.com" })).await;
    assert_eq!(other.status(), StatusCode::ACCEPTED, "per address and IP");

    let confirmation = json!({ "token": "not-a-token", "new_password": "violet-harbour-42" });
    assert_eq!(post("/api/password/reset/confirm", confirmation.clone()).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(post("/api/password/reset/confirm", confirmation).await.status(), StatusCode::TOO_MANY_REQUESTS);

    let client = json!({ "redirect_uris": ["https://app.example/cb"], "client_name": "one" });
    assert_eq!(post("/register", client.clone()).await.status(), StatusCode::CREATED);
    let refused = post("/register", client).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "temporarily_unavailable");

    // Routes without a limit carry no headers.
    assert!(!app.get("/.well-known/openid-configuration").await.headers().contains_key("ratelimit-limit"));
    app.stop().await;
}

/// Ten failures within the hour lock the address; the answers while waiting or locked are the
/// wrong-password answer, for a known and an unknown address alike (DESIGN §7.2). A fixed clock
/// skips the growing waits between failures.
async fn an_address_is_locked_after_failures_like_a_wrong_password_and_a_reset_unlocks_it(backend: Backend) {
    let sink = SmtpSink::start().await;
    let clock = Arc::new(FixedClock::at(SystemClock.now()));
    let (url, limits) = (sink.url(), "login_ip_email=100/1m,login_ip=1000/1m");
    let settings = [("FERRID_SMTP_URL", url.as_str()), ("FERRID_RATE_LIMITS", limits)];
    let resources = TestResources::create(backend).await;
    let app = start_app_adjusted(resources, &settings, clock.clone(), quick_mail).await.unwrap();
    create_user(&app, "ann@example.com").await;

    for email in ["nobody@example.com", "ann@example.com"] {
        for _ in 0..10 {
            // A minute between failures: past every growing wait, within the hour's count.
            clock.advance(chrono::Duration::seconds(60));
            let (status, _, body) = login(&app, email, "wrong password 1").await;
            assert_eq!((status, &body["error"]), (StatusCode::UNAUTHORIZED, &json!("invalid_credentials")));
        }
    }
    let (locked_status, _, locked_body) = login(&app, "ann@example.com", PASSWORD).await;
    let (unknown_status, _, unknown_body) = login(&app, "nobody@example.com", PASSWORD).await;
    let (wrong_status, _, wrong_body) = login(&app, "cy@example.com", "wrong password 1").await;
    assert_eq!(locked_status, StatusCode::UNAUTHORIZED, "locked: the right password does not sign in");
    assert_eq!((&locked_status, &locked_body), (&unknown_status, &unknown_body), "no enumeration");
    assert_eq!((&locked_status, &locked_body), (&wrong_status, &wrong_body), "a lock looks like a wrong password");
    let audit = app
        .state
        .audit
        .query(&ferrid::audit::AuditQuery { kind: Some("auth.login".to_owned()), limit: 50, ..Default::default() })
        .await
        .unwrap();
    let reasons: Vec<&Value> = audit.iter().filter_map(|entry| entry.event.details.as_ref()).collect();
    assert!(reasons.iter().any(|details| details["reason"] == "locked"), "the audit log knows why: {reasons:?}");

    // Still locked 14 minutes later; a password reset lifts it at once.
    clock.advance(chrono::Duration::minutes(14));
    assert_eq!(login(&app, "ann@example.com", PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    ask_for_reset(&app, "ann@example.com").await;
    let link = reset_link(&sink.wait_for(1).await[0]);
    let new_password = "a brand new passphrase 42";
    assert_eq!(confirm(&app, &token_of(&link), new_password).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(login(&app, "ann@example.com", new_password).await.0, StatusCode::OK, "unlocked by the reset");
    app.stop().await;
}

/// Two nodes on one database and one Redis spend one budget (DESIGN §7.7).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_sharing_redis_spend_one_budget() {
    if !external_backend_configured() {
        eprintln!("skipped: needs FERRID_TEST_DATABASE_URL and FERRID_TEST_REDIS_URL");
        return;
    }
    let resources = TestResources::create(Backend::External).await;
    let limits = [("FERRID_RATE_LIMITS", "login_ip_email=4/1m,login_ip=100/1m")];
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let a = start_app(resources.share(), &limits, clock.clone()).await.unwrap();
    let b = start_app(resources, &limits, clock).await.unwrap();
    create_user(&a, "ann@example.com").await;

    let mut seen = Vec::new();
    for (node, app) in [("a", &a), ("b", &b), ("a", &a), ("b", &b)] {
        let (status, headers, _) = login(app, "ann@example.com", "wrong password 1").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        seen.push((node, budget(&headers).1));
    }
    assert_eq!(seen, [("a", 3), ("b", 2), ("a", 1), ("b", 0)], "one budget across both nodes");
    for app in [&a, &b] {
        let (status, headers, _) = login(app, "ann@example.com", PASSWORD).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(budget(&headers), (4, 0));
    }
    eprintln!(
        "two nodes, one Redis: budget 4/min per IP+email; remaining after each request {seen:?}; 5th and 6th 429"
    );
    b.stop().await;
    a.stop().await;
}

/// A TCP proxy between ferrid and Redis that the test cuts (every connection closed, new ones
/// dropped at once) and restores.
struct Proxy {
    address: SocketAddr,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let accept = tokio::spawn({
            let (up, connections) = (up.clone(), connections.clone());
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        continue;
                    }
                    let relay = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    connections.lock().unwrap().push(relay);
                }
            }
        });
        Self { address, up, connections, accept }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for relay in self.connections.lock().unwrap().drain(..) {
            relay.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

async fn ready(app: &TestApp) -> (StatusCode, Value) {
    let response = app.get("/ready").await;
    (response.status(), response.json().await.unwrap())
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// Redis goes away and comes back (DESIGN §7.7): ferrid keeps limiting with its own counters,
/// never answers 5xx for it, says `degraded` on /ready and counts the fallback; then it shares
/// the Redis budget again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_falls_back_to_local_limits_without_5xx_and_recovers() {
    if !external_backend_configured() {
        eprintln!("skipped: needs FERRID_TEST_DATABASE_URL and FERRID_TEST_REDIS_URL");
        return;
    }
    let mut resources = TestResources::create(Backend::External).await;
    let redis: url::Url = resources.redis_url.clone().unwrap().parse().unwrap();
    let upstream = tokio::net::lookup_host((redis.host_str().unwrap(), redis.port().unwrap_or(6379)))
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = Proxy::start(upstream).await;
    resources.redis_url = Some(format!("redis://{}", proxy.address));
    let limits = [("FERRID_RATE_LIMITS", "login_ip_email=3/1m,login_ip=100/1m")];
    let app = start_app(resources, &limits, Arc::new(SystemClock)).await.unwrap();
    create_user(&app, "ann@example.com").await;

    let (status, headers, _) = login(&app, "ann@example.com", "wrong password 1").await;
    assert_eq!((status, budget(&headers)), (StatusCode::UNAUTHORIZED, (3, 2)), "counted in Redis");
    assert_eq!(ready(&app).await.1["rate_limits"], "shared");

    proxy.cut();
    let started = std::time::Instant::now();
    let mut during = Vec::new();
    for _ in 0..4 {
        let (status, headers, _) = login(&app, "ann@example.com", "wrong password 1").await;
        assert!(!status.is_server_error(), "never a 5xx because of Redis: {status}");
        during.push((status.as_u16(), header(&headers, "ratelimit-remaining")));
    }
    let outage_took = started.elapsed();
    assert_eq!(
        during,
        [(401, Some(2)), (401, Some(1)), (401, Some(0)), (429, Some(0))],
        "still limited, by this node's own counters"
    );
    let (status, body) = ready(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((&body["status"], &body["rate_limits"]), (&json!("degraded"), &json!("local")), "{body}");
    assert_eq!(body["checks"]["redis"], "unreachable");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metric(&metrics, "ferrid_rate_limit_fallback_total") >= 4.0, "{metrics}");
    assert_eq!(metric(&metrics, "ferrid_rate_limit_degraded"), 1.0);

    proxy.restore();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (status, headers, _) = login(&app, "ann@example.com", "wrong password 1").await;
    assert_eq!(
        (status, budget(&headers)),
        (StatusCode::UNAUTHORIZED, (3, 1)),
        "back on the shared count, which kept the request from before the outage"
    );
    let (status, body) = ready(&app).await;
    assert_eq!((status, &body["status"], &body["rate_limits"]), (StatusCode::OK, &json!("ready"), &json!("shared")));
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(metric(&metrics, "ferrid_rate_limit_degraded"), 0.0);
    eprintln!(
        "redis outage: 4 logins during the cut answered {during:?} in {outage_took:?}; /ready 200 degraded; \
         fallback_total {}; after restore remaining 1 (shared count resumed)",
        metric(&metrics, "ferrid_rate_limit_fallback_total")
    );
    app.stop().await;
}

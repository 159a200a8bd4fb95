//! Faults under real processes (issue 10 item 2): a node killed with SIGKILL under load, Redis
//! stopped and restarted, PostgreSQL stopped and restarted. Redis and PostgreSQL are private
//! instances each test starts (and stops) itself, never the shared ones. Each test is bounded
//! in time and kills every process it started, by PID, also when it fails.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use ferrid::oauth::{ClientType, GrantType};
use futures::StreamExt;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::{
    admin_sessions::{Client, register},
    browser::{Landing, hidden},
    cluster::{Cluster, ISSUER, Node, Roaming, eventually, external_backends_or_skip, free_port, http},
    helpers::{Backend, TEST_REDIS_URL, TestResources},
    multi_node::{is_active, post, refresh},
    oidc::{PASSWORD, REDIRECT, authorize_url_at, create_client, create_user},
};

/// The longest any one of these tests may run.
const TEST_DEADLINE: Duration = Duration::from_secs(90);

/// Requests while a store is down must end well before this (FERRID_REQUEST_TIMEOUT_SECS).
const REQUEST_TIMEOUT_SECS: u64 = 10;

async fn bounded(test: impl Future<Output = ()>) {
    if tokio::time::timeout(TEST_DEADLINE, test).await.is_err() {
        panic!("the test ran past {TEST_DEADLINE:?}");
    }
}

/// A missing tool fails the test under CI and skips it elsewhere.
fn missing(what: &str) {
    let message = format!("{what} is not installed (apt-get install -y redis-server postgresql)");
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
    eprintln!("skipped: {message}");
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(program)).find(|path| path.is_file())
}

/// Sends `signal` to a child we started, by its PID.
fn signal(child: &Child, signal: &str) {
    let _ = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status();
}

/// Waits up to `deadline` for the child to exit after a signal, then kills it.
fn reap(mut child: Child, deadline: Duration) {
    let started = Instant::now();
    while started.elapsed() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A `redis-server` of this test's own, in the foreground as our child.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    async fn start() -> Option<Self> {
        if on_path("redis-server").is_none() {
            missing("redis-server");
            return None;
        }
        let mut redis = Self { port: free_port(), child: None };
        redis.restart().await;
        Some(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on the same port and waits until it answers PING.
    async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let client = redis::Client::open(self.url()).unwrap();
        eventually(Duration::from_secs(10), "the private redis-server answers", || {
            let client = client.clone();
            async move {
                match client.get_multiplexed_async_connection().await {
                    Ok(mut connection) => redis::cmd("PING").query_async::<()>(&mut connection).await.is_ok(),
                    Err(_) => false,
                }
            }
        })
        .await;
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A PostgreSQL cluster of this test's own: `initdb` into a temporary folder and `postgres` in
/// the foreground as our child, both as the `postgres` user (PostgreSQL refuses root).
struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    user: (u32, u32),
    child: Option<Child>,
}

fn postgres_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("postgres").is_file())
        .collect();
    found.sort_by_key(|bin| {
        bin.parent().and_then(|version| version.file_name()?.to_str()?.parse::<u32>().ok()).unwrap_or(0)
    });
    found.pop()
}

/// The uid and gid of the `postgres` account.
fn postgres_user() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|line| line.starts_with("postgres:"))?;
    let fields: Vec<&str> = line.split(':').collect();
    Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?))
}

impl PrivatePostgres {
    async fn start() -> Option<Self> {
        let (Some(bin), Some(user)) = (postgres_bin(), postgres_user()) else {
            missing("PostgreSQL (initdb and postgres under /usr/lib/postgresql/*/bin, and a postgres user)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::chown(dir.path(), Some(user.0), Some(user.1)).unwrap();
        let data = dir.path().join("data");
        let status = Self::as_postgres(&bin.join("initdb"), user)
            .args(["-D", data.to_str().unwrap(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "initdb failed");
        let mut postgres = Self { bin, dir, port: free_port(), user, child: None };
        postgres.restart().await;
        Some(postgres)
    }

    fn as_postgres(program: &Path, (uid, gid): (u32, u32)) -> Command {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(program);
        command.uid(uid).gid(gid).env("HOME", "/tmp").stdin(Stdio::null());
        command
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again) on the same folder and port; waits until it takes queries.
    async fn restart(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("postgres.log")).unwrap();
        let child = Self::as_postgres(&self.bin.join("postgres"), self.user)
            .args(["-D", self.dir.path().join("data").to_str().unwrap(), "-p", &self.port.to_string()])
            .args(["-k", self.dir.path().to_str().unwrap(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let url = self.url();
        eventually(Duration::from_secs(30), "the private PostgreSQL takes connections", || {
            let url = url.clone();
            async move {
                match sea_orm::Database::connect(&url).await {
                    Ok(db) => {
                        let _ = db.close().await;
                        true
                    }
                    Err(_) => false,
                }
            }
        })
        .await;
    }

    /// A fast shutdown (SIGINT): sessions are cut, as in a restart for maintenance.
    fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            signal(&child, "INT");
            reap(child, Duration::from_secs(15));
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One answer during an outage: what it was, and how long it took.
#[derive(Debug)]
struct Probe {
    what: &'static str,
    status: StatusCode,
    content_type: String,
    took: Duration,
}

async fn probe(what: &'static str, request: reqwest::RequestBuilder) -> (Probe, String) {
    let started = Instant::now();
    let response = request.send().await.unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
    let status = response.status();
    let content_type =
        response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = response.text().await.unwrap_or_default();
    (Probe { what, status, content_type, took: started.elapsed() }, body)
}

/// A store outage is answered 503 `temporarily_unavailable` (JSON) or a 503 page, never 500,
/// and within the request timeout.
fn assert_clean_503(probe: &Probe, body: &str) {
    assert_eq!(probe.status, StatusCode::SERVICE_UNAVAILABLE, "{probe:?}: {body}");
    assert!(probe.took < Duration::from_secs(REQUEST_TIMEOUT_SECS), "{} took {:?}", probe.what, probe.took);
    if probe.content_type.starts_with("application/json") {
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"], "temporarily_unavailable", "{probe:?}");
    } else {
        assert!(probe.content_type.starts_with("text/html"), "{probe:?}");
        assert!(body.contains("Request id"), "a page with the request id: {body}");
    }
}

async fn ready(node: &Node) -> (StatusCode, Value) {
    let response = http().get(node.url("/ready")).send().await.unwrap();
    (response.status(), response.json().await.unwrap_or(Value::Null))
}

/// Signs `email` in through `browser` (or rides its session) and redeems the code on `node`.
async fn sign_in(browser: &Roaming<'_>, node: &Node, web: &Client, email: &str) -> Value {
    let (url, verifier) = authorize_url_at(ISSUER, &web.0, "openid offline_access", &[]);
    let (landing, _) = browser.sign_in(&url, email, PASSWORD).await;
    assert!(matches!(landing, Landing::Redirect { .. }), "{landing:?}");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &landing.code()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &verifier),
    ];
    let (status, tokens) = post(node, "/token", web, &form).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

/// The load's shared state: the nodes as a load balancer sees them, and what was answered.
struct Load {
    addresses: Vec<String>,
    /// Nodes that stopped answering, skipped from then on.
    down: Vec<AtomicBool>,
    stop: AtomicBool,
    web: Client,
    service: Client,
    answered: AtomicU64,
    /// Requests cut by the kill (no answer, or half of one).
    cut: AtomicU64,
    /// Any answer other than 200: none is expected.
    unexpected: Mutex<Vec<String>>,
    /// Access tokens answered 200, with the client that may introspect them.
    access_tokens: Mutex<Vec<(String, Client)>>,
}

/// A refresh family as the client sees it: the newest token it was answered, and whether a
/// rotation went unanswered (then the client cannot know which token is current).
struct Family {
    newest: String,
    in_doubt: bool,
}

/// One client of the load: it refreshes each of its families in turn, then fetches a
/// client_credentials token, each request on the next node still up; returns its families.
async fn load_client(load: Arc<Load>, first_node: usize, mut families: Vec<Family>) -> Vec<Family> {
    let http = http();
    let mut turn = first_node;
    for step in 0.. {
        if load.stop.load(Ordering::SeqCst) {
            break;
        }
        turn += 1;
        let node = turn % load.addresses.len();
        if load.down[node].load(Ordering::SeqCst) {
            continue;
        }
        let family = step % (families.len() + 1);
        let request = http.post(format!("{}/token", load.addresses[node]));
        let (client, request) = match families.get(family) {
            None => (&load.service, request.form(&[("grant_type", "client_credentials"), ("scope", "profile")])),
            Some(family) if family.in_doubt => continue,
            Some(family) => {
                let form = [("grant_type", "refresh_token"), ("refresh_token", family.newest.as_str())];
                (&load.web, request.form(&form))
            }
        };
        let answer = match request.basic_auth(&client.0, client.1.as_deref()).send().await {
            Ok(response) => (response.status(), response.json::<Value>().await),
            Err(error) => (StatusCode::BAD_GATEWAY, Err(error)),
        };
        match answer {
            (StatusCode::OK, Ok(body)) => {
                load.answered.fetch_add(1, Ordering::SeqCst);
                let access = body["access_token"].as_str().unwrap().to_owned();
                load.access_tokens.lock().unwrap().push((access, client.clone()));
                if let Some(family) = families.get_mut(family) {
                    family.newest = body["refresh_token"].as_str().unwrap().to_owned();
                }
            }
            (status, Ok(body)) => load.unexpected.lock().unwrap().push(format!("{status} from node {node}: {body}")),
            (_, Err(_)) => {
                load.cut.fetch_add(1, Ordering::SeqCst);
                load.down[node].store(true, Ordering::SeqCst);
                if let Some(family) = families.get_mut(family) {
                    family.in_doubt = true;
                }
            }
        }
    }
    families
}

/// `kill -9` of one node while three clients rotate refresh tokens and fetch client_credentials
/// tokens round-robin over the nodes: the others keep serving, and every token answered 200
/// stays usable (DESIGN §7.5: a 2xx is durable) — access tokens introspect active, and the
/// newest refresh token of each family refreshes (RFC 6749 §6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_under_load_loses_no_answered_token() {
    if !external_backends_or_skip() {
        return;
    }
    bounded(async {
        let limits = [("FERRID_RATE_LIMITS", "token_client=1000000/1m,token_ip=1000000/1m")];
        let mut cluster = Cluster::start(TestResources::create(Backend::External).await, 3, &limits).await;
        create_user(&cluster.admin, "ann@example.com").await;
        let web = create_client(&cluster.admin, ClientType::Confidential).await;
        let service = register(&cluster.admin, vec![GrantType::ClientCredentials], &["profile"]).await;
        let browser = Roaming::new(&cluster.nodes);
        let mut families = Vec::new();
        for _ in 0..6 {
            let tokens = sign_in(&browser, &cluster.nodes[0], &web, "ann@example.com").await;
            families.push(Family { newest: tokens["refresh_token"].as_str().unwrap().to_owned(), in_doubt: false });
        }

        let load = Arc::new(Load {
            addresses: cluster.nodes.iter().map(|node| node.address.clone()).collect(),
            down: cluster.nodes.iter().map(|_| AtomicBool::new(false)).collect(),
            stop: AtomicBool::new(false),
            web: web.clone(),
            service,
            answered: AtomicU64::new(0),
            cut: AtomicU64::new(0),
            unexpected: Mutex::new(Vec::new()),
            access_tokens: Mutex::new(Vec::new()),
        });
        let mut families = families.into_iter();
        let clients: Vec<_> = (0..3)
            .map(|first_node| tokio::spawn(load_client(load.clone(), first_node, families.by_ref().take(2).collect())))
            .collect();

        let answered = || load.answered.load(Ordering::SeqCst);
        eventually(Duration::from_secs(20), "the load gets going", || async { answered() >= 60 }).await;
        let victim = cluster.nodes[1].pid();
        cluster.nodes[1].kill();
        let at_kill = answered();
        eprintln!("killed node B (pid {victim:?}) with SIGKILL after {at_kill} answered requests");
        eventually(Duration::from_secs(20), "the surviving nodes keep serving", || async {
            answered() >= at_kill + 60
        })
        .await;
        load.stop.store(true, Ordering::SeqCst);
        let mut families = Vec::new();
        for client in clients {
            families.extend(client.await.unwrap());
        }
        let unexpected = load.unexpected.lock().unwrap().clone();
        assert!(unexpected.is_empty(), "only 200s (and cut requests) expected: {unexpected:?}");

        let survivors = [&cluster.nodes[0], &cluster.nodes[2]];
        let access_tokens = load.access_tokens.lock().unwrap().clone();
        let inactive: Vec<String> = futures::stream::iter(access_tokens.iter().enumerate())
            .map(|(i, (token, client))| {
                let node = survivors[i % 2];
                async move { (!is_active(node, client, token).await).then(|| token.clone()) }
            })
            .buffer_unordered(8)
            .filter_map(|inactive| async move { inactive })
            .collect()
            .await;
        assert!(inactive.is_empty(), "{} of {} answered access tokens inactive", inactive.len(), access_tokens.len());
        let mut verified = 0;
        for family in families.iter().filter(|family| !family.in_doubt) {
            let (status, body) = refresh(survivors[verified % 2], &web, &family.newest).await;
            assert_eq!(status, StatusCode::OK, "the newest refresh token of a family refreshes: {body}");
            verified += 1;
        }
        assert!(verified >= 3, "at most one request per client was cut");
        eprintln!(
            "kill -9 under load: {} answered (200), {} cut by the kill, {} after it; {} access tokens active; \
             {verified} of {} refresh families verified ({} in doubt: a rotation cut without an answer)",
            answered(),
            load.cut.load(Ordering::SeqCst),
            answered() - at_kill,
            access_tokens.len(),
            families.len(),
            families.len() - verified,
        );
        cluster.stop().await;
    })
    .await;
}

/// Redis stopped, then started again (DESIGN §7.7): the rate limiter counts locally and /ready
/// says `degraded`; what needs the short-lived store (pending authorization requests, codes)
/// answers a clean 503 — JSON `temporarily_unavailable` or a page — never a 500; after the
/// restart everything works again without restarting ferrid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_answers_503_where_redis_is_needed_and_recovers_after_a_restart() {
    if !external_backends_or_skip() {
        return;
    }
    let Some(mut redis) = PrivateRedis::start().await else { return };
    bounded(async {
        let mut resources = TestResources::create(Backend::External).await;
        resources.redis_url = Some(redis.url());
        let timeout = REQUEST_TIMEOUT_SECS.to_string();
        let cluster = Cluster::start(resources, 1, &[("FERRID_REQUEST_TIMEOUT_SECS", &timeout)]).await;
        let node = &cluster.nodes[0];
        create_user(&cluster.admin, "ann@example.com").await;
        let web = create_client(&cluster.admin, ClientType::Confidential).await;
        let service = register(&cluster.admin, vec![GrantType::ClientCredentials], &["profile"]).await;
        let browser = Roaming::new(&cluster.nodes);
        let tokens = sign_in(&browser, node, &web, "ann@example.com").await;
        // A code issued before the outage, redeemed during it.
        let (url, verifier) = authorize_url_at(ISSUER, &web.0, "openid", &[]);
        let (landing, _) = browser.follow(url).await;
        let code = landing.code();
        // A login page shown before the outage, submitted during it (its request is in Redis).
        let stranger = Roaming::new(&cluster.nodes);
        let (Landing::Page { html, .. }, _) = stranger.follow(authorize_url_at(ISSUER, &web.0, "openid", &[]).0).await
        else {
            panic!("a login page")
        };
        let (request, csrf) = (hidden(&html, "request"), hidden(&html, "csrf"));

        redis.stop();
        let (status, body) = ready(node).await;
        assert_eq!((status, &body["status"]), (StatusCode::OK, &json!("degraded")), "{body}");
        assert_ne!(body["checks"]["redis"], "ok");

        let http = http();
        let client_credentials = [("grant_type", "client_credentials"), ("scope", "profile")];
        let (machine, body) = probe(
            "client_credentials (rate limited locally)",
            http.post(node.url("/token")).basic_auth(&service.0, service.1.as_deref()).form(&client_credentials),
        )
        .await;
        assert_eq!(machine.status, StatusCode::OK, "the limiter falls back: {body}");
        let (_, body) = ready(node).await;
        assert_eq!(body["rate_limits"], "local", "{body}");

        let (url, _) = authorize_url_at(ISSUER, &web.0, "openid", &[]);
        let (authorize, page) =
            probe("GET /authorize (pending request in Redis)", http.get(node.instead_of_issuer(&url))).await;
        assert_clean_503(&authorize, &page);
        let redeem = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ];
        let (token, body) = probe(
            "POST /token authorization_code (code in Redis)",
            http.post(node.url("/token")).basic_auth(&web.0, web.1.as_deref()).form(&redeem),
        )
        .await;
        assert_clean_503(&token, &body);
        let login = [("request", &*request), ("csrf", &*csrf), ("email", "ann@example.com"), ("password", PASSWORD)];
        let (login_page, page) =
            probe("POST /login (pending request in Redis)", stranger.http.post(node.url("/login")).form(&login)).await;
        assert_clean_503(&login_page, &page);
        eprintln!("during the Redis outage: {machine:?}\n  {authorize:?}\n  {token:?}\n  {login_page:?}");

        // The rest either works without Redis or fails as cleanly.
        let access = tokens["access_token"].as_str().unwrap();
        let refresh_token = tokens["refresh_token"].as_str().unwrap();
        let api_login = json!({"email": "ann@example.com", "password": PASSWORD});
        let probes = [
            (
                "POST /api/auth/login",
                http.post(node.url("/api/auth/login")).header("X-Requested-With", "test").json(&api_login),
            ),
            (
                "POST /introspect",
                http.post(node.url("/introspect")).basic_auth(&web.0, web.1.as_deref()).form(&[("token", access)]),
            ),
            ("GET /userinfo", http.get(node.url("/userinfo")).bearer_auth(access)),
            (
                "POST /token refresh_token",
                http.post(node.url("/token"))
                    .basic_auth(&web.0, web.1.as_deref())
                    .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]),
            ),
        ];
        for (what, request) in probes {
            let (answer, body) = probe(what, request).await;
            eprintln!("  {answer:?}");
            if answer.status.is_server_error() {
                assert_clean_503(&answer, &body);
            }
        }

        redis.restart().await;
        let took = eventually(Duration::from_secs(15), "/ready says ready again", || async {
            let (status, body) = ready(node).await;
            status == StatusCode::OK && body["status"] == "ready"
        })
        .await;
        eprintln!("Redis back: /ready 'ready' {took:?} after the restart");
        // The code lived in the Redis that was lost; a new sign-in works end to end.
        let tokens = sign_in(&browser, node, &web, "ann@example.com").await;
        assert!(is_active(node, &web, tokens["access_token"].as_str().unwrap()).await);
        let (status, _) = post(node, "/token", &service, &client_credentials).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ready(node).await.1["rate_limits"], "shared");
        cluster.stop().await;
    })
    .await;
}

/// PostgreSQL stopped, then started again: /ready answers 503, requests fail cleanly (503
/// within the request timeout, never 500), and once it is back ferrid serves again without a
/// restart — the pool reconnects — and what was written before the outage is still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_is_ridden_out_without_restarting_ferrid() {
    if !external_backends_or_skip() {
        return;
    }
    let Some(mut postgres) = PrivatePostgres::start().await else { return };
    bounded(async {
        let redis = std::env::var(TEST_REDIS_URL).unwrap();
        let resources = TestResources::create_external_on(&postgres.url(), &redis).await;
        let timeout = REQUEST_TIMEOUT_SECS.to_string();
        let cluster = Cluster::start(resources, 1, &[("FERRID_REQUEST_TIMEOUT_SECS", &timeout)]).await;
        let node = &cluster.nodes[0];
        create_user(&cluster.admin, "ann@example.com").await;
        let web = create_client(&cluster.admin, ClientType::Confidential).await;
        let service = register(&cluster.admin, vec![GrantType::ClientCredentials], &["profile"]).await;
        let browser = Roaming::new(&cluster.nodes);
        let tokens = sign_in(&browser, node, &web, "ann@example.com").await;
        let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();

        postgres.stop();
        let took = eventually(Duration::from_secs(15), "/ready answers 503", || async {
            ready(node).await.0 == StatusCode::SERVICE_UNAVAILABLE
        })
        .await;
        let (_, body) = ready(node).await;
        assert_eq!(body["status"], "unavailable", "{body}");
        eprintln!("PostgreSQL down: /ready 503 after {took:?}: {body}");
        // A client looked up within the cache's lifetime lets /authorize answer without the
        // database; once it has expired, every probe below needs PostgreSQL.
        tokio::time::sleep(ferrid::oauth::registry::CLIENT_CACHE_TTL).await;

        let http = http();
        let login = json!({"email": "ann@example.com", "password": PASSWORD});
        let (authorize, _) = authorize_url_at(ISSUER, &web.0, "openid", &[]);
        let authorize = node.instead_of_issuer(&authorize);
        let access = tokens["access_token"].as_str().unwrap();
        let probes = [
            ("GET /authorize", http.get(&authorize)),
            (
                "POST /introspect",
                http.post(node.url("/introspect")).basic_auth(&web.0, web.1.as_deref()).form(&[("token", access)]),
            ),
            (
                "POST /revoke",
                http.post(node.url("/revoke"))
                    .basic_auth(&web.0, web.1.as_deref())
                    .form(&[("token", refresh_token.as_str())]),
            ),
            (
                "POST /token refresh_token",
                http.post(node.url("/token"))
                    .basic_auth(&web.0, web.1.as_deref())
                    .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token.as_str())]),
            ),
            (
                "POST /token client_credentials",
                http.post(node.url("/token"))
                    .basic_auth(&service.0, service.1.as_deref())
                    .form(&[("grant_type", "client_credentials"), ("scope", "profile")]),
            ),
            (
                "POST /api/auth/login",
                http.post(node.url("/api/auth/login")).header("X-Requested-With", "test").json(&login),
            ),
            ("GET /userinfo", http.get(node.url("/userinfo")).bearer_auth(tokens["access_token"].as_str().unwrap())),
        ];
        for (what, request) in probes {
            let (answer, body) = probe(what, request).await;
            eprintln!("  {answer:?}");
            assert_clean_503(&answer, &body);
        }

        postgres.restart().await;
        let took = eventually(Duration::from_secs(30), "/ready says ready again", || async {
            ready(node).await.0 == StatusCode::OK
        })
        .await;
        eprintln!("PostgreSQL back: /ready 200 {took:?} after the restart");
        let (status, body) = refresh(node, &web, &refresh_token).await;
        assert_eq!(status, StatusCode::OK, "the refresh token from before the outage still works: {body}");
        let (status, _) =
            post(node, "/token", &service, &[("grant_type", "client_credentials"), ("scope", "profile")]).await;
        assert_eq!(status, StatusCode::OK);
        let fresh = Roaming::new(&cluster.nodes);
        sign_in(&fresh, node, &web, "ann@example.com").await;
        cluster.stop().await;
    })
    .await;
}

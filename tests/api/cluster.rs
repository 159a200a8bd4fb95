//! Real ferrid processes for the multi-node and fault tests: `ferrid serve` started from the
//! built binary, configured only by `FERRID_*` variables, all on one database, one Redis key
//! prefix, one KEK and one issuer, each on its own port. A [`Roaming`] browser sends every
//! request to the next node, as a load balancer without stickiness would.
//!
//! Processes are killed by PID when their [`Node`] drops, so a failing test leaves none behind.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use base64::Engine;
use ferrid::clock::SystemClock;
use reqwest::{StatusCode, header};
use url::Url;

use crate::{
    browser::{Landing, hidden},
    helpers::{TestApp, TestResources, external_backend_configured, start_app},
};

/// The public address every node names as its issuer, where a load balancer would listen.
/// Nothing listens there: each request in these tests names the node it goes to.
pub const ISSUER: &str = "http://localhost:9";

/// How long a debug build may take to migrate, load the key ring and answer /ready.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// Whether the external backends are configured; says "skipped" when they are not.
pub fn external_backends_or_skip() -> bool {
    let configured = external_backend_configured();
    if !configured {
        eprintln!("skipped: set FERRID_TEST_DATABASE_URL and FERRID_TEST_REDIS_URL to run the multi-node tests");
    }
    configured
}

/// A client for talking to nodes directly: no redirects followed, and a timeout so that a hang
/// fails the test instead of stalling it.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Polls `check` every 100 ms until it holds or `deadline` passes; returns how long it took.
pub async fn eventually<F, Fut>(deadline: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < deadline, "not within {deadline:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

/// One `ferrid serve` process, its stdout and stderr in a log file.
pub struct Node {
    pub name: &'static str,
    /// `http://127.0.0.1:<port>`
    pub address: String,
    port: u16,
    child: Option<Child>,
    log: PathBuf,
}

impl Node {
    /// Starts `ferrid serve` with `env` (and nothing inherited from ours) on a free port, and
    /// waits until /ready answers 200. A port taken between choosing and binding is retried.
    /// Without `FERRID_ISSUER` in `env`, the node's own address is its issuer.
    pub async fn start(name: &'static str, env: &[(String, String)], dir: &Path) -> Node {
        for attempt in 0..3 {
            let port = free_port();
            let log = dir.join(format!("node-{name}-{port}.log"));
            let output = std::fs::File::create(&log).unwrap();
            let mut command = Command::new(env!("CARGO_BIN_EXE_ferrid"));
            for (variable, _) in std::env::vars().filter(|(variable, _)| variable.starts_with("FERRID_")) {
                command.env_remove(variable);
            }
            // Its own working directory, so no `.env` of ours is read.
            command
                .arg("serve")
                .current_dir(dir)
                .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .env("FERRID_BIND", format!("127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(output.try_clone().unwrap())
                .stderr(output);
            let address = format!("http://127.0.0.1:{port}");
            if !env.iter().any(|(key, _)| key == "FERRID_ISSUER") {
                command.env("FERRID_ISSUER", &address);
            }
            let child = command.spawn().expect("the ferrid binary starts");
            let mut node = Node { name, address, port, child: Some(child), log };
            match node.wait_until_ready().await {
                Ok(()) => return node,
                Err(why) if node.log_text().contains("cannot listen") && attempt < 2 => {
                    eprintln!("node {name}: {why}; trying another port");
                }
                Err(why) => panic!("node {name} did not start: {why}\n{}", node.log_text()),
            }
        }
        unreachable!("the loop returns or panics")
    }

    async fn wait_until_ready(&mut self) -> Result<(), String> {
        let http = http();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
                return Err(format!("exited with {status}"));
            }
            if let Ok(response) = http.get(self.url("/ready")).send().await
                && response.status() == StatusCode::OK
            {
                return Ok(());
            }
            if started.elapsed() > START_DEADLINE {
                return Err(format!("/ready not 200 within {START_DEADLINE:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `url`, addressed to the issuer, sent to this node instead.
    pub fn instead_of_issuer(&self, url: &str) -> String {
        url.replacen(ISSUER, &self.address, 1)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends SIGTERM, as an orchestrator stopping the container does.
    pub fn terminate(&self) {
        let pid = self.pid().expect("the node is running").to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    }

    /// Waits for the process to exit; fails the test after `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.as_mut().and_then(|child| child.try_wait().unwrap()) {
                return status;
            }
            assert!(Instant::now() < deadline, "{} still running after {within:?}:\n{}", self.name, self.log_text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for a log line containing `needle`, and returns it.
    pub async fn wait_for_log(&self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(line) = self.log_text().lines().find(|line| line.contains(needle)) {
                return line.to_owned();
            }
            assert!(Instant::now() < deadline, "no log line with {needle:?} in:\n{}", self.log_text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the process gracefully (SIGTERM, exit 0) and returns everything it logged.
    pub async fn stop_gracefully(mut self) -> String {
        self.terminate();
        assert!(self.wait_exit(Duration::from_secs(15)).await.success(), "{}", self.log_text());
        self.log_text()
    }

    /// `kill -9`: no graceful shutdown, requests in flight are cut.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free port on 127.0.0.1 (closed again; the node binds it a moment later).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// N nodes on one set of stores, plus an in-process node on the same stores that prepared them
/// (migrations and the key ring exist before any process starts, so the processes never race
/// to create them) and whose `state` creates users and clients.
pub struct Cluster {
    // Declared first so they die before `admin` drops the database they use.
    pub nodes: Vec<Node>,
    pub admin: TestApp,
}

impl Cluster {
    /// `count` nodes (named A, B, C, …) on `resources`, with `extra` settings for every node.
    pub async fn start(resources: TestResources, count: usize, extra: &[(&str, &str)]) -> Cluster {
        let kek = base64::engine::general_purpose::STANDARD.encode(rand_bytes());
        let mut env: Vec<(String, String)> = resources.env().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        env.push(("FERRID_ISSUER".to_owned(), ISSUER.to_owned()));
        env.push(("FERRID_KEK".to_owned(), kek.clone()));
        env.push(("FERRID_LOG".to_owned(), "warn".to_owned()));
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let dir = resources.data_dir.clone();
        let mut admin_settings = vec![("FERRID_KEK", kek.as_str())];
        admin_settings.extend_from_slice(extra);
        let admin = start_app(resources, &admin_settings, Arc::new(SystemClock)).await.unwrap();
        let names = ["A", "B", "C", "D", "E"];
        let nodes = futures::future::join_all(names[..count].iter().map(|name| Node::start(name, &env, &dir))).await;
        Cluster { nodes, admin }
    }

    /// Kills every node and stops the in-process one; the stores are removed with it.
    pub async fn stop(mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        self.nodes.clear();
        self.admin.stop().await;
    }
}

fn rand_bytes() -> [u8; 32] {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes).unwrap();
    bytes
}

/// A browser (one cookie jar) behind a load balancer without stickiness: every request goes to
/// the next node in turn, whatever host the previous answer redirected to. Cookies are not
/// scoped by port, so the jar follows the user from node to node. `trail` says which node
/// served which request.
pub struct Roaming<'a> {
    nodes: &'a [Node],
    /// The browser itself (its cookie jar), for a request the test shapes by hand.
    pub http: reqwest::Client,
    turn: AtomicUsize,
    pub trail: Mutex<Vec<String>>,
}

/// One answered request: which node served it, and the status.
#[derive(Clone, Debug)]
pub struct Hop {
    pub node: &'static str,
    pub method: &'static str,
    pub path: String,
    pub status: StatusCode,
}

impl<'a> Roaming<'a> {
    pub fn new(nodes: &'a [Node]) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Self { nodes, http, turn: AtomicUsize::new(0), trail: Mutex::new(Vec::new()) }
    }

    /// The next request goes to `nodes[index]`, later ones to the nodes after it.
    pub fn next_on(&self, index: usize) {
        self.turn.store(index, Ordering::SeqCst);
    }

    fn next_node(&self) -> &'a Node {
        &self.nodes[self.turn.fetch_add(1, Ordering::SeqCst) % self.nodes.len()]
    }

    /// The path and query of `url` if it points at ferrid (the issuer, a node, or relative).
    fn ferrid_path(&self, url: &str) -> Option<String> {
        if url.starts_with('/') {
            return Some(url.to_owned());
        }
        let parsed = Url::parse(url).ok()?;
        let origin = parsed.origin().ascii_serialization();
        let ours = std::iter::once(ISSUER.to_owned()).chain(self.nodes.iter().map(|n| n.address.clone()));
        if !ours.into_iter().any(|address| Url::parse(&address).unwrap().origin().ascii_serialization() == origin) {
            return None;
        }
        Some(match parsed.query() {
            Some(query) => format!("{}?{query}", parsed.path()),
            None => parsed.path().to_owned(),
        })
    }

    fn record(&self, node: &Node, method: &'static str, path: &str, status: StatusCode) -> Hop {
        let path = path.split('?').next().unwrap_or(path).to_owned();
        self.trail.lock().unwrap().push(format!("{method} {path} on {} -> {}", node.name, status.as_u16()));
        Hop { node: node.name, method, path, status }
    }

    /// The hops so far, for assertions on which node served what.
    pub fn hops(&self) -> Vec<String> {
        self.trail.lock().unwrap().clone()
    }

    /// Follows redirects within ferrid, each on the next node; stops at a page or at a
    /// redirect that leaves ferrid (the client's redirect URI).
    pub async fn follow(&self, mut url: String) -> (Landing, Vec<Hop>) {
        let mut hops = Vec::new();
        for _ in 0..10 {
            let Some(path) = self.ferrid_path(&url) else {
                return (Landing::Redirect { url: Url::parse(&url).unwrap() }, hops);
            };
            let node = self.next_node();
            let response = self.http.get(node.url(&path)).send().await.unwrap();
            let status = response.status();
            hops.push(self.record(node, "GET", &path, status));
            if status.is_redirection() {
                url = response.headers()[header::LOCATION].to_str().unwrap().to_owned();
                continue;
            }
            return (Landing::Page { status, html: response.text().await.unwrap() }, hops);
        }
        panic!("redirect loop at {url}");
    }

    /// Posts a form to the next node and follows where it leads.
    pub async fn submit(&self, path: &str, fields: &[(&str, &str)]) -> (Landing, Vec<Hop>) {
        let node = self.next_node();
        let response = self.http.post(node.url(path)).form(fields).send().await.unwrap();
        let status = response.status();
        let hop = self.record(node, "POST", path, status);
        if status.is_redirection() {
            let location = response.headers()[header::LOCATION].to_str().unwrap().to_owned();
            let (landing, mut hops) = self.follow(location).await;
            hops.insert(0, hop);
            return (landing, hops);
        }
        (Landing::Page { status, html: response.text().await.unwrap() }, vec![hop])
    }

    /// Starts at `authorize_url` and signs in and consents as needed, every request on the next
    /// node; returns where it ended and every hop.
    pub async fn sign_in(&self, authorize_url: &str, email: &str, password: &str) -> (Landing, Vec<Hop>) {
        let (mut landing, mut hops) = self.follow(authorize_url.to_owned()).await;
        for _ in 0..3 {
            let Landing::Page { html, .. } = &landing else { break };
            let (next, more) = if html.contains("action=\"/login\"") {
                let (request, csrf) = (hidden(html, "request"), hidden(html, "csrf"));
                let fields = [("request", &*request), ("csrf", &*csrf), ("email", email), ("password", password)];
                self.submit("/login", &fields).await
            } else if html.contains("action=\"/consent\"") {
                let (request, csrf) = (hidden(html, "request"), hidden(html, "csrf"));
                self.submit("/consent", &[("request", &request), ("csrf", &csrf), ("decision", "allow")]).await
            } else {
                break;
            };
            landing = next;
            hops.extend(more);
        }
        (landing, hops)
    }
}

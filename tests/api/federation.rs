//! Sign-in through an upstream OpenID Connect provider (issue 9), offline: the upstream "Google"
//! is a second ferrid on a random port, with a client registered there whose redirect URI is the
//! first ferrid's `/login/google/callback`. A two-site browser (one cookie jar per site) drives
//! the HTML forms of both. Covered: first sign-in (account created), second sign-in (same
//! account), linking by a verified address, refusal for an unverified one and linking it from the
//! account, `amr` `fed` + the upstream's (RFC 8176), the ID-token exchange API, and the failures
//! of item 5 — upstream down and slow, bad signature, wrong audience, nonce mismatch
//! (OIDC Core §3.1.3.7), state mismatch and replayed state (RFC 6749 §10.12), `access_denied`
//! (RFC 6749 §4.1.2.1) — each a clear page or JSON error with an audit event.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ferrid::{
    accounts::{Email, NewUser, Password},
    audit::{AuditQuery, Outcome},
    clock::{Clock, FixedClock, SystemClock},
    oauth::{ClientMetadata, ClientType, GrantType, RedirectUri},
};
use openidconnect::PkceCodeChallenge;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use url::Url;

use crate::{
    accounts::post_json,
    admin_sessions::{Client, token_request},
    browser::{hidden, unescape},
    helpers::{Backend, TestApp, TestResources, spawn_app_with, start_app},
    oidc::{PASSWORD, REDIRECT, authorize_url, create_client, create_user},
};

on_every_backend!(
    the_first_google_sign_in_creates_the_account_and_the_second_finds_it,
    a_verified_address_links_to_the_existing_account,
    an_unverified_address_is_refused_then_linked_from_the_account,
    the_id_token_exchange_api_signs_in_and_refuses_bad_tokens,
    callback_failures_are_clear_pages_with_audit_events,
    an_upstream_that_is_down_or_slow_is_a_clear_error,
    a_token_signed_with_a_new_upstream_key_fetches_the_jwks_again,
);

/// ferrid, the upstream "Google" (another ferrid), and clients at both.
struct Rig {
    app: TestApp,
    upstream: TestApp,
    /// ferrid's client at the upstream.
    google: Client,
    /// A relying party at ferrid.
    rp: Client,
}

async fn rig(backend: Backend) -> Rig {
    rig_with_clock(backend, Arc::new(SystemClock)).await
}

async fn rig_with_clock(backend: Backend, clock: Arc<dyn Clock>) -> Rig {
    let upstream = spawn_app_with(backend, &[("FERRID_ALLOW_UNVERIFIED_LOGIN", "true")]).await;
    let (app, google) = start_with_upstream(backend, &upstream, clock).await;
    let rp = create_client(&app, ClientType::Confidential).await;
    Rig { app, upstream, google, rp }
}

/// ferrid with `upstream` as its "Google": ferrid's client registered at the upstream, with the
/// redirect URI pointing at ferrid's callback. Returns ferrid and that client.
pub(crate) async fn start_with_upstream(
    backend: Backend,
    upstream: &TestApp,
    clock: Arc<dyn Clock>,
) -> (TestApp, Client) {
    // The callback URL is known only once ferrid listens: register first, then point it there.
    let mut metadata = ClientMetadata::new("ferrid", ClientType::Confidential);
    metadata.redirect_uris.push(RedirectUri::parse(REDIRECT).unwrap());
    metadata.grant_types = vec![GrantType::AuthorizationCode];
    let (client, secret) = upstream.state.clients.register(metadata.clone()).await.unwrap();
    let google = (client.id.as_str().to_owned(), secret.map(|s| s.expose().to_owned()));
    let settings = [
        ("FERRID_GOOGLE_CLIENT_ID", google.0.as_str()),
        ("FERRID_GOOGLE_CLIENT_SECRET", google.1.as_deref().unwrap()),
        ("FERRID_GOOGLE_ISSUER", upstream.address.as_str()),
    ];
    let app = start_app(TestResources::create(backend).await, &settings, clock).await.unwrap();
    metadata.redirect_uris = vec![RedirectUri::parse(&app.url("/login/google/callback")).unwrap()];
    upstream.state.clients.update(&client, metadata).await.unwrap();
    (app, google)
}

async fn create_unverified_user(app: &TestApp, email: &str) {
    let new = NewUser { email: Email::parse(email).unwrap(), name: None };
    app.state.accounts.create_user_verified(new, Some(Password::new(PASSWORD)), false).await.unwrap();
}

/// Where a browser stopped: on a page of one of the sites, or leaving them all.
#[derive(Debug)]
enum Stop {
    Page { url: String, status: StatusCode, html: String },
    Left(Url),
}

impl Stop {
    fn html(&self) -> &str {
        match self {
            Stop::Page { html, .. } => html,
            Stop::Left(url) => panic!("left for {url}"),
        }
    }

    fn is_page(&self, status: StatusCode, text: &str) -> bool {
        matches!(self, Stop::Page { status: s, html, .. } if *s == status && html.contains(text))
    }

    fn param(&self, name: &str) -> Option<String> {
        match self {
            Stop::Left(url) => url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()),
            Stop::Page { .. } => None,
        }
    }
}

/// A browser with one cookie jar per site (both sites are 127.0.0.1; cookies ignore ports).
struct Agent {
    sites: Vec<(String, reqwest::Client)>,
    visited: Mutex<Vec<String>>,
}

impl Agent {
    fn new(sites: &[&TestApp]) -> Self {
        let sites = sites
            .iter()
            .map(|app| {
                let client = reqwest::Client::builder()
                    .cookie_store(true)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap();
                (app.address.clone(), client)
            })
            .collect();
        Self { sites, visited: Mutex::new(Vec::new()) }
    }

    fn site(&self, url: &str) -> Option<&(String, reqwest::Client)> {
        self.sites.iter().find(|(base, _)| url.starts_with(&format!("{base}/")))
    }

    async fn land(&self, url: &str, response: reqwest::Response) -> Stop {
        let status = response.status();
        if status.is_redirection() {
            let location = response.headers()[header::LOCATION].to_str().unwrap();
            return Box::pin(self.follow(Url::parse(url).unwrap().join(location).unwrap().to_string())).await;
        }
        Stop::Page { url: url.to_owned(), status, html: response.text().await.unwrap() }
    }

    /// Follows redirects across the sites; stops at a page or where the sites are left.
    async fn follow(&self, url: String) -> Stop {
        let Some((_, client)) = self.site(&url) else { return Stop::Left(Url::parse(&url).unwrap()) };
        self.visited.lock().unwrap().push(url.clone());
        let response = client.get(&url).send().await.unwrap();
        self.land(&url, response).await
    }

    async fn submit(&self, page_url: &str, action: &str, fields: &[(&str, &str)]) -> Stop {
        let url = Url::parse(page_url).unwrap().join(action).unwrap().to_string();
        let (_, client) = self.site(&url).unwrap();
        let response = client.post(&url).form(fields).send().await.unwrap();
        self.land(&url, response).await
    }

    /// Signs in and consents on whichever site asks, clicking "Continue with Google" on
    /// ferrid's login page, until the flow leaves both sites or stops on another page.
    async fn run(&self, start: Stop, app: &TestApp, email: &str) -> Stop {
        let mut stop = start;
        for _ in 0..8 {
            let Stop::Page { url, html, .. } = &stop else { return stop };
            if url.starts_with(&app.address) && html.contains("Continue with Google") {
                stop = self.follow(app.url(&google_link(html))).await;
            } else if html.contains("action=\"/login\"") {
                let (request, csrf) = (hidden(html, "request"), hidden(html, "csrf"));
                let fields = [("request", &*request), ("csrf", &csrf), ("email", email), ("password", PASSWORD)];
                stop = self.submit(url, "/login", &fields).await;
            } else if html.contains("action=\"/consent\"") {
                let (request, csrf) = (hidden(html, "request"), hidden(html, "csrf"));
                stop = self
                    .submit(url, "/consent", &[("request", &request), ("csrf", &csrf), ("decision", "allow")])
                    .await;
            } else {
                return stop;
            }
        }
        stop
    }

    fn visited(&self, containing: &str) -> String {
        self.visited.lock().unwrap().iter().find(|url| url.contains(containing)).unwrap().clone()
    }
}

/// The "Continue with Google" link of ferrid's login page.
fn google_link(html: &str) -> String {
    let start = html.find("href=\"/login/google?").unwrap_or_else(|| panic!("no Google button in {html}")) + 6;
    unescape(html[start..].split('"').next().unwrap())
}

/// The RP's authorization request at ferrid, its PKCE verifier, and the page it lands on.
async fn begin(rig: &Rig, agent: &Agent) -> (Stop, String) {
    let (url, verifier) = authorize_url(&rig.app, &rig.rp.0, "openid email profile", &[]);
    (agent.follow(url).await, verifier)
}

/// A whole sign-in with Google at the RP; returns the claims of ferrid's ID token.
async fn sign_in_with_google(rig: &Rig, agent: &Agent, email: &str) -> Value {
    let (page, verifier) = begin(rig, agent).await;
    let landing = agent.run(page, &rig.app, email).await;
    let code = landing.param("code").unwrap_or_else(|| panic!("no code: {landing:?}"));
    id_token_claims(&rig.app, &rig.rp, &code, &verifier).await
}

async fn id_token_claims(app: &TestApp, client: &Client, code: &str, verifier: &str) -> Value {
    let form =
        [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT), ("code_verifier", verifier)];
    let response = token_request(app, client, &form).await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    let payload = tokens["id_token"].as_str().unwrap().split('.').nth(1).unwrap().to_owned();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// An ID token the upstream issued to `client` for `email`, as an app holding one would have it.
async fn upstream_id_token(rig: &Rig, client: &Client, redirect_uri: &str, email: &str) -> String {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut url = Url::parse(&rig.upstream.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", &client.0)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email profile")
        .append_pair("nonce", "app-nonce")
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    // Only the upstream is a known site: the redirect to ferrid's callback is where it stops.
    let agent = Agent::new(&[&rig.upstream]);
    let landing = agent.run(agent.follow(url.to_string()).await, &rig.app, email).await;
    let code = landing.param("code").unwrap_or_else(|| panic!("no code: {landing:?}"));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier.secret()),
    ];
    let response = token_request(&rig.upstream, client, &form).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["id_token"].as_str().unwrap().to_owned()
}

/// A JWT that parses as an ID token (its keys are fetched before the signature can be checked).
fn well_formed_token() -> String {
    let part = |value: Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let header = part(json!({ "alg": "RS256", "kid": "k" }));
    let claims = part(json!({ "iss": "https://x", "aud": "ferrid", "sub": "s", "exp": 4_102_444_800_i64, "iat": 1 }));
    format!("{header}.{claims}.{}", URL_SAFE_NO_PAD.encode("signature"))
}

async fn google_api(app: &TestApp, id_token: &str) -> (StatusCode, Value) {
    let response = post_json(app, "/api/auth/google", &json!({ "id_token": id_token }), None).await;
    (response.status(), response.json().await.unwrap())
}

/// The reasons of the failed `federation.login` events, newest first.
async fn failure_reasons(app: &TestApp) -> Vec<String> {
    let query = AuditQuery { kind: Some("federation.login".to_owned()), limit: 100, ..AuditQuery::default() };
    let records = app.state.audit.query(&query).await.unwrap();
    records
        .into_iter()
        .filter(|r| r.event.outcome == Outcome::Failure)
        .map(|r| r.event.details.unwrap()["reason"].as_str().unwrap().to_owned())
        .collect()
}

async fn audit_kinds(app: &TestApp) -> Vec<String> {
    let query = AuditQuery { limit: 100, ..AuditQuery::default() };
    app.state.audit.query(&query).await.unwrap().into_iter().map(|r| r.event.kind).collect()
}

async fn the_first_google_sign_in_creates_the_account_and_the_second_finds_it(backend: Backend) {
    let rig = rig(backend).await;
    create_user(&rig.upstream, "bea@example.com").await;

    let agent = Agent::new(&[&rig.app, &rig.upstream]);
    let (page, _) = begin(&rig, &agent).await;
    assert!(page.html().contains("Continue with Google"), "the login page offers Google");
    let claims = sign_in_with_google(&rig, &agent, "bea@example.com").await;
    let user = rig.app.state.accounts.find_by_email(&Email::parse("bea@example.com").unwrap()).await.unwrap();
    assert_eq!(claims["sub"], user.id.to_string());
    assert_eq!(claims["email_verified"], true, "as the upstream said");
    assert!(!user.has_password, "an account created by federation has no password");
    // RFC 8176: `fed`, then how the user authenticated upstream.
    assert_eq!(claims["amr"], json!(["fed", "pwd"]));
    assert_eq!(claims["acr"], "1");
    let kinds = audit_kinds(&rig.app).await;
    assert!(kinds.iter().any(|k| k == "federation.user.create") && kinds.iter().any(|k| k == "federation.login"));

    // A second sign-in from another browser: the same account, no second one.
    let again = sign_in_with_google(&rig, &Agent::new(&[&rig.app, &rig.upstream]), "bea@example.com").await;
    assert_eq!(again["sub"], user.id.to_string());
    let identities = rig.app.state.federation.identities().list_for_user(user.id).await.unwrap();
    assert_eq!(identities.len(), 1);
    assert_eq!(identities[0].provider, "google");
}

async fn a_verified_address_links_to_the_existing_account(backend: Backend) {
    let rig = rig(backend).await;
    create_user(&rig.app, "ann@example.com").await;
    create_user(&rig.upstream, "ann@example.com").await;
    let existing = rig.app.state.accounts.find_by_email(&Email::parse("ann@example.com").unwrap()).await.unwrap();

    let claims = sign_in_with_google(&rig, &Agent::new(&[&rig.app, &rig.upstream]), "ann@example.com").await;
    assert_eq!(claims["sub"], existing.id.to_string(), "linked, not a second account");
    assert!(audit_kinds(&rig.app).await.iter().any(|k| k == "federation.identity.link"));
    assert_eq!(rig.app.state.federation.identities().count_for_user(existing.id).await.unwrap(), 1);
}

async fn an_unverified_address_is_refused_then_linked_from_the_account(backend: Backend) {
    let rig = rig(backend).await;
    create_user(&rig.app, "dan@example.com").await;
    create_unverified_user(&rig.upstream, "dan@example.com").await;
    let dan = rig.app.state.accounts.find_by_email(&Email::parse("dan@example.com").unwrap()).await.unwrap();

    let agent = Agent::new(&[&rig.app, &rig.upstream]);
    let (page, _) = begin(&rig, &agent).await;
    let refused = agent.run(page, &rig.app, "dan@example.com").await;
    assert!(refused.is_page(StatusCode::CONFLICT, "email_not_verified"), "{refused:?}");
    assert!(refused.html().contains("Sign in with your email and password"));
    assert_eq!(rig.app.state.federation.identities().count_for_user(dan.id).await.unwrap(), 0, "nothing linked");
    assert_eq!(rig.app.state.accounts.list_users(0, 10).await.unwrap().len(), 1, "no account created");
    assert_eq!(failure_reasons(&rig.app).await, ["email_not_verified"]);

    // Dan signs in with his password (the same browser), then links Google from his account.
    let (page, _) = begin(&rig, &agent).await;
    let html = page.html().to_owned();
    let (request, csrf) = (hidden(&html, "request"), hidden(&html, "csrf"));
    let fields = [("request", &*request), ("csrf", &csrf), ("email", "dan@example.com"), ("password", PASSWORD)];
    let Stop::Page { url, .. } = &page else { unreachable!() };
    agent.run(agent.submit(url, "/login", &fields).await, &rig.app, "dan@example.com").await;
    let linked = agent.run(agent.follow(rig.app.url("/login/google")).await, &rig.app, "dan@example.com").await;
    assert!(linked.is_page(StatusCode::OK, "Google account linked"), "{linked:?}");

    let claims = sign_in_with_google(&rig, &Agent::new(&[&rig.app, &rig.upstream]), "dan@example.com").await;
    assert_eq!(claims["sub"], dan.id.to_string());
}

async fn the_id_token_exchange_api_signs_in_and_refuses_bad_tokens(backend: Backend) {
    let rig = rig(backend).await;
    create_user(&rig.upstream, "cat@example.com").await;
    let callback = rig.app.url("/login/google/callback");
    let token = upstream_id_token(&rig, &rig.google, &callback, "cat@example.com").await;

    let (status, body) = google_api(&rig.app, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access_token = body["access_token"].as_str().unwrap().to_owned();
    // Each ID token is accepted once.
    let (status, body) = google_api(&rig.app, &token).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("token_replayed")));

    // The user's identities: one, the last way to sign in (no password), so it stays.
    let me = |method: reqwest::Method, path: &str| {
        rig.app.http.request(method, rig.app.url(path)).bearer_auth(&access_token).send()
    };
    let list: Value = me(reqwest::Method::GET, "/api/users/me/identities").await.unwrap().json().await.unwrap();
    assert_eq!(list["identities"][0]["provider"], "google");
    assert_eq!(list["has_password"], false);
    let id = list["identities"][0]["id"].as_str().unwrap().to_owned();
    let response = me(reqwest::Method::DELETE, &format!("/api/users/me/identities/{id}")).await.unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "last_sign_in_method");

    // Wrong audience: a token the upstream issued to another of its clients.
    let mut other = ClientMetadata::new("Another app", ClientType::Confidential);
    other.redirect_uris.push(RedirectUri::parse(REDIRECT).unwrap());
    other.grant_types = vec![GrantType::AuthorizationCode];
    let (other, secret) = rig.upstream.state.clients.register(other).await.unwrap();
    let other = (other.id.as_str().to_owned(), secret.map(|s| s.expose().to_owned()));
    let foreign = upstream_id_token(&rig, &other, REDIRECT, "cat@example.com").await;
    let (status, body) = google_api(&rig.app, &foreign).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_audience")));

    // Bad signature: a fresh token's header and claims under another token's signature.
    let fresh = upstream_id_token(&rig, &rig.google, &callback, "cat@example.com").await;
    let parts: Vec<&str> = fresh.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], parts[1], token.split('.').nth(2).unwrap());
    let (status, body) = google_api(&rig.app, &forged).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_signature")));
    let (status, body) = google_api(&rig.app, "not.a.jwt").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_id_token")));

    let reasons = failure_reasons(&rig.app).await;
    for reason in ["token_replayed", "invalid_audience", "invalid_signature", "invalid_id_token"] {
        assert!(reasons.iter().any(|r| r == reason), "{reason} not audited: {reasons:?}");
    }
    // The untouched fresh token still works: the forgery did not use it up.
    assert_eq!(google_api(&rig.app, &fresh).await.0, StatusCode::OK);
}

/// The step that sends the browser to the upstream, without following it: the upstream's
/// authorization URL and its `state`.
async fn send_to_upstream(rig: &Rig, agent: &Agent) -> (Url, String) {
    let (page, _) = begin(rig, agent).await;
    let link = rig.app.url(&google_link(page.html()));
    let response = agent.sites[0].1.get(link).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[header::LOCATION].to_str().unwrap().to_owned();
    assert!(location.starts_with(&rig.upstream.address), "{location}");
    let url = Url::parse(&location).unwrap();
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"), "RFC 7636 PKCE");
    assert!(param("nonce").is_some());
    let state = param("state").unwrap();
    (url, state)
}

async fn callback_failures_are_clear_pages_with_audit_events(backend: Backend) {
    let rig = rig(backend).await;
    create_user(&rig.upstream, "eve@example.com").await;

    let callback = |query: &str| rig.app.url(&format!("/login/google/callback?{query}"));

    // RFC 6749 §4.1.2.1: the user declined at the upstream.
    let agent = Agent::new(&[&rig.app, &rig.upstream]);
    let (_, state) = send_to_upstream(&rig, &agent).await;
    let declined = agent.follow(callback(&format!("error=access_denied&state={state}"))).await;
    assert!(declined.is_page(StatusCode::BAD_REQUEST, "was cancelled"), "{declined:?}");

    // RFC 6749 §10.12: a callback from another browser (login CSRF) is refused.
    let (_, state) = send_to_upstream(&rig, &agent).await;
    let stranger = Agent::new(&[&rig.app]);
    let mismatch = stranger.follow(callback(&format!("code=x&state={state}"))).await;
    assert!(mismatch.is_page(StatusCode::BAD_REQUEST, "state_mismatch"), "{mismatch:?}");

    // OIDC Core §3.1.3.7 step 11: an ID token for another nonce (injected into the request).
    let (upstream_url, _) = send_to_upstream(&rig, &agent).await;
    let mut tampered = upstream_url.clone();
    let pairs: Vec<(String, String)> = upstream_url
        .query_pairs()
        .map(|(k, v)| {
            let value = if k == "nonce" { "injected".to_owned() } else { v.into_owned() };
            (k.into_owned(), value)
        })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    let stop = agent.run(agent.follow(tampered.to_string()).await, &rig.app, "eve@example.com").await;
    assert!(stop.is_page(StatusCode::BAD_REQUEST, "nonce_mismatch"), "{stop:?}");
    assert!(rig.app.state.accounts.find_by_email(&Email::parse("eve@example.com").unwrap()).await.is_err());

    // A successful sign-in; its callback URL replayed with the state cookie is refused: the
    // state is taken once.
    let agent = Agent::new(&[&rig.app, &rig.upstream]);
    sign_in_with_google(&rig, &agent, "eve@example.com").await;
    let used = agent.visited("/login/google/callback?");
    let state = Url::parse(&used).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let replay =
        rig.app.http.get(&used).header(header::COOKIE, format!("ferrid_fed_state={state}")).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(replay.text().await.unwrap().contains("invalid_state"));

    let reasons = failure_reasons(&rig.app).await;
    for reason in ["access_denied", "state_mismatch", "nonce_mismatch", "invalid_state"] {
        assert!(reasons.iter().any(|r| r == reason), "{reason} not audited: {reasons:?}");
    }
}

async fn an_upstream_that_is_down_or_slow_is_a_clear_error(backend: Backend) {
    // Down: nothing listens on the issuer's port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    // Slow: a listener that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow = format!("http://{}", silent.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });

    for issuer in [down, slow] {
        let app = spawn_app_with(
            backend,
            &[
                ("FERRID_GOOGLE_CLIENT_ID", "ferrid"),
                ("FERRID_GOOGLE_CLIENT_SECRET", "secret"),
                ("FERRID_GOOGLE_ISSUER", &issuer),
                ("FERRID_UPSTREAM_TIMEOUT_SECS", "1"),
            ],
        )
        .await;
        let rp = create_client(&app, ClientType::Confidential).await;
        let agent = Agent::new(&[&app]);
        let (url, _) = authorize_url(&app, &rp.0, "openid", &[]);
        let page = agent.follow(url).await;
        let started = Instant::now();
        let stop = agent.follow(app.url(&google_link(page.html()))).await;
        assert!(stop.is_page(StatusCode::SERVICE_UNAVAILABLE, "upstream_unavailable"), "{issuer}: {stop:?}");
        assert!(stop.html().contains("Google is not answering"));
        let (status, body) = google_api(&app, &well_formed_token()).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("upstream_unavailable")));
        assert!(started.elapsed().as_secs() < 10, "the timeout bounds the wait: {:?}", started.elapsed());
        assert_eq!(failure_reasons(&app).await, ["upstream_unavailable", "upstream_unavailable"]);
        app.stop().await;
    }
    hold.abort();
}

/// The upstream key a token names in its header.
fn kid_of(token: &str) -> String {
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// OIDC Core §10.1.1: the upstream rotated its keys; a token naming a key the cached JWKS lacks
/// makes ferrid fetch the JWKS again — but not more than once every 30 s.
async fn a_token_signed_with_a_new_upstream_key_fetches_the_jwks_again(backend: Backend) {
    #[allow(clippy::disallowed_methods)] // the fixed clock starts at real time, so upstream tokens are current
    let clock = FixedClock::at(chrono::Utc::now());
    let rig = rig_with_clock(backend, Arc::new(clock.clone())).await;
    create_user(&rig.upstream, "fay@example.com").await;
    let callback = rig.app.url("/login/google/callback");
    let first = upstream_id_token(&rig, &rig.google, &callback, "fay@example.com").await;
    assert_eq!(google_api(&rig.app, &first).await.0, StatusCode::OK, "discovery and JWKS are now cached");
    let cached: Value = rig.upstream.get("/jwks").await.json().await.unwrap();
    let cached_kids: Vec<&str> =
        cached["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();

    // Two revocations: the published next key takes over, then one created after the cache.
    let rs256 = keys::KeyAlg::Signing(keys::SigningAlg::RS256);
    for _ in 0..2 {
        let keys = rig.upstream.state.keys.summaries();
        let active = keys.iter().find(|k| k.alg == rs256 && k.state == keys::KeyState::Active).unwrap();
        rig.upstream.state.keys.revoke(&active.kid).await.unwrap();
    }
    let rotated = upstream_id_token(&rig, &rig.google, &callback, "fay@example.com").await;
    assert!(!cached_kids.contains(&kid_of(&rotated).as_str()), "the new key was not in the cached JWKS");

    // Right after the last fetch the JWKS is not fetched again: the key is unknown.
    let (status, body) = google_api(&rig.app, &rotated).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_signature")));
    clock.advance(chrono::Duration::seconds(31));
    let (status, body) = google_api(&rig.app, &rotated).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

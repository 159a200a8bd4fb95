//! ferrid's pages in a real browser (issue 12): headless Debian Chromium driven by
//! playwright-core. Each test starts ferrid (and what the scenario needs: a second factor, an
//! upstream "Google"), then runs one scenario of tests/browser/flows.mjs, where a relying party
//! registers itself (RFC 7591), starts the code flow with PKCE, state and nonce, redeems the code
//! and verifies the ID token. The scenario prints its result as JSON for the checks here.
//!
//! Screenshots of each important step go to target/browser-screenshots/<scenario>/<backend>/
//! NN-step.png; a failure keeps the page's HTML and a full-page screenshot next to them.
//! Needs `apt-get install chromium` and node; `npm ci --prefix tests/browser` runs on first use.

use std::{
    path::Path,
    process::Command,
    sync::{Arc, Mutex, PoisonError},
};

use chrono::{DateTime, Utc};
use ferrid::{
    accounts::Email,
    clock::{Clock, FixedClock, SystemClock},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use totp_rs::Totp;

use crate::{
    accounts::post_json,
    federation::start_with_upstream,
    helpers::{Backend, TestApp, TestResources, spawn_app, spawn_app_on_localhost, start_app},
    oidc::{PASSWORD, create_user},
};

on_every_backend!(
    signs_in_and_consents_and_the_rp_gets_a_code_oidc_core_3_1,
    a_second_client_skips_the_login_single_sign_on,
    a_totp_user_types_the_code_after_the_password_rfc_6238,
    a_password_reset_through_the_mailed_link_then_signs_in,
    rp_initiated_logout_returns_with_state_and_ends_the_session,
    continue_with_google_signs_in_through_the_upstream,
    sign_in_and_consent_with_the_keyboard_only,
    sign_in_and_consent_with_javascript_off,
);

const EMAIL: &str = "ann@example.com";
const CHROMIUM: &str = "/usr/bin/chromium";
const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
const SCREENSHOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/browser-screenshots");
/// The scripts bound themselves (60 s per scenario); coreutils `timeout` ends a node process
/// that hangs anyway, so CI fails instead of waiting.
const HARD_LIMIT_SECS: &str = "150";

/// One `npm ci` at a time, however many browser tests start together.
static NPM_CI: Mutex<()> = Mutex::new(());

/// Chromium must be installed; the scripts' npm packages are installed on first use.
fn browser_tools() {
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: install it with `apt-get install chromium`");
    let _one_at_a_time = NPM_CI.lock().unwrap_or_else(PoisonError::into_inner);
    if !Path::new(SCRIPTS).join("node_modules/playwright-core").exists() {
        let output = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix", SCRIPTS])
            .output()
            .unwrap_or_else(|error| panic!("cannot run npm: {error} (is node installed?)"));
        assert!(output.status.success(), "npm ci failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }
}

/// Where a scenario's screenshots go.
fn screenshot_dir(scenario: &str, backend: Backend) -> String {
    let backend = match backend {
        Backend::Embedded => "embedded",
        Backend::External => "postgres_redis",
    };
    format!("{SCREENSHOTS}/{scenario}/{backend}")
}

/// Runs `node tests/browser/<script> <args…>` and expects it to succeed; returns the JSON of its
/// `result:` line (null when it prints none).
async fn run_browser_script(script: &str, args: Vec<String>) -> Value {
    browser_tools();
    let script = format!("{SCRIPTS}/{script}");
    // The server runs on this test's runtime: wait for the browser off it.
    let output = tokio::task::spawn_blocking(move || {
        Command::new("timeout")
            .args(["--kill-after=10", HARD_LIMIT_SECS, "node", &script])
            .args(&args)
            .output()
            .unwrap_or_else(|error| panic!("cannot run node {script}: {error} (is node installed?)"))
    })
    .await
    .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(output.status.success(), "the browser scenario failed ({}):\n{stdout}\n{stderr}", output.status);
    stdout
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("result: "))
        .map_or(Value::Null, |result| serde_json::from_str(result).unwrap())
}

/// Runs scenario `name` of flows.mjs against `app` as [`EMAIL`]; `extra` adds parameters.
async fn run_flow(name: &str, backend: Backend, app: &TestApp, extra: Value) -> Value {
    let mut params = json!({
        "issuer": app.address,
        "email": EMAIL,
        "password": PASSWORD,
        "screenshots": screenshot_dir(name, backend),
    });
    params.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    run_browser_script("flows.mjs", vec![name.to_owned(), params.to_string()]).await
}

fn amr(claims: &Value) -> Vec<&str> {
    claims["amr"].as_array().unwrap().iter().map(|method| method.as_str().unwrap()).collect()
}

async fn signs_in_and_consents_and_the_rp_gets_a_code_oidc_core_3_1(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, EMAIL).await;
    let result = run_flow("sign_in", backend, &app, json!({})).await;
    // The RP checked the signature, iss, aud and nonce (OIDC Core §3.1.3.7); these are the claims.
    let claims = &result["claims"];
    assert_eq!(claims["email"], EMAIL, "{result}");
    assert_eq!(amr(claims), ["pwd"], "RFC 8176 §2: a password sign-in");
    app.stop().await;
}

async fn a_second_client_skips_the_login_single_sign_on(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, EMAIL).await;
    let result = run_flow("sso", backend, &app, json!({})).await;
    assert_eq!(result["first"]["sub"], result["second"]["sub"], "{result}");
    assert!(!result["paths"].as_array().unwrap().contains(&json!("/login")), "{result}");
    app.stop().await;
}

#[allow(clippy::disallowed_methods)] // the fixed clock starts at real time, so ID tokens verify
fn real_now() -> DateTime<Utc> {
    Utc::now()
}

async fn a_totp_user_types_the_code_after_the_password_rfc_6238(backend: Backend) {
    // A fixed clock: the enrolment uses one time step, the browser types the next one's code
    // (one step of skew is accepted, and each step once, RFC 6238 §5.2).
    let clock = FixedClock::at(real_now());
    let app = start_app(TestResources::create(backend).await, &[], Arc::new(clock.clone())).await.unwrap();
    create_user(&app, EMAIL).await;

    // Enrolment through the account API with the user's own token, as the first-party SPA does.
    let login = post_json(&app, "/api/auth/login", &json!({ "email": EMAIL, "password": PASSWORD }), None).await;
    assert_eq!(login.status(), StatusCode::OK);
    let token = login.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let enrolment: Value = app
        .http
        .post(app.url("/api/users/me/mfa/totp"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let authenticator = Totp::from_url(enrolment["otpauth_uri"].as_str().unwrap()).unwrap();
    let now = u64::try_from(clock.now().timestamp()).unwrap();
    let confirmed = app
        .http
        .post(app.url("/api/users/me/mfa/totp/confirm"))
        .bearer_auth(&token)
        .json(&json!({ "code": authenticator.generate(now).to_string() }))
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), StatusCode::OK, "{}", confirmed.text().await.unwrap());

    let extra = json!({ "totp_secret": enrolment["secret"], "totp_time": now + 30 });
    let result = run_flow("totp", backend, &app, extra).await;
    assert_eq!(amr(&result["claims"]), ["pwd", "otp"], "RFC 8176 §2: password and one-time code: {result}");
    app.stop().await;
}

async fn a_password_reset_through_the_mailed_link_then_signs_in(backend: Backend) {
    // No FERRID_SMTP_URL: mail is written under the data directory, where the browser's reader
    // finds it.
    let app = spawn_app(backend).await;
    create_user(&app, EMAIL).await;
    let new_password = "a brand new passphrase";
    let mail_dir = app.state.config.data_dir.join("mail");
    let extra = json!({ "mail_dir": mail_dir, "new_password": new_password });
    let result = run_flow("password_reset", backend, &app, extra).await;
    assert_eq!(result["claims"]["email"], EMAIL, "{result}");
    app.stop().await;
}

async fn rp_initiated_logout_returns_with_state_and_ends_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, EMAIL).await;
    let result = run_flow("logout", backend, &app, json!({})).await;
    assert_eq!(result["signOuts"], 2, "{result}");
    let user = app.state.accounts.find_by_email(&Email::parse(EMAIL).unwrap()).await.unwrap();
    let live = app.state.sessions.live_for_user(user.id, app.state.clock.now()).await.unwrap();
    assert!(live.is_empty(), "both logouts ended their session: {} left", live.len());
    app.stop().await;
}

async fn continue_with_google_signs_in_through_the_upstream(backend: Backend) {
    // The upstream listens at localhost, ferrid at 127.0.0.1: two sites with their own cookies.
    let upstream = spawn_app_on_localhost(backend, &[]).await;
    let google_email = "gina@example.com";
    create_user(&upstream, google_email).await;
    let (app, _) = start_with_upstream(backend, &upstream, Arc::new(SystemClock)).await;
    let extra = json!({ "upstream": upstream.address, "upstream_email": google_email });
    let result = run_flow("google", backend, &app, extra).await;
    let claims = &result["claims"];
    assert_eq!(claims["email"], google_email, "{result}");
    assert!(amr(claims).contains(&"fed"), "RFC 8176 §2: federated: {result}");
    let account = app.state.accounts.find_by_email(&Email::parse(google_email).unwrap()).await;
    assert!(account.is_ok(), "the first Google sign-in created the account");
    app.stop().await;
    upstream.stop().await;
}

async fn sign_in_and_consent_with_the_keyboard_only(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, EMAIL).await;
    let result = run_flow("keyboard", backend, &app, json!({})).await;
    assert_eq!(result["claims"]["email"], EMAIL, "{result}");
    app.stop().await;
}

async fn sign_in_and_consent_with_javascript_off(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, EMAIL).await;
    let result = run_flow("no_javascript", backend, &app, json!({})).await;
    assert_eq!(result["claims"]["email"], EMAIL, "{result}");
    app.stop().await;
}

/// Swagger's Authorize button (DESIGN §8): an administrator signs in through ferrid's own code
/// flow with PKCE in Swagger's popup, then "Try it out" on the account and admin APIs answers 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_authorize_signs_in_and_tries_the_account_and_admin_apis() {
    let app = spawn_app(Backend::Embedded).await;
    let email = "admin@example.com";
    create_user(&app, email).await;
    let user = app.state.accounts.find_by_email(&Email::parse(email).unwrap()).await.unwrap();
    ferrid::oauth::admin::make_administrator(&app.state.access_control, user.id).await.unwrap();
    let args = vec![
        app.address.clone(),
        email.to_owned(),
        PASSWORD.to_owned(),
        screenshot_dir("swagger_authorize", Backend::Embedded),
        user.id.to_string(),
    ];
    run_browser_script("swagger_authorize.mjs", args).await;
    app.stop().await;
}

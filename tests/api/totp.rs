//! TOTP two-factor (RFC 6238) end to end: enrolment and confirmation, the login page's second
//! step through /authorize, `amr` `["pwd","otp"]` in the ID token (RFC 8176 §2), recovery codes
//! that work once, replayed codes refused (RFC 6238 §5.2), and a challenge that ends after five
//! wrong answers. Codes are computed here with totp-rs from the enrolment's otpauth:// URI, as an
//! authenticator app would; the server runs on a fixed clock so that time steps are chosen, not
//! raced.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use ferrid::{
    accounts::{Email, MfaError, SecondFactorAnswer, User},
    audit::AuditQuery,
    clock::{Clock, FixedClock},
    oauth::ClientType,
};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use totp_rs::Totp;

use crate::{
    accounts::{post_json, refresh_cookie},
    admin_sessions::{Client, token_request},
    admin_users::call,
    browser::{Browser, Landing, hidden},
    helpers::{Backend, TestApp, TestResources, start_app},
    oidc::{PASSWORD, REDIRECT, authorize_url, create_client, create_user},
};

on_every_backend!(
    a_totp_user_signs_in_with_a_second_step_and_the_id_token_says_pwd_otp_rfc_8176,
    a_code_is_accepted_once_even_by_concurrent_requests_rfc_6238_5_2,
    recovery_codes_work_once_each,
    five_wrong_answers_end_the_challenge,
    enrolment_needs_a_first_code_and_removal_a_current_one,
    the_account_api_turns_totp_on_and_off,
    the_login_api_answers_mfa_required_and_completes_with_a_code,
    concurrent_enrolment_starts_never_fail,
);

const EMAIL: &str = "ann@example.com";

struct Rig {
    app: TestApp,
    clock: FixedClock,
    client: Client,
}

#[allow(clippy::disallowed_methods)] // the fixed clock starts at real time, so JWTs verify
fn real_now() -> DateTime<Utc> {
    Utc::now()
}

async fn rig(backend: Backend) -> Rig {
    let clock = FixedClock::at(real_now());
    let app = start_app(TestResources::create(backend).await, &[], Arc::new(clock.clone())).await.unwrap();
    create_user(&app, EMAIL).await;
    let client = create_client(&app, ClientType::Confidential).await;
    Rig { app, clock, client }
}

async fn user(app: &TestApp) -> User {
    app.state.accounts.find_by_email(&Email::parse(EMAIL).unwrap()).await.unwrap()
}

/// What an authenticator app holds after scanning the enrolment's QR code.
struct Authenticator(Totp);

impl Authenticator {
    /// The code shown `steps` time steps from the server's now.
    fn code(&self, rig: &Rig, steps: i64) -> String {
        let at = rig.clock.now() + Duration::seconds(30 * steps);
        self.0.generate(u64::try_from(at.timestamp()).unwrap()).to_string()
    }
}

/// Enrols and confirms TOTP for the user; returns the app and the recovery codes.
async fn enrol(rig: &Rig) -> (Authenticator, Vec<String>) {
    let user = user(&rig.app).await;
    let enrolment = rig.app.state.second_factors.enrol_totp(&user).await.unwrap();
    let app = Authenticator(Totp::from_url(&enrolment.otpauth_uri).unwrap());
    assert_eq!(app.0.secret().to_base32(), enrolment.secret_base32);
    let codes = rig.app.state.second_factors.confirm_totp(user.id, &app.code(rig, 0)).await.unwrap();
    (app, codes.0)
}

/// Signs in with the password; stops on the second-step page.
async fn password_step(rig: &Rig, browser: &Browser) -> (String, String) {
    let (url, verifier) = authorize_url(&rig.app, &rig.client.0, "openid", &[]);
    let landing = browser.sign_in(&url, EMAIL, PASSWORD).await;
    let Landing::Page { status, html } = landing else { panic!("no second step: {landing:?}") };
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Two-step verification") && html.contains("action=\"/login/mfa\""), "{html}");
    (html, verifier)
}

/// Submits the second step's form with `field` = `value`.
async fn answer(browser: &Browser, page: &str, field: &str, value: &str) -> Landing {
    let (request, csrf, token) = (hidden(page, "request"), hidden(page, "csrf"), hidden(page, "mfa_token"));
    let form = [("request", request.as_str()), ("csrf", &csrf), ("mfa_token", &token), (field, value)];
    let landing = browser.submit("/login/mfa", &form).await;
    // A first sign-in at this client asks for consent.
    match &landing {
        Landing::Page { html, .. } if html.contains("action=\"/consent\"") => {
            let (request, csrf) = (hidden(html, "request"), hidden(html, "csrf"));
            browser.submit("/consent", &[("request", &request), ("csrf", &csrf), ("decision", "allow")]).await
        }
        _ => landing,
    }
}

async fn id_token_claims(rig: &Rig, landing: &Landing, verifier: &str) -> Value {
    let code = landing.code();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    let response = token_request(&rig.app, &rig.client, &form).await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    let payload = tokens["id_token"].as_str().unwrap().split('.').nth(1).unwrap().to_owned();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn is_page(landing: &Landing, status: StatusCode, text: &str) -> bool {
    matches!(landing, Landing::Page { status: s, html } if *s == status && html.contains(text))
}

async fn a_totp_user_signs_in_with_a_second_step_and_the_id_token_says_pwd_otp_rfc_8176(backend: Backend) {
    let rig = rig(backend).await;
    let (authenticator, _) = enrol(&rig).await;
    let browser = Browser::new(&rig.app.address);
    let (page, verifier) = password_step(&rig, &browser).await;

    // The password alone signed nobody in: no session exists yet.
    let user = user(&rig.app).await;
    assert!(rig.app.state.sessions.live_for_user(user.id, rig.clock.now()).await.unwrap().is_empty());

    // A wrong code shows the page again with an error.
    let wrong = if authenticator.code(&rig, 1) == "000000" { "111111" } else { "000000" };
    let landing = answer(&browser, &page, "code", wrong).await;
    assert!(is_page(&landing, StatusCode::UNAUTHORIZED, "not right"), "{landing:?}");

    // The confirmation used this step's code; the next step's is fresh (RFC 6238 §5.2 skew).
    let landing = answer(&browser, &page, "code", &authenticator.code(&rig, 1)).await;
    let claims = id_token_claims(&rig, &landing, &verifier).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp"]));
    assert_eq!(claims["sub"], user.id.to_string());

    // SSO from the session carries the same amr without asking again.
    let (url, verifier) = authorize_url(&rig.app, &rig.client.0, "openid", &[]);
    let landing = browser.follow(url).await;
    let claims = id_token_claims(&rig, &landing, &verifier).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp"]));

    // Audited, without the code.
    let records = rig.app.state.audit.query(&AuditQuery { limit: 50, ..AuditQuery::default() }).await.unwrap();
    let verifications: Vec<_> = records.iter().filter(|r| r.event.kind == "mfa.verify").collect();
    assert_eq!(verifications.len(), 2, "{records:?}");
    let details = format!("{records:?}");
    assert!(!details.contains(wrong) && !details.contains(&authenticator.code(&rig, 1)));
}

async fn a_code_is_accepted_once_even_by_concurrent_requests_rfc_6238_5_2(backend: Backend) {
    let rig = rig(backend).await;
    let (authenticator, _) = enrol(&rig).await;
    let code = authenticator.code(&rig, 1);

    // Two browsers race with the same code: exactly one gets in.
    let (a, b) = (Browser::new(&rig.app.address), Browser::new(&rig.app.address));
    let ((page_a, _), (page_b, _)) = tokio::join!(password_step(&rig, &a), password_step(&rig, &b));
    let (first, second) = tokio::join!(answer(&a, &page_a, "code", &code), answer(&b, &page_b, "code", &code));
    let passed = [&first, &second].iter().filter(|l| matches!(l, Landing::Redirect { .. })).count();
    assert_eq!(passed, 1, "{first:?} {second:?}");

    // Later, the same code (still inside the skew window) is refused.
    let c = Browser::new(&rig.app.address);
    let (page, _) = password_step(&rig, &c).await;
    let landing = answer(&c, &page, "code", &code).await;
    assert!(is_page(&landing, StatusCode::UNAUTHORIZED, "already used"), "{landing:?}");
    // And so is an older step than the last accepted one.
    let landing = answer(&c, &page, "code", &authenticator.code(&rig, 0)).await;
    assert!(is_page(&landing, StatusCode::UNAUTHORIZED, "already used"), "{landing:?}");

    // A new time step brings a new code.
    rig.clock.advance(Duration::seconds(30));
    let landing = answer(&c, &page, "code", &authenticator.code(&rig, 1)).await;
    assert!(matches!(landing, Landing::Redirect { .. }), "{landing:?}");
}

async fn recovery_codes_work_once_each(backend: Backend) {
    let rig = rig(backend).await;
    let (_, codes) = enrol(&rig).await;
    assert_eq!(codes.len(), 10);
    let user = user(&rig.app).await;
    assert_eq!(rig.app.state.second_factors.status(user.id).await.unwrap().recovery_codes_left, 10);

    let browser = Browser::new(&rig.app.address);
    let (page, verifier) = password_step(&rig, &browser).await;
    // Typed in capitals without the dashes, as people do.
    let typed = codes[0].replace('-', "").to_uppercase();
    let landing = answer(&browser, &page, "recovery_code", &typed).await;
    let claims = id_token_claims(&rig, &landing, &verifier).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp"]));
    assert_eq!(rig.app.state.second_factors.status(user.id).await.unwrap().recovery_codes_left, 9);

    // The same code again, concurrently from two browsers: neither gets in.
    let (a, b) = (Browser::new(&rig.app.address), Browser::new(&rig.app.address));
    let ((page_a, _), (page_b, _)) = tokio::join!(password_step(&rig, &a), password_step(&rig, &b));
    let (first, second) =
        tokio::join!(answer(&a, &page_a, "recovery_code", &codes[0]), answer(&b, &page_b, "recovery_code", &codes[0]));
    assert!(is_page(&first, StatusCode::UNAUTHORIZED, "not right"), "{first:?}");
    assert!(is_page(&second, StatusCode::UNAUTHORIZED, "not right"), "{second:?}");

    // Two racing requests with one unused code: one wins.
    let (first, second) =
        tokio::join!(answer(&a, &page_a, "recovery_code", &codes[1]), answer(&b, &page_b, "recovery_code", &codes[1]));
    let passed = [&first, &second].iter().filter(|l| matches!(l, Landing::Redirect { .. })).count();
    assert_eq!(passed, 1, "{first:?} {second:?}");
    assert_eq!(rig.app.state.second_factors.status(user.id).await.unwrap().recovery_codes_left, 8);
}

async fn five_wrong_answers_end_the_challenge(backend: Backend) {
    let rig = rig(backend).await;
    let (authenticator, codes) = enrol(&rig).await;
    let browser = Browser::new(&rig.app.address);
    let (page, _) = password_step(&rig, &browser).await;
    let right = authenticator.code(&rig, 1);
    let wrong = if right == "000000" { "111111" } else { "000000" };
    for _ in 0..4 {
        let landing = answer(&browser, &page, "code", wrong).await;
        assert!(is_page(&landing, StatusCode::UNAUTHORIZED, "not right"), "{landing:?}");
    }
    // The fifth wrong answer sends the browser back to the password.
    let landing = answer(&browser, &page, "recovery_code", "aaaa-aaaa-aa").await;
    assert!(is_page(&landing, StatusCode::OK, "action=\"/login\""), "{landing:?}");
    // The challenge is gone: even the right code now leads back to the password.
    let landing = answer(&browser, &page, "code", &right).await;
    assert!(is_page(&landing, StatusCode::OK, "action=\"/login\""), "{landing:?}");
    let landing = answer(&browser, &page, "recovery_code", &codes[0]).await;
    assert!(is_page(&landing, StatusCode::OK, "action=\"/login\""), "{landing:?}");
    // Neither was spent by the dead challenge.
    let user = user(&rig.app).await;
    assert_eq!(rig.app.state.second_factors.status(user.id).await.unwrap().recovery_codes_left, 10);

    // A challenge is bound to its authorization request and cannot be forged.
    let (page, _) = password_step(&rig, &browser).await;
    let forged = page.replace(&hidden(&page, "mfa_token"), "forged");
    let landing = answer(&browser, &forged, "code", &right).await;
    assert!(is_page(&landing, StatusCode::OK, "action=\"/login\""), "{landing:?}");
    let landing = answer(&browser, &page, "code", &right).await;
    assert!(matches!(landing, Landing::Redirect { .. }), "{landing:?}");
}

async fn enrolment_needs_a_first_code_and_removal_a_current_one(backend: Backend) {
    let rig = rig(backend).await;
    let factors = &rig.app.state.second_factors;
    let user = user(&rig.app).await;

    // An unconfirmed enrolment does not turn the second step on, and re-enrolling replaces it.
    let first = factors.enrol_totp(&user).await.unwrap();
    assert!(first.qr_code.starts_with("data:image/svg+xml;base64,"));
    assert!(first.otpauth_uri.starts_with("otpauth://totp/ferrid:ann%40example.com?secret="), "{}", first.otpauth_uri);
    assert!(!factors.is_enabled(user.id).await.unwrap());
    let stale = Authenticator(Totp::from_url(&first.otpauth_uri).unwrap());
    let second = factors.enrol_totp(&user).await.unwrap();
    assert_ne!(first.secret_base32, second.secret_base32);
    let authenticator = Authenticator(Totp::from_url(&second.otpauth_uri).unwrap());
    assert!(matches!(factors.confirm_totp(user.id, &stale.code(&rig, 0)).await, Err(MfaError::WrongCode)));
    let codes = factors.confirm_totp(user.id, &authenticator.code(&rig, 0)).await.unwrap().0;
    assert!(factors.is_enabled(user.id).await.unwrap());
    assert!(matches!(factors.enrol_totp(&user).await, Err(MfaError::AlreadyEnabled)));

    // New recovery codes replace the old ones.
    let code = SecondFactorAnswer::Code(authenticator.code(&rig, 1));
    let fresh = factors.regenerate_recovery_codes(user.id, &code).await.unwrap().0;
    assert!(fresh.iter().all(|c| !codes.contains(c)));
    let old = SecondFactorAnswer::RecoveryCode(codes[0].clone());
    assert!(factors.verify(user.id, &old).await.unwrap().is_none());

    // Turning it off needs a current code; the replayed one is refused.
    assert!(matches!(factors.disable_totp(user.id, &code).await, Err(MfaError::WrongCode)));
    rig.clock.advance(Duration::seconds(30));
    let code = SecondFactorAnswer::Code(authenticator.code(&rig, 1));
    factors.disable_totp(user.id, &code).await.unwrap();
    assert_eq!(rig.app.state.accounts.second_factors(user.id).await.unwrap(), 0);

    // Without it, the password signs in alone with amr ["pwd"].
    let browser = Browser::new(&rig.app.address);
    let (url, verifier) = authorize_url(&rig.app, &rig.client.0, "openid", &[]);
    let landing = browser.sign_in(&url, EMAIL, PASSWORD).await;
    let claims = id_token_claims(&rig, &landing, &verifier).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
}

/// A call to the account API with the user's bearer token.
async fn account_api(rig: &Rig, method: &str, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
    call(&rig.app, token, method, path, body).await
}

async fn api_login(rig: &Rig) -> reqwest::Response {
    post_json(&rig.app, "/api/auth/login", &json!({ "email": EMAIL, "password": PASSWORD }), None).await
}

async fn api_second_step(rig: &Rig, mfa_token: &str, field: &str, value: &str) -> reqwest::Response {
    post_json(&rig.app, "/api/auth/login/mfa", &json!({ "mfa_token": mfa_token, field: value }), None).await
}

/// `mfa_required` with a challenge, and no tokens or cookie.
async fn mfa_required(rig: &Rig) -> String {
    let response = api_login(rig).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!((body["error"].as_str(), body["expires_in"].as_u64()), (Some("mfa_required"), Some(300)), "{body}");
    assert!(body.get("access_token").is_none());
    body["mfa_token"].as_str().unwrap().to_owned()
}

async fn the_account_api_turns_totp_on_and_off(backend: Backend) {
    let rig = rig(backend).await;
    let response = api_login(&rig).await;
    assert_eq!(response.status(), StatusCode::OK);
    let token = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let status = |token: String| {
        let rig = &rig;
        async move { account_api(rig, "GET", "/api/users/me/mfa", &token, None).await }
    };
    assert_eq!(
        status(token.clone()).await,
        (StatusCode::OK, json!({ "totp_enabled": false, "recovery_codes_left": 0 }))
    );
    let anonymous = rig.app.http.get(rig.app.url("/api/users/me/mfa")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // Enrolment: the URI, a QR code and the secret, never cached.
    let response = rig.app.http.post(rig.app.url("/api/users/me/mfa/totp")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let enrolment: Value = response.json().await.unwrap();
    assert!(enrolment["qr_code"].as_str().unwrap().starts_with("data:image/svg+xml;base64,"));
    let authenticator = Authenticator(Totp::from_url(enrolment["otpauth_uri"].as_str().unwrap()).unwrap());
    assert_eq!(authenticator.0.secret().to_base32(), enrolment["secret"].as_str().unwrap());
    assert_eq!(status(token.clone()).await.1["totp_enabled"], false);

    let wrong = if authenticator.code(&rig, 0) == "000000" { "111111" } else { "000000" };
    let confirm = |code: String| {
        account_api(&rig, "POST", "/api/users/me/mfa/totp/confirm", &token, Some(json!({ "code": code })))
    };
    let (code, body) = confirm(wrong.to_owned()).await;
    assert_eq!((code, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_code")));
    let (code, body) = confirm(authenticator.code(&rig, 0)).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let recovery: Vec<String> = serde_json::from_value(body["recovery_codes"].clone()).unwrap();
    assert_eq!(recovery.len(), 10);
    let (code, body) = confirm(authenticator.code(&rig, 0)).await;
    assert_eq!((code, body["error"].as_str()), (StatusCode::CONFLICT, Some("conflict")));
    let (code, _) = account_api(&rig, "POST", "/api/users/me/mfa/totp", &token, None).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(status(token.clone()).await.1, json!({ "totp_enabled": true, "recovery_codes_left": 10 }));

    // New recovery codes need a fresh code: the confirming one is spent (RFC 6238 §5.2).
    let regenerate = |body: Value| account_api(&rig, "POST", "/api/users/me/mfa/recovery-codes", &token, Some(body));
    let (code, _) = regenerate(json!({ "code": authenticator.code(&rig, 0) })).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, body) = regenerate(json!({ "code": authenticator.code(&rig, 1) })).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let fresh: Vec<String> = serde_json::from_value(body["recovery_codes"].clone()).unwrap();
    assert!(fresh.len() == 10 && fresh.iter().all(|c| !recovery.contains(c)));

    // Off, with a recovery code (the old ones are dead).
    let disable = |body: Value| account_api(&rig, "DELETE", "/api/users/me/mfa/totp", &token, Some(body));
    assert_eq!(disable(json!({ "recovery_code": recovery[0] })).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(disable(json!({})).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(disable(json!({ "recovery_code": fresh[0] })).await.0, StatusCode::NO_CONTENT);
    assert_eq!(status(token.clone()).await.1, json!({ "totp_enabled": false, "recovery_codes_left": 0 }));
    assert_eq!(disable(json!({ "recovery_code": fresh[1] })).await.0, StatusCode::CONFLICT);
    assert_eq!(api_login(&rig).await.status(), StatusCode::OK);

    // Audited without codes or secrets.
    let records = rig.app.state.audit.query(&AuditQuery { limit: 50, ..AuditQuery::default() }).await.unwrap();
    let kinds: Vec<&str> = records.iter().map(|r| r.event.kind.as_str()).collect();
    for kind in ["mfa.totp.enrolled", "mfa.recovery_codes.regenerated", "mfa.totp.disabled"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    let everything = format!("{records:?}");
    assert!(!everything.contains(&fresh[0]) && !everything.contains(enrolment["secret"].as_str().unwrap()));
}

async fn the_login_api_answers_mfa_required_and_completes_with_a_code(backend: Backend) {
    let rig = rig(backend).await;
    let (authenticator, recovery) = enrol(&rig).await;
    let user = user(&rig.app).await;

    let mfa_token = mfa_required(&rig).await;
    let wrong = if authenticator.code(&rig, 1) == "000000" { "111111" } else { "000000" };
    let response = api_second_step(&rig, &mfa_token, "code", wrong).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_code");
    let response = post_json(&rig.app, "/api/auth/login/mfa", &json!({ "mfa_token": mfa_token }), None).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // The same success as a login: access token and refresh cookie; the session says pwd + otp.
    let response = api_second_step(&rig, &mfa_token, "code", &authenticator.code(&rig, 1)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (cookie, _) = refresh_cookie(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    let sessions = rig.app.state.sessions.live_for_user(user.id, rig.clock.now()).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].amr, ["pwd", "otp"]);
    let refreshed = post_json(&rig.app, "/api/auth/refresh", &json!({}), Some(&cookie)).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    // The challenge is spent.
    let response = api_second_step(&rig, &mfa_token, "code", &authenticator.code(&rig, 1)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_mfa_token");

    // A replayed code fails on a new challenge; a recovery code works once.
    let mfa_token = mfa_required(&rig).await;
    let response = api_second_step(&rig, &mfa_token, "code", &authenticator.code(&rig, 1)).await;
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_code");
    assert_eq!(api_second_step(&rig, &mfa_token, "recovery_code", &recovery[3]).await.status(), StatusCode::OK);
    let mfa_token = mfa_required(&rig).await;
    let response = api_second_step(&rig, &mfa_token, "recovery_code", &recovery[3]).await;
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_code");

    // Five wrong answers end the challenge.
    for _ in 0..3 {
        assert_eq!(api_second_step(&rig, &mfa_token, "code", wrong).await.status(), StatusCode::UNAUTHORIZED);
    }
    let response = api_second_step(&rig, &mfa_token, "code", wrong).await;
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_mfa_token");
    rig.clock.advance(Duration::seconds(30));
    let response = api_second_step(&rig, &mfa_token, "code", &authenticator.code(&rig, 1)).await;
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_mfa_token");

    // A login page's challenge does not complete an API login, nor the reverse.
    let browser = Browser::new(&rig.app.address);
    let (page, _) = password_step(&rig, &browser).await;
    let page_token = hidden(&page, "mfa_token");
    let response = api_second_step(&rig, &page_token, "code", &authenticator.code(&rig, 1)).await;
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_mfa_token");
}

/// Starting enrolment "replaces an unconfirmed enrolment": concurrent starts (a double click, two
/// tabs) each get a secret — one of them the one that counts — and never a server error.
async fn concurrent_enrolment_starts_never_fail(backend: Backend) {
    let rig = rig(backend).await;
    let (body, _) = crate::accounts::api_login(&rig.app, EMAIL, PASSWORD).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let starts = (0..8).map(|_| rig.app.http.post(rig.app.url("/api/users/me/mfa/totp")).bearer_auth(&token).send());
    for response in futures::future::join_all(starts).await {
        let response = response.unwrap();
        let status = response.status();
        assert_eq!(status, StatusCode::OK, "{}", response.text().await.unwrap());
    }
}

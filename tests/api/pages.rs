//! The pages as a browser sees them: the language chosen by `ui_locales` (OIDC Core §3.1.2.1,
//! carried through the real /authorize → /login → /consent flow) or by `Accept-Language`
//! (RFC 9110 §12.5.4), `<html lang>`, labels tied to inputs and errors to fields (WCAG 2.2
//! 1.3.1, 3.3.1), the branding from configuration, and the one cacheable stylesheet that the
//! pages' CSP allows.

use ferrid::{accounts::Email, branding::Rgb, oauth::ClientType};
use reqwest::{StatusCode, header};

use crate::{
    browser::{Browser, Landing, hidden},
    helpers::{Backend, TestApp, spawn_app, spawn_app_with},
    oidc::{PASSWORD, authorize_url, create_client, create_user},
};

on_every_backend!(ui_locales_carries_french_through_login_and_consent, ui_locales_carries_french_to_the_second_step);

/// A browser that says which languages it prefers.
fn browser_speaking(app: &TestApp, accept_language: Option<&str>) -> Browser {
    let mut browser = Browser::new(&app.address);
    let mut headers = header::HeaderMap::new();
    if let Some(languages) = accept_language {
        headers.insert(header::ACCEPT_LANGUAGE, languages.parse().unwrap());
    }
    browser.http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap();
    browser
}

fn page(landing: Landing) -> (StatusCode, String) {
    match landing {
        Landing::Page { status, html } => (status, html),
        Landing::Redirect { url } => panic!("expected a page, got a redirect to {url}"),
    }
}

/// Every visible `<input>` has an `id` equal to its `name` and a `<label for>` naming it; the
/// page links the one stylesheet and has no style block of its own.
fn assert_accessible_markup(html: &str) {
    for input in html.split("<input").skip(1) {
        let tag = input.split('>').next().unwrap();
        if tag.contains("type=\"hidden\"") {
            continue;
        }
        let attr = |name: &str| tag.split(&format!(" {name}=\"")).nth(1).map(|v| v.split('"').next().unwrap());
        let id = attr("id").unwrap_or_else(|| panic!("an input without id: {tag}"));
        assert_eq!(attr("name"), Some(id), "id and name differ: {tag}");
        assert!(html.contains(&format!("<label for=\"{id}\">")), "no label for {id}");
    }
    assert!(html.contains("<link rel=\"stylesheet\" href=\"/assets/ferrid.css?v="), "no stylesheet link");
    assert!(!html.contains("<style"), "a page has its own style block");
}

async fn ui_locales_carries_french_through_login_and_consent(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "ann@example.com").await;
    let (client_id, _) = create_client(&app, ClientType::Confidential).await;
    // The browser prefers English; the client's ui_locales ("de" unsupported, then "fr-CA") wins.
    let browser = browser_speaking(&app, Some("en"));
    let (url, _) = authorize_url(&app, &client_id, "openid email", &[("ui_locales", "de fr-CA")]);

    let (status, login) = page(browser.follow(url).await);
    assert_eq!(status, StatusCode::OK);
    assert!(login.contains("<html lang=\"fr\">"), "{login}");
    assert!(login.contains("<h1>Connexion</h1>") && login.contains("Se connecter</button>"), "{login}");
    assert_accessible_markup(&login);

    // A wrong password: the error is announced (role=alert) and tied to the field.
    let (request, csrf) = (hidden(&login, "request"), hidden(&login, "csrf"));
    let wrong = [("request", request.as_str()), ("csrf", &csrf), ("email", "ann@example.com"), ("password", "nope")];
    let (status, retry) = page(browser.submit("/login", &wrong).await);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(retry.contains("<html lang=\"fr\">"));
    assert!(
        retry.contains("id=\"login-error\" role=\"alert\">Adresse e-mail ou mot de passe incorrect.</p>"),
        "{retry}"
    );
    assert!(retry.contains("aria-invalid=\"true\" aria-describedby=\"login-error\""), "{retry}");

    // The consent page of the same request speaks French too, whatever the browser says.
    let right = [("request", request.as_str()), ("csrf", &csrf), ("email", "ann@example.com"), ("password", PASSWORD)];
    let (status, consent) = page(browser.submit("/login", &right).await);
    assert_eq!(status, StatusCode::OK);
    assert!(consent.contains("<html lang=\"fr\">"), "{consent}");
    assert!(consent.contains("Test RP souhaite :") && consent.contains("Voir votre adresse e-mail"), "{consent}");
    assert!(consent.contains(">Autoriser</button>") && consent.contains(">Refuser</button>"), "{consent}");

    let (request, csrf) = (hidden(&consent, "request"), hidden(&consent, "csrf"));
    let landing = browser.submit("/consent", &[("request", &request), ("csrf", &csrf), ("decision", "allow")]).await;
    assert!(!landing.code().is_empty());

    // SSO with response_mode=form_post (OAuth 2.0 Form Post Response Mode §2): the auto-submit
    // page speaks the request's language too, and works without JavaScript.
    let extra = [("ui_locales", "fr"), ("response_mode", "form_post")];
    let (url, _) = authorize_url(&app, &client_id, "openid email", &extra);
    let (status, form_post) = page(browser.follow(url).await);
    assert_eq!(status, StatusCode::OK);
    assert!(form_post.contains("<html lang=\"fr\">"), "{form_post}");
    assert!(form_post.contains("<noscript><button type=\"submit\">Continuer</button></noscript>"), "{form_post}");
}

async fn ui_locales_carries_french_to_the_second_step(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "ann@example.com").await;
    let user = app.state.accounts.find_by_email(&Email::parse("ann@example.com").unwrap()).await.unwrap();
    let enrolment = app.state.second_factors.enrol_totp(&user).await.unwrap();
    let authenticator = totp_rs::Totp::from_url(&enrolment.otpauth_uri).unwrap();
    let now = u64::try_from(app.state.clock.now().timestamp()).unwrap();
    app.state.second_factors.confirm_totp(user.id, &authenticator.generate(now).to_string()).await.unwrap();
    let (client_id, _) = create_client(&app, ClientType::Confidential).await;
    let browser = browser_speaking(&app, None);
    let (url, _) = authorize_url(&app, &client_id, "openid", &[("ui_locales", "fr")]);

    let (status, second_step) = page(browser.sign_in(&url, "ann@example.com", PASSWORD).await);
    assert_eq!(status, StatusCode::OK);
    assert!(second_step.contains("<html lang=\"fr\">"), "{second_step}");
    assert!(second_step.contains("<h1>Validation en deux étapes</h1>"), "{second_step}");
    assert!(second_step.contains("autocomplete=\"one-time-code\""), "{second_step}");
    assert_accessible_markup(&second_step);

    let (request, csrf, token) =
        (hidden(&second_step, "request"), hidden(&second_step, "csrf"), hidden(&second_step, "mfa_token"));
    let form = [("request", request.as_str()), ("csrf", &csrf), ("mfa_token", &token), ("code", "12345x")];
    let (status, again) = page(browser.submit("/login/mfa", &form).await);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(again.contains("role=\"alert\">Ce code n&#x27;est pas le bon"), "{again}");
    assert!(again.contains("aria-invalid=\"true\" aria-describedby=\"mfa-error\""), "{again}");
}

/// Each standalone page, in the language `Accept-Language` prefers, with the text that proves it.
#[tokio::test]
async fn standalone_pages_follow_accept_language() {
    let app = spawn_app(Backend::Embedded).await;
    let pages = [
        ("/password/forgot", "Mot de passe oublié ?", "Forgot your password?"),
        ("/password/reset?token=unknown", "Ce lien ne fonctionne plus", "This link does not work any more"),
        ("/verify-email?token=t", "Vérifier mon adresse", "Verify my address"),
        ("/account/email/confirm?token=t", "Utiliser cette adresse", "Use this address"),
        ("/logout", "Vous êtes déconnecté", "You are signed out"),
        ("/authorize?client_id=nobody&response_type=code", "Application inconnue", "Unknown application"),
        ("/login?request=gone", "Cette connexion a expiré", "This sign-in has expired"),
    ];
    // RFC 9110 §12.5.4: the highest q-value among supported languages wins.
    for (accept_language, lang) in [("de-DE, fr;q=0.8, en;q=0.5", "fr"), ("fr;q=0.2, en-GB;q=0.9", "en")] {
        let browser = browser_speaking(&app, Some(accept_language));
        for (path, french, english) in pages {
            let response = browser.http.get(app.url(path)).send().await.unwrap();
            assert_eq!(response.headers()[header::CONTENT_LANGUAGE], lang, "{path}");
            let html = response.text().await.unwrap();
            assert!(html.contains(&format!("<html lang=\"{lang}\">")), "{path}: {html}");
            let expected = if lang == "fr" { french } else { english };
            assert!(html.contains(expected), "{path} lacks {expected:?}: {html}");
            assert_accessible_markup(&html);
        }
    }
    // No preference at all: English.
    let html = app.get("/password/forgot").await.text().await.unwrap();
    assert!(html.contains("<html lang=\"en\">") && html.contains("Send the link"));
}

#[tokio::test]
async fn branding_appears_on_every_page_and_a_low_contrast_colour_is_darkened() {
    let brand = [
        ("FERRID_BRAND_NAME", "Acme ID"),
        ("FERRID_BRAND_LOGO_URL", "https://cdn.acme.test/brand/logo.svg"),
        // Yellow on white is about 1.4:1, far below WCAG AA's 4.5:1.
        ("FERRID_BRAND_COLOR", "#ffdd00"),
    ];
    let app = spawn_app_with(Backend::Embedded, &brand).await;
    let response = app.get("/password/forgot").await;
    let csp = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
    // Exactly the logo's origin may serve images; styles only from this origin.
    assert!(csp.contains("img-src 'self' https://cdn.acme.test;"), "{csp}");
    assert!(csp.contains("style-src 'self';"), "{csp}");
    let html = response.text().await.unwrap();
    assert!(html.contains("<title>Forgot your password? · Acme ID</title>"), "{html}");
    assert!(html.contains("cdn.acme.test&#x2f;brand&#x2f;logo.svg\" alt=\"Acme ID\">"), "{html}");
    assert!(html.contains("<span class=\"site-name\" aria-hidden=\"true\">Acme ID</span>"), "{html}");

    let href = html.split("<link rel=\"stylesheet\" href=\"").nth(1).unwrap().split('"').next().unwrap();
    let response = app.get(href).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert_eq!(response.headers()[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
    let etag = response.headers()[header::ETAG].to_str().unwrap().to_owned();
    let css = response.text().await.unwrap();
    let accent = css.split("--accent: ").nth(1).unwrap().split(';').next().unwrap();
    let accent = Rgb::parse(accent).unwrap();
    assert_ne!(accent, Rgb(0xff, 0xdd, 0x00), "the configured colour fails AA and must be darkened");
    assert!(accent.contrast(Rgb(255, 255, 255)) >= 4.5, "{accent} is not AA on white");
    assert!(css.contains(":focus-visible"), "focus must stay visible");

    // RFC 9110 §13.1.2: a cached copy is revalidated with its ETag.
    let again = app.http.get(app.url(href)).header(header::IF_NONE_MATCH, &etag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn discovery_advertises_the_page_languages() {
    let app = spawn_app(Backend::Embedded).await;
    let metadata: serde_json::Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    // OIDC Discovery §3 `ui_locales_supported`.
    assert_eq!(metadata["ui_locales_supported"], serde_json::json!(["en", "fr"]));
}

#[tokio::test]
async fn the_login_page_offers_upstream_providers_apart_from_the_password_form() {
    let upstreams =
        r#"[{"id":"acme","name":"Acme","issuer":"https://accounts.acme.test","client_id":"c","client_secret":"s"}]"#;
    let app = spawn_app_with(Backend::Embedded, &[("FERRID_UPSTREAMS", upstreams)]).await;
    create_user(&app, "ann@example.com").await;
    let (client_id, _) = create_client(&app, ClientType::Confidential).await;
    let (url, _) = authorize_url(&app, &client_id, "openid", &[]);
    let (_, html) = page(browser_speaking(&app, Some("fr")).follow(url).await);
    let form_end = html.find("</form>").unwrap();
    let divider = html.find("<p class=\"divider\">ou</p>").expect("an \"or\" between the form and the providers");
    let button = html.find("class=\"button upstream\" href=\"/login/acme?request=").unwrap();
    assert!(form_end < divider && divider < button, "{html}");
    assert!(html.contains("Continuer avec Acme</a>"), "{html}");
}

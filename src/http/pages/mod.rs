//! Server-rendered pages (login, consent, errors, form_post). They work without JavaScript
//! (form_post's auto-submit has a `<noscript>` button) and carry a strict CSP with a per-response
//! nonce, `frame-ancestors 'none'` against clickjacking, and `no-store`.

use std::sync::LazyLock;

use minijinja::{Environment, context};
use poem::{
    Response,
    http::{StatusCode, header},
};
use serde::Serialize;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("login.html", include_str!("templates/login.html")),
        ("consent.html", include_str!("templates/consent.html")),
        ("second_step.html", include_str!("templates/second_step.html")),
        ("error.html", include_str!("templates/error.html")),
        ("form_post.html", include_str!("templates/form_post.html")),
        ("logout.html", include_str!("templates/logout.html")),
        ("signed_out.html", include_str!("templates/signed_out.html")),
        ("password_forgot.html", include_str!("templates/password_forgot.html")),
        ("password_reset.html", include_str!("templates/password_reset.html")),
        ("confirm_link.html", include_str!("templates/confirm_link.html")),
    ] {
        // The sources are compiled in; a syntax error is caught by the tests that render them.
        if let Err(error) = env.add_template(name, source) {
            tracing::error!(%error, name, "page template does not parse");
        }
    }
    env
});

/// The login form for a pending authorization request.
#[derive(Serialize)]
pub struct LoginPage<'a> {
    pub request: &'a str,
    pub csrf: &'a str,
    pub client_name: &'a str,
    pub email: &'a str,
    pub signed_in_as: Option<&'a str>,
    pub error: Option<&'a str>,
    /// Upstream providers to offer ("Continue with Google").
    pub upstreams: Vec<UpstreamLink<'a>>,
}

/// An upstream provider's button on the login page: `/login/{id}?request=…`.
#[derive(Serialize)]
pub struct UpstreamLink<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

/// The second sign-in step (TOTP or a recovery code) after a correct password.
#[derive(Serialize)]
pub struct SecondStepPage<'a> {
    pub request: &'a str,
    pub csrf: &'a str,
    pub mfa_token: &'a str,
    pub client_name: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Serialize)]
pub struct ConsentPage<'a> {
    pub request: &'a str,
    pub csrf: &'a str,
    pub client_name: &'a str,
    pub user_email: &'a str,
    pub scopes: Vec<&'a str>,
}

pub fn login(page: &LoginPage<'_>, status: StatusCode) -> Response {
    render("login.html", page, status, None)
}

pub fn second_step(page: &SecondStepPage<'_>, status: StatusCode) -> Response {
    render("second_step.html", page, status, None)
}

pub fn consent(page: &ConsentPage<'_>) -> Response {
    render("consent.html", page, StatusCode::OK, None)
}

/// An error page for what cannot be reported to the client (unknown client, unregistered
/// redirect_uri — RFC 6749 §4.1.2.1 forbids redirecting then).
pub fn error(status: StatusCode, title: &str, message: &str, code: Option<&str>) -> Response {
    render("error.html", &context! { title, message, code }, status, None)
}

/// A server error page: nothing internal, only the request id to quote when reporting it.
pub fn server_error(status: StatusCode, request_id: &str) -> Response {
    let (title, message) = ("Something went wrong", "Please try again in a moment.");
    render("error.html", &context! { title, message, request_id }, status, None)
}

/// A form whose CSRF token does not match the browser's cookie.
pub fn csrf_rejected() -> Response {
    error(StatusCode::FORBIDDEN, "Please try again", "The form expired; reload the page.", Some("csrf"))
}

/// RP-Initiated Logout 1.0 §3: ask before signing out when the request may not be the RP's.
pub fn logout_confirmation(client_name: Option<&str>, csrf: &str, params: &[(&str, String)]) -> Response {
    render("logout.html", &context! { client_name, csrf, params }, StatusCode::OK, None)
}

/// After signing out (or declining to) when there is nowhere to return to.
pub fn signed_out(title: &str, message: &str) -> Response {
    render("signed_out.html", &context! { title, message }, StatusCode::OK, None)
}

/// "Forgot your password?": the email form, or once sent the same answer for every address.
pub fn password_forgot(csrf: &str, sent: bool, valid_minutes: u32) -> Response {
    render("password_forgot.html", &context! { csrf, sent, valid_minutes }, StatusCode::OK, None)
}

/// The page behind a reset link, in one of its states.
#[derive(Serialize, Default)]
pub struct PasswordResetPage<'a> {
    pub token: &'a str,
    pub csrf: &'a str,
    pub email: &'a str,
    pub error: Option<&'a str>,
    /// The link is unknown, used or expired.
    pub expired: bool,
    pub done: bool,
    pub valid_minutes: u32,
}

pub fn password_reset(page: &PasswordResetPage<'_>, status: StatusCode) -> Response {
    render("password_reset.html", page, status, None)
}

/// What a mailed link's page says and where its button posts (static text: `action` is not escaped).
pub struct LinkConfirmation {
    pub title: &'static str,
    pub message: &'static str,
    pub action: &'static str,
    pub button: &'static str,
}

/// The page behind the link mailed to a new account's address.
pub const VERIFY_EMAIL: LinkConfirmation = LinkConfirmation {
    title: "Verify your email address",
    message: "Confirm that this address is yours to finish creating your account.",
    action: "/verify-email",
    button: "Verify my address",
};

/// The page behind the link mailed to an account's new address.
pub const CONFIRM_EMAIL_CHANGE: LinkConfirmation = LinkConfirmation {
    title: "Confirm your new address",
    message: "Your account will use this address from now on.",
    action: "/account/email/confirm",
    button: "Use this address",
};

/// The page behind a mailed link: one button that posts the link's token, so that a mail scanner
/// following links does not use it up.
pub fn confirm_link(page: &LinkConfirmation, token: &str, csrf: &str) -> Response {
    let LinkConfirmation { title, message, action, button } = page;
    render("confirm_link.html", &context! { title, message, action, button, token, csrf }, StatusCode::OK, None)
}

/// OAuth 2.0 Form Post Response Mode §2: an auto-submitting form to the redirect URI.
pub fn form_post(action: &str, params: &[(&str, String)], form_action_origin: &str) -> Response {
    render("form_post.html", &context! { action, params }, StatusCode::OK, Some(form_action_origin))
}

fn render(template: &str, values: &impl Serialize, status: StatusCode, form_action: Option<&str>) -> Response {
    let nonce = keys::random_id(16);
    let html = TEMPLATES
        .get_template(template)
        .and_then(|t| t.render(context! { nonce => &nonce, ..minijinja::Value::from_serialize(values) }));
    let html = match html {
        Ok(html) => html,
        Err(error) => {
            tracing::error!(%error, template, "page did not render");
            return Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body("server_error");
        }
    };
    let form_action = form_action.unwrap_or("'self'");
    let csp = format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; img-src 'self' https: data:; \
         form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .header("content-security-policy", csp)
        .header("x-content-type-options", "nosniff")
        .header("x-frame-options", "DENY")
        .header("referrer-policy", "no-referrer")
        .body(html)
}

/// `page` with its CSP `form-action` also allowing the client's `redirect_uris`: browsers check
/// `form-action` on every redirect that follows a form submission (CSP 3 §6.4.2), and the login,
/// two-step, consent and logout forms end, through ferrid's own redirects, at the client.
pub fn allow_form_redirects<'a>(mut page: Response, redirect_uris: impl IntoIterator<Item = &'a str>) -> Response {
    let sources: Vec<String> = redirect_uris.into_iter().filter_map(csp_source).collect();
    if sources.is_empty() {
        return page;
    }
    let Some(policy) = page.headers().get(header::CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()) else {
        return page;
    };
    let policy = policy
        .split(';')
        .map(|directive| match directive.trim() {
            form_action if form_action.starts_with("form-action ") => format!("{form_action} {}", sources.join(" ")),
            other => other.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("; ");
    if let Ok(value) = header::HeaderValue::from_str(&policy) {
        page.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
    page
}

/// A redirect URI as a CSP source: its origin, or for a private-use scheme (RFC 8252 §7.1),
/// whose URIs have no origin, its scheme.
fn csp_source(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    match url.scheme() {
        "http" | "https" => Some(url.origin().ascii_serialization()),
        scheme => Some(format!("{scheme}:")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_may_redirect_to_the_client_csp_3_form_action() {
        let page = consent(&ConsentPage {
            request: "r",
            csrf: "c",
            client_name: "Photos",
            user_email: "a@b.c",
            scopes: vec![],
        });
        let page = allow_form_redirects(page, ["http://127.0.0.1:9000/cb?x=1", "com.example.app:/cb", "::"]);
        let policy = page.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
        assert!(policy.contains("; form-action 'self' http://127.0.0.1:9000 com.example.app:; "), "{policy}");
        assert!(policy.starts_with("default-src 'none';"), "{policy}");
    }

    #[test]
    fn every_template_renders_and_escapes() {
        let page = LoginPage {
            request: "r",
            csrf: "c",
            client_name: "<script>x</script>",
            email: "a@b.c",
            signed_in_as: None,
            error: Some("Wrong email or password."),
            upstreams: vec![UpstreamLink { id: "google", name: "<b>" }],
        };
        let response = login(&page, StatusCode::OK);
        assert_eq!(response.status(), StatusCode::OK);
        let csp = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("frame-ancestors 'none'"));
        for (name, html) in [
            ("login", TEMPLATES.get_template("login.html").unwrap().render(context! { nonce => "n", ..minijinja::Value::from_serialize(&page) }).unwrap()),
            ("second_step", TEMPLATES.get_template("second_step.html").unwrap().render(context! { nonce => "n", client_name => "<b>", request => "r", csrf => "c", mfa_token => "t", error => "<i>" }).unwrap()),
            ("consent", TEMPLATES.get_template("consent.html").unwrap().render(context! { nonce => "n", client_name => "<b>", scopes => vec!["x"], user_email => "a", request => "r", csrf => "c" }).unwrap()),
            ("error", TEMPLATES.get_template("error.html").unwrap().render(context! { nonce => "n", title => "t", message => "<i>", code => "c" }).unwrap()),
            ("password_reset", TEMPLATES.get_template("password_reset.html").unwrap().render(context! { nonce => "n", ..minijinja::Value::from_serialize(PasswordResetPage { email: "<i>", token: "t", csrf: "c", error: Some("<b>"), ..Default::default() }) }).unwrap()),
            ("password_forgot", TEMPLATES.get_template("password_forgot.html").unwrap().render(context! { nonce => "n", csrf => "c", sent => false }).unwrap()),
            ("form_post", TEMPLATES.get_template("form_post.html").unwrap().render(context! { nonce => "n", action => "https://a/cb", params => vec![("code", "\"x\"")] }).unwrap()),
        ] {
            assert!(!html.contains("<script>x") && !html.contains("<b>") && !html.contains("<i>"), "{name} did not escape");
            assert!(html.contains("nonce=\"n\""), "{name} lacks the style nonce");
        }
    }
}

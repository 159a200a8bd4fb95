//! Server-rendered pages (login, consent, second step, logout, password reset, mailed links,
//! errors, form_post). Every page extends `base.html` (header with the brand, footer) and uses
//! one stylesheet (`/assets/ferrid.css`, see `stylesheet`); every text comes from the string
//! table of the page's locale (`locales`). They work without JavaScript (form_post's auto-submit
//! has a `<noscript>` button) and carry a strict CSP: styles from this origin only, the one
//! script by per-response nonce, images from this origin and the logo's, `frame-ancestors
//! 'none'` against clickjacking, and `no-store`.

mod locales;
pub mod stylesheet;

use std::sync::LazyLock;

use minijinja::{Environment, ErrorKind, State, Value, context, value::Kwargs};
use poem::{
    Request, Response,
    http::{StatusCode, header},
};
use serde::Serialize;

use crate::{branding::Branding, locale::Locale};

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.add_function("t", translate);
    for (name, source) in TEMPLATE_SOURCES {
        // The sources are compiled in; a syntax error is caught by the tests that render them.
        if let Err(error) = env.add_template(name, source) {
            tracing::error!(%error, name, "page template does not parse");
        }
    }
    env
});

const TEMPLATE_SOURCES: [(&str, &str); 12] = [
    ("base.html", include_str!("templates/base.html")),
    ("macros.html", include_str!("templates/macros.html")),
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
];

/// `t("key", name=value, …)` in a template: the text of `key` in the page's locale, its
/// placeholders filled (and escaped by the template like any value). An unknown key fails the
/// render, so a missing text is a 500 in tests rather than an empty label in production.
fn translate(state: &State, key: &str, args: Kwargs) -> Result<String, minijinja::Error> {
    let locale = state.lookup("lang").and_then(|lang| lang.as_str().and_then(Locale::of_tag)).unwrap_or_default();
    let text = locales::lookup(locale, key)
        .ok_or_else(|| minijinja::Error::new(ErrorKind::UndefinedError, format!("no text for {key:?}")))?;
    let product = state.lookup("brand").and_then(|brand| brand.get_attr("name").ok()).unwrap_or_default();
    let mut values = vec![("product".to_owned(), product.to_string())];
    for name in args.args() {
        values.push((name.to_owned(), args.get::<Value>(name)?.to_string()));
    }
    let values: Vec<(&str, &str)> = values.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    Ok(locales::fill(text, &values))
}

/// Who a page speaks to and as whom: the negotiated locale and the configured brand.
#[derive(Clone, Copy)]
pub struct Ui<'a> {
    pub locale: Locale,
    pub brand: &'a Branding,
}

impl<'a> Ui<'a> {
    /// The browser's preferred language (`Accept-Language`).
    pub fn of(request: &Request, brand: &'a Branding) -> Self {
        Self::negotiated(request, brand, None)
    }

    /// For a page of an authorization request: its `ui_locales` (OIDC Core §3.1.2.1) first.
    pub fn of_authorization(request: &Request, brand: &'a Branding, params: &[(String, String)]) -> Self {
        let ui_locales = params.iter().find(|(name, _)| name == "ui_locales").map(|(_, value)| value.as_str());
        Self::negotiated(request, brand, ui_locales)
    }

    fn negotiated(request: &Request, brand: &'a Branding, ui_locales: Option<&str>) -> Self {
        let accept_language = request.header(header::ACCEPT_LANGUAGE);
        Self { locale: Locale::negotiate(ui_locales, accept_language), brand }
    }

    /// The text of `key`, its placeholders filled (`{product}` with the brand name).
    pub fn text(&self, key: &str, args: &[(&str, &str)]) -> String {
        let Some(text) = locales::lookup(self.locale, key) else {
            tracing::error!(key, "no page text for this key");
            return key.to_owned();
        };
        let mut values = vec![("product", self.brand.name.as_str())];
        values.extend_from_slice(args);
        locales::fill(text, &values)
    }

    fn notice(&self, notice: &Notice) -> (String, String) {
        let args: Vec<(&str, &str)> = notice.args.iter().map(|(n, v)| (*n, v.as_str())).collect();
        (self.text(&format!("{}.title", notice.key), &args), self.text(&format!("{}.message", notice.key), &args))
    }
}

/// What an error or information page says: the `<key>.title` and `<key>.message` texts.
pub struct Notice {
    key: &'static str,
    args: Vec<(&'static str, String)>,
}

impl Notice {
    pub fn new(key: &'static str) -> Self {
        Self { key, args: Vec::new() }
    }

    /// Fills `{name}` in the title and the message.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.args.push((name, value.into()));
        self
    }
}

/// The login form for a pending authorization request.
#[derive(Serialize)]
pub struct LoginPage<'a> {
    pub request: &'a str,
    pub csrf: &'a str,
    pub client_name: &'a str,
    pub email: &'a str,
    pub signed_in_as: Option<&'a str>,
    /// Already in the page's language.
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
    /// Which line describes each scope (`scope.<kind>` in the string table).
    pub scopes: Vec<&'a str>,
}

pub fn login(ui: &Ui<'_>, page: &LoginPage<'_>, status: StatusCode) -> Response {
    render(ui, "login.html", page, status, None)
}

pub fn second_step(ui: &Ui<'_>, page: &SecondStepPage<'_>, status: StatusCode) -> Response {
    render(ui, "second_step.html", page, status, None)
}

pub fn consent(ui: &Ui<'_>, page: &ConsentPage<'_>) -> Response {
    render(ui, "consent.html", page, StatusCode::OK, None)
}

/// An error page for what cannot be reported to the client (unknown client, unregistered
/// redirect_uri — RFC 6749 §4.1.2.1 forbids redirecting then).
pub fn error(ui: &Ui<'_>, status: StatusCode, notice: &Notice, code: Option<&str>) -> Response {
    let (title, message) = ui.notice(notice);
    render(ui, "error.html", &context! { title, message, code }, status, None)
}

/// An error page that also shows a technical detail for the application's developer (an OAuth
/// `error_description`, which RFC 6749 §5.2 writes in ASCII for developers, not end users).
pub fn error_with_detail(ui: &Ui<'_>, status: StatusCode, notice: &Notice, detail: &str, code: &str) -> Response {
    let (title, message) = ui.notice(notice);
    render(ui, "error.html", &context! { title, message, detail, code }, status, None)
}

/// "Something went wrong, try again in a moment" — the failure a user can do nothing about.
pub fn unavailable(ui: &Ui<'_>, status: StatusCode) -> Response {
    error(ui, status, &Notice::new("something_wrong"), None)
}

/// A server error page: nothing internal, only the request id to quote when reporting it.
pub fn server_error(ui: &Ui<'_>, status: StatusCode, request_id: &str) -> Response {
    let (title, message) = ui.notice(&Notice::new("something_wrong"));
    render(ui, "error.html", &context! { title, message, request_id }, status, None)
}

/// A form whose CSRF token does not match the browser's cookie.
pub fn csrf_rejected(ui: &Ui<'_>) -> Response {
    error(ui, StatusCode::FORBIDDEN, &Notice::new("csrf"), Some("csrf"))
}

/// RP-Initiated Logout 1.0 §3: ask before signing out when the request may not be the RP's.
pub fn logout_confirmation(ui: &Ui<'_>, client_name: Option<&str>, csrf: &str, params: &[(&str, String)]) -> Response {
    render(ui, "logout.html", &context! { client_name, csrf, params }, StatusCode::OK, None)
}

/// A page that only informs: after signing out (or declining to) when there is nowhere to
/// return to, after a mailed link did its work.
pub fn signed_out(ui: &Ui<'_>, notice: &Notice) -> Response {
    let (title, message) = ui.notice(notice);
    render(ui, "signed_out.html", &context! { title, message }, StatusCode::OK, None)
}

/// "Forgot your password?": the email form, or once sent the same answer for every address.
pub fn password_forgot(ui: &Ui<'_>, csrf: &str, sent: bool, valid_minutes: u32) -> Response {
    render(ui, "password_forgot.html", &context! { csrf, sent, valid_minutes }, StatusCode::OK, None)
}

/// The page behind a reset link, in one of its states.
#[derive(Serialize, Default)]
pub struct PasswordResetPage<'a> {
    pub token: &'a str,
    pub csrf: &'a str,
    pub email: &'a str,
    /// Already in the page's language.
    pub error: Option<&'a str>,
    /// The link is unknown, used or expired.
    pub expired: bool,
    pub done: bool,
    pub valid_minutes: u32,
}

pub fn password_reset(ui: &Ui<'_>, page: &PasswordResetPage<'_>, status: StatusCode) -> Response {
    render(ui, "password_reset.html", page, status, None)
}

/// Which mailed link a confirmation page is for: its texts (`<key>.title`, `.message`,
/// `.button`) and where its button posts (static: `action` is not escaped).
pub struct LinkConfirmation {
    pub key: &'static str,
    pub action: &'static str,
}

/// The page behind the link mailed to a new account's address.
pub const VERIFY_EMAIL: LinkConfirmation = LinkConfirmation { key: "verify_email", action: "/verify-email" };

/// The page behind the link mailed to an account's new address.
pub const CONFIRM_EMAIL_CHANGE: LinkConfirmation =
    LinkConfirmation { key: "confirm_email_change", action: "/account/email/confirm" };

/// The page behind a mailed link: one button that posts the link's token, so that a mail scanner
/// following links does not use it up.
pub fn confirm_link(ui: &Ui<'_>, page: &LinkConfirmation, token: &str, csrf: &str) -> Response {
    let LinkConfirmation { key: link, action } = page;
    render(ui, "confirm_link.html", &context! { link, action, token, csrf }, StatusCode::OK, None)
}

/// OAuth 2.0 Form Post Response Mode §2: an auto-submitting form to the redirect URI.
pub fn form_post(ui: &Ui<'_>, action: &str, params: &[(&str, String)], form_action_origin: &str) -> Response {
    render(ui, "form_post.html", &context! { action, params }, StatusCode::OK, Some(form_action_origin))
}

fn render(
    ui: &Ui<'_>,
    template: &str,
    values: &impl Serialize,
    status: StatusCode,
    form_action: Option<&str>,
) -> Response {
    let nonce = keys::random_id(16);
    let html = render_html(ui, template, values, &nonce);
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
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::CONTENT_LANGUAGE, ui.locale.tag())
        .header(header::VARY, "accept-language")
        .header("content-security-policy", content_security_policy(ui.brand, &nonce, form_action))
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

fn render_html(ui: &Ui<'_>, template: &str, values: &impl Serialize, nonce: &str) -> Result<String, minijinja::Error> {
    let brand = context! { name => &ui.brand.name, logo => ui.brand.logo.as_ref().map(|logo| &logo.url) };
    let page = context! {
        nonce,
        brand,
        lang => ui.locale.tag(),
        stylesheet_version => stylesheet::version(ui.brand),
    };
    TEMPLATES.get_template(template)?.render(context! { ..page, ..Value::from_serialize(values) })
}

/// Styles only from this origin (the one stylesheet), the form_post script by nonce, images
/// from this origin and exactly the logo's origin, forms only to this origin (or form_post's
/// redirect URI).
fn content_security_policy(brand: &Branding, nonce: &str, form_action: Option<&str>) -> String {
    let form_action = form_action.unwrap_or("'self'");
    let logo_origin = brand.logo.as_ref().and_then(|logo| logo.origin.as_deref()).map(|o| format!(" {o}"));
    let logo_origin = logo_origin.unwrap_or_default();
    format!(
        "default-src 'none'; style-src 'self'; script-src 'nonce-{nonce}'; img-src 'self'{logo_origin}; \
         form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )
}

#[cfg(test)]
mod tests;

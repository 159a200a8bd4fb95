//! Password reset and the email hint (issue 7 item 5): the JSON API under `/api/password/...`
//! and `/api/account/email-hint`, and the pages behind the mailed link, which work without
//! JavaScript (`/password/forgot`, `/password/reset`). Thin: the flow is `oauth::password_reset`.

use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Form, Query},
};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json, types::Example};
use serde::Deserialize;

use super::{
    cookies::{csrf_token, csrf_valid, with_csrf_cookie},
    error::{ErrorBody, NO_STORE},
    pages::{self, PasswordResetPage, Ui},
    rate_limit::{api_refusal, client_ip, count, count_ip, page_refusal},
    request_context::origin_of,
    tags::ApiTags,
};
use crate::{
    accounts::{MIN_PASSWORD_CHARS, Password, PasswordPolicyError},
    app::AppState,
    oauth::{
        email_hint,
        password_reset::{self, RESET_VALID_MINUTES, ResetError},
    },
    ratelimit::{Decision, Scope, email_subject},
};

const RESET_ACCEPTED: &str =
    "If an account with this email address exists, a link to reset its password is on its way.";
const HINT_ACCEPTED: &str = "If a verified account has this phone number, its email address is on its way to it.";

/// Ask for a password reset link.
#[derive(Object)]
#[oai(example)]
struct ResetRequest {
    /// The email address of the account.
    email: String,
}

impl Example for ResetRequest {
    fn example() -> Self {
        Self { email: "ann@example.com".to_owned() }
    }
}

/// Set a new password with the token from the reset link.
#[derive(Object)]
#[oai(example)]
struct ResetConfirmation {
    /// The `token` parameter of the mailed link.
    token: String,
    /// At least 10 characters, not a common password, not containing the email's local part.
    #[oai(write_only)]
    new_password: String,
}

impl Example for ResetConfirmation {
    fn example() -> Self {
        Self {
            token: "q3Xb1vV0mJd2O8x0pK9r4sT7uW1yZ5aC6eG8iL0nP2s".to_owned(),
            new_password: "correct horse battery staple".to_owned(),
        }
    }
}

/// Ask which email address an account with this phone number uses.
#[derive(Object)]
#[oai(example)]
struct HintRequest {
    /// The phone number on the account; spaces, dashes, dots and parentheses are ignored.
    phone: String,
}

impl Example for HintRequest {
    fn example() -> Self {
        Self { phone: "+1 (555) 010-0000".to_owned() }
    }
}

/// The one answer, whatever the address or number.
#[derive(Object)]
#[oai(example)]
struct Accepted {
    message: String,
}

impl Example for Accepted {
    fn example() -> Self {
        Self { message: RESET_ACCEPTED.to_owned() }
    }
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "malformed_body")]
enum AcceptedResponse {
    /// Accepted. The same status and body whether or not an account matches (no enumeration).
    #[oai(status = 202)]
    Accepted(Json<Accepted>, #[oai(header = "Cache-Control")] String),
    /// The body is not JSON of this shape (`invalid_request`); never an answer about an account.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>, #[oai(header = "Cache-Control")] String),
    /// `too_many_requests` (reset requests only): more than 3 a minute for one email address
    /// from this IP (default; `FERRID_RATE_LIMITS`) — whether or not an account has it. Reset
    /// requests carry the `RateLimit-*` headers on every answer.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64, #[oai(header = "Cache-Control")] String),
}

fn malformed_body(error: poem::Error) -> AcceptedResponse {
    AcceptedResponse::BadRequest(body("invalid_request", error.to_string()), NO_STORE.to_owned())
}

impl AcceptedResponse {
    fn new(message: &str) -> Self {
        Self::Accepted(Json(Accepted { message: message.to_owned() }), NO_STORE.to_owned())
    }
}

/// A reset request: per IP and address, whether or not an account has it.
async fn count_reset_request(request: &Request, state: &AppState, email: &str) -> Result<(), Decision> {
    let (ip, email) = (client_ip(request), email_subject(email));
    count(request, state, &[(Scope::ResetRequestIpEmail, &[&ip, &email])]).await
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "malformed_confirmation")]
enum ConfirmResponse {
    /// The password is set; every session and refresh token of the user is revoked.
    #[oai(status = 204)]
    Changed,
    /// `invalid_token` (unknown, used or expired), `weak_password` (the token stays usable), or
    /// `invalid_request` (the body is not JSON of this shape).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>, #[oai(header = "Cache-Control")] String),
    /// `too_many_requests`: more than 10 attempts an hour from this address (default;
    /// `FERRID_RATE_LIMITS`). Every answer carries the `RateLimit-*` headers.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64, #[oai(header = "Cache-Control")] String),
    /// A backing store is unreachable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Cache-Control")] String),
}

fn malformed_confirmation(error: poem::Error) -> ConfirmResponse {
    ConfirmResponse::BadRequest(body("invalid_request", error.to_string()), NO_STORE.to_owned())
}

fn body(code: &str, description: impl Into<String>) -> Json<ErrorBody> {
    Json(ErrorBody { error: code.to_owned(), error_description: Some(description.into()), request_id: None })
}

impl From<ResetError> for ConfirmResponse {
    fn from(error: ResetError) -> Self {
        match error {
            ResetError::InvalidToken => Self::BadRequest(body("invalid_token", error.to_string()), NO_STORE.to_owned()),
            ResetError::WeakPassword(why) => {
                Self::BadRequest(body("weak_password", why.to_string()), NO_STORE.to_owned())
            }
            ResetError::Unavailable(cause) => {
                tracing::error!(%cause, "password reset failed");
                Self::Unavailable(body("temporarily_unavailable", "please try again"), NO_STORE.to_owned())
            }
        }
    }
}

pub struct PasswordResetApi;

#[OpenApi(tag = "ApiTags::Recovery")]
impl PasswordResetApi {
    /// Ask for a password reset link.
    ///
    /// If an enabled account has this email address, it is mailed a link to
    /// `/password/reset?token=...`, valid 10 minutes and once; at most one mail per account per
    /// minute. The answer is always 202 with the same body, so it tells nothing about the address.
    #[oai(path = "/api/password/reset", method = "post", operation_id = "request_password_reset")]
    async fn request(&self, request: &Request, state: Data<&AppState>, body: Json<ResetRequest>) -> AcceptedResponse {
        if let Err(limited) = count_reset_request(request, &state, &body.0.email).await {
            return AcceptedResponse::TooManyRequests(
                api_refusal(&limited),
                limited.retry_after_secs(),
                NO_STORE.to_owned(),
            );
        }
        password_reset::request(&state, &body.0.email, origin_of(request));
        AcceptedResponse::new(RESET_ACCEPTED)
    }

    /// Set a new password with a reset token.
    ///
    /// Uses up the token, sets the password and signs the user out everywhere: every session
    /// and refresh family is revoked. A password the policy refuses leaves the token usable.
    #[oai(path = "/api/password/reset/confirm", method = "post", operation_id = "confirm_password_reset")]
    async fn confirm(
        &self,
        request: &Request,
        state: Data<&AppState>,
        body: Json<ResetConfirmation>,
    ) -> ConfirmResponse {
        if let Err(limited) = count_ip(request, &state, Scope::ResetConfirmIp).await {
            return ConfirmResponse::TooManyRequests(
                api_refusal(&limited),
                limited.retry_after_secs(),
                NO_STORE.to_owned(),
            );
        }
        let ResetConfirmation { token, new_password } = body.0;
        match password_reset::confirm(&state, &token, Password::new(new_password), origin_of(request)).await {
            Ok(_) => ConfirmResponse::Changed,
            Err(error) => error.into(),
        }
    }

    /// Ask which email address an account uses.
    ///
    /// Each verified account (at most 5) whose phone number matches gets a mail naming its own
    /// address; nothing is revealed to the caller. The answer is always 202 with the same body.
    #[oai(path = "/api/account/email-hint", method = "post", operation_id = "request_email_hint")]
    async fn email_hint(&self, request: &Request, state: Data<&AppState>, body: Json<HintRequest>) -> AcceptedResponse {
        email_hint::request(&state, &body.0.phone, origin_of(request));
        AcceptedResponse::new(HINT_ACCEPTED)
    }
}

#[handler]
pub async fn forgot_page(request: &Request, state: Data<&AppState>) -> Response {
    let (csrf, new_csrf) = csrf_token(request);
    let page = pages::password_forgot(&Ui::of(request, &state.config.brand), &csrf, false, RESET_VALID_MINUTES);
    with_csrf_cookie(page, &csrf, new_csrf, state.config.issuer.is_https())
}

#[derive(Deserialize)]
pub struct ForgotForm {
    csrf: String,
    email: String,
}

#[handler]
pub async fn forgot_submit(request: &Request, state: Data<&AppState>, Form(form): Form<ForgotForm>) -> Response {
    let ui = Ui::of(request, &state.config.brand);
    if !csrf_valid(request, &form.csrf) {
        return pages::csrf_rejected(&ui);
    }
    if let Err(limited) = count_reset_request(request, &state, &form.email).await {
        return page_refusal(&ui, &limited);
    }
    password_reset::request(&state, &form.email, origin_of(request));
    pages::password_forgot(&ui, &form.csrf, true, RESET_VALID_MINUTES)
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

fn expired(ui: &Ui<'_>) -> Response {
    let page = PasswordResetPage { expired: true, valid_minutes: RESET_VALID_MINUTES, ..Default::default() };
    pages::password_reset(ui, &page, StatusCode::BAD_REQUEST)
}

fn unavailable(ui: &Ui<'_>, cause: &str) -> Response {
    tracing::error!(%cause, "password reset page failed");
    pages::unavailable(ui, StatusCode::SERVICE_UNAVAILABLE)
}

/// The policy's refusal, in the page's language.
fn weak_password_text(ui: &Ui<'_>, why: &PasswordPolicyError) -> String {
    match why {
        PasswordPolicyError::TooShort => ui.text("password.too_short", &[("min", &MIN_PASSWORD_CHARS.to_string())]),
        PasswordPolicyError::Common => ui.text("password.common", &[]),
        PasswordPolicyError::ContainsEmail => ui.text("password.contains_email", &[]),
    }
}

#[handler]
pub async fn reset_page(request: &Request, state: Data<&AppState>, Query(query): Query<TokenQuery>) -> Response {
    let ui = Ui::of(request, &state.config.brand);
    let Some(token) = query.token else { return expired(&ui) };
    let user = match password_reset::peek(&state, &token).await {
        Ok(user) => user,
        Err(ResetError::Unavailable(cause)) => return unavailable(&ui, &cause),
        Err(_) => return expired(&ui),
    };
    let (csrf, new_csrf) = csrf_token(request);
    let email = user.email.to_string();
    let page = PasswordResetPage { token: &token, csrf: &csrf, email: &email, ..Default::default() };
    let response = pages::password_reset(&ui, &page, StatusCode::OK);
    with_csrf_cookie(response, &csrf, new_csrf, state.config.issuer.is_https())
}

#[derive(Deserialize)]
pub struct ResetForm {
    csrf: String,
    token: String,
    password: String,
    confirm: String,
}

#[handler]
pub async fn reset_submit(request: &Request, state: Data<&AppState>, Form(form): Form<ResetForm>) -> Response {
    let ui = Ui::of(request, &state.config.brand);
    if !csrf_valid(request, &form.csrf) {
        return pages::csrf_rejected(&ui);
    }
    if let Err(limited) = count_ip(request, &state, Scope::ResetConfirmIp).await {
        return page_refusal(&ui, &limited);
    }
    let user = match password_reset::peek(&state, &form.token).await {
        Ok(user) => user,
        Err(ResetError::Unavailable(cause)) => return unavailable(&ui, &cause),
        Err(_) => return expired(&ui),
    };
    let email = user.email.to_string();
    let form_again = |error: &str| {
        let page = PasswordResetPage {
            token: &form.token,
            csrf: &form.csrf,
            email: &email,
            error: Some(error),
            ..Default::default()
        };
        pages::password_reset(&ui, &page, StatusCode::BAD_REQUEST)
    };
    if form.password != form.confirm {
        return form_again(&ui.text("reset.mismatch", &[]));
    }
    match password_reset::confirm(&state, &form.token, Password::new(form.password.clone()), origin_of(request)).await {
        Ok(_) => pages::password_reset(&ui, &PasswordResetPage { done: true, ..Default::default() }, StatusCode::OK),
        Err(ResetError::WeakPassword(why)) => form_again(&weak_password_text(&ui, &why)),
        Err(ResetError::InvalidToken) => expired(&ui),
        Err(ResetError::Unavailable(cause)) => unavailable(&ui, &cause),
    }
}

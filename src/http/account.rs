//! `/api/account/...`: self-service registration and email verification (issue 7 items 1, 2),
//! and `/verify-email`, the page behind the mailed link. Thin handlers over
//! `accounts::registration`.

use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Form, Query},
};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use serde::Deserialize;

use super::{
    admin_auth::body,
    cookies::{csrf_token, csrf_valid, with_csrf_cookie},
    error::{ErrorBody, temporarily_unavailable},
    pages::{self, Notice, Ui},
    rate_limit::{api_refusal, count_ip},
    request_context::origin_of,
    tags::ApiTags,
};
use crate::{
    accounts::{
        Email, Password,
        registration::{self, RegistrationError, Verified},
    },
    app::AppState,
    audit::Actor,
    ratelimit::Scope,
};

#[derive(Object)]
#[oai(example = true)]
struct RegisterRequest {
    email: String,
    /// At least 10 characters, not a common password, not containing the address's local part.
    password: String,
    name: Option<String>,
}

impl poem_openapi::types::Example for RegisterRequest {
    fn example() -> Self {
        Self {
            email: "ann@example.com".to_owned(),
            password: "violet-harbour-42".to_owned(),
            name: Some("Ann Example".to_owned()),
        }
    }
}

/// The answer to every accepted registration or resend, whether or not the address has an
/// account.
#[derive(Object)]
#[oai(example = true)]
struct CheckYourMail {
    status: String,
    message: String,
}

impl poem_openapi::types::Example for CheckYourMail {
    fn example() -> Self {
        check_your_mail()
    }
}

fn check_your_mail() -> CheckYourMail {
    CheckYourMail {
        status: "verification_pending".to_owned(),
        message: "Check your mail: we sent a code and a link to verify the address.".to_owned(),
    }
}

#[derive(ApiResponse)]
enum RegisterResponse {
    /// Accepted. The same answer whether the address is new or already has an account (its
    /// owner gets a mail saying someone tried).
    #[oai(status = 202)]
    Accepted(Json<CheckYourMail>),
    /// `invalid_email`, `invalid_request` (a profile field too long) or `weak_password`, with
    /// what to change.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// `too_many_requests`: more than 10 registrations an hour from this address (default;
    /// `FERRID_RATE_LIMITS`). Every answer carries the `RateLimit-*` headers.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A backing store is unreachable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

#[derive(Object)]
#[oai(example = true)]
struct VerifyEmailRequest {
    /// With `code`: the address the code was mailed to.
    email: Option<String>,
    /// The 6-digit code from the mail.
    code: Option<String>,
    /// Or, instead of `email` and `code`: the `token` parameter of the mailed link.
    token: Option<String>,
}

impl poem_openapi::types::Example for VerifyEmailRequest {
    fn example() -> Self {
        Self { email: Some("ann@example.com".to_owned()), code: Some("042917".to_owned()), token: None }
    }
}

#[derive(Object)]
#[oai(example = true)]
struct EmailVerified {
    email_verified: bool,
}

impl poem_openapi::types::Example for EmailVerified {
    fn example() -> Self {
        Self { email_verified: true }
    }
}

#[derive(ApiResponse)]
enum VerifyEmailResponse {
    /// The address is verified.
    #[oai(status = 200)]
    Verified(Json<EmailVerified>),
    /// `invalid_code`: wrong, expired, already used, or too many attempts (5 per code) — one
    /// answer for all, and for unknown addresses. `invalid_request`: neither a code nor a token.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// A backing store is unreachable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

#[derive(Object)]
#[oai(example = true)]
struct ResendRequest {
    email: String,
}

impl poem_openapi::types::Example for ResendRequest {
    fn example() -> Self {
        Self { email: "ann@example.com".to_owned() }
    }
}

#[derive(ApiResponse)]
enum ResendResponse {
    /// Accepted; a new code is mailed if the address has an unverified account and none was sent
    /// in the last minute. The same answer in every case.
    #[oai(status = 202)]
    Accepted(Json<CheckYourMail>),
    /// `invalid_email`: not an email address at all.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// A backing store is unreachable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

fn anonymous(request: &Request) -> Actor {
    Actor { user: None, client_id: None, origin: origin_of(request) }
}

fn invalid_code() -> Json<ErrorBody> {
    Json(body("invalid_code", "the code is wrong or expired; request a new one"))
}

pub struct AccountApi;

#[OpenApi(tag = "ApiTags::Registration")]
impl AccountApi {
    /// Create an account.
    ///
    /// The account starts with an unverified address: a 6-digit code and a link are mailed to
    /// it, valid 10 minutes. The answer does not say whether the address was already registered.
    #[oai(path = "/api/account/register", method = "post", operation_id = "account_register")]
    async fn register(
        &self,
        state: Data<&AppState>,
        request: &Request,
        registration: Json<RegisterRequest>,
    ) -> RegisterResponse {
        if let Err(limited) = count_ip(request, &state, Scope::RegisterIp).await {
            return RegisterResponse::TooManyRequests(api_refusal(&limited), limited.retry_after_secs());
        }
        let Json(RegisterRequest { email, password, name }) = registration;
        let outcome =
            registration::register(&state, &email, Password::new(password), name.as_deref(), &anonymous(request)).await;
        match outcome {
            Ok(()) => RegisterResponse::Accepted(Json(check_your_mail())),
            Err(RegistrationError::InvalidEmail(error)) => {
                RegisterResponse::BadRequest(Json(body("invalid_email", &error.to_string())))
            }
            Err(RegistrationError::InvalidProfile(error)) => {
                RegisterResponse::BadRequest(Json(body("invalid_request", &error.to_string())))
            }
            Err(RegistrationError::WeakPassword(error)) => {
                RegisterResponse::BadRequest(Json(body("weak_password", &error.to_string())))
            }
            Err(RegistrationError::Unavailable(cause)) => RegisterResponse::Unavailable(temporarily_unavailable(cause)),
        }
    }

    /// Verify the email address.
    ///
    /// With the address and the mailed code, or with the link's token. A code takes at most 5
    /// attempts and works once.
    #[oai(path = "/api/account/verify-email", method = "post", operation_id = "account_verify_email")]
    async fn verify_email(
        &self,
        state: Data<&AppState>,
        request: &Request,
        verification: Json<VerifyEmailRequest>,
    ) -> VerifyEmailResponse {
        let actor = anonymous(request);
        let outcome = match verification.0 {
            VerifyEmailRequest { token: Some(token), .. } => {
                registration::verify_with_link(&state, &token, &actor).await
            }
            VerifyEmailRequest { email: Some(email), code: Some(code), .. } => {
                registration::verify_with_code(&state, &email, &code, &actor).await
            }
            _ => {
                return VerifyEmailResponse::BadRequest(Json(body(
                    "invalid_request",
                    "send email and code, or the link's token",
                )));
            }
        };
        match outcome {
            Ok(Verified::Yes) => VerifyEmailResponse::Verified(Json(EmailVerified { email_verified: true })),
            Ok(Verified::InvalidCode) => VerifyEmailResponse::BadRequest(invalid_code()),
            Err(error) => VerifyEmailResponse::Unavailable(temporarily_unavailable(error)),
        }
    }

    /// Send a new verification code.
    ///
    /// At most one mail a minute per address; the answer is the same whether or not a mail went
    /// out.
    #[oai(path = "/api/account/verify-email/resend", method = "post", operation_id = "account_resend_verification")]
    async fn resend(&self, state: Data<&AppState>, resend: Json<ResendRequest>) -> ResendResponse {
        if let Err(error) = Email::parse(&resend.0.email) {
            return ResendResponse::BadRequest(Json(body("invalid_email", &error.to_string())));
        }
        match registration::resend_verification(&state, &resend.0.email).await {
            Ok(()) => ResendResponse::Accepted(Json(check_your_mail())),
            Err(error) => ResendResponse::Unavailable(temporarily_unavailable(error)),
        }
    }
}

#[derive(Deserialize)]
pub struct LinkQuery {
    token: String,
}

/// `GET /verify-email?token=…`: the mailed link shows a button rather than verifying at once,
/// so a mail scanner that follows links does not use it up.
#[handler]
pub async fn verify_email_page(request: &Request, state: Data<&AppState>, Query(query): Query<LinkQuery>) -> Response {
    let (csrf, new_csrf) = csrf_token(request);
    let ui = Ui::of(request, &state.config.brand);
    with_csrf_cookie(
        pages::confirm_link(&ui, &pages::VERIFY_EMAIL, &query.token, &csrf),
        &csrf,
        new_csrf,
        state.config.issuer.is_https(),
    )
}

#[derive(Deserialize)]
pub struct LinkForm {
    token: String,
    csrf: String,
}

#[handler]
pub async fn verify_email_submit(request: &Request, state: Data<&AppState>, Form(form): Form<LinkForm>) -> Response {
    let ui = Ui::of(request, &state.config.brand);
    if !csrf_valid(request, &form.csrf) {
        return pages::csrf_rejected(&ui);
    }
    match registration::verify_with_link(&state, &form.token, &anonymous(request)).await {
        Ok(Verified::Yes) => pages::signed_out(&ui, &Notice::new("email_verified")),
        Ok(Verified::InvalidCode) => {
            pages::error(&ui, StatusCode::BAD_REQUEST, &Notice::new("verify_link_dead"), Some("invalid_code"))
        }
        Err(error) => {
            tracing::error!(%error, "email verification failed");
            pages::unavailable(&ui, StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}

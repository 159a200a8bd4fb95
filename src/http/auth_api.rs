//! `/api/auth/...`: the first-party login API (issue 7 item 3), for a single-page app served from
//! the issuer's origin or one of `FERRID_FIRST_PARTY_ORIGINS`.
//!
//! The access token travels in JSON; the refresh token only in a cookie JavaScript cannot read
//! (`HttpOnly`), sent only to these endpoints (`Path=/api/auth`), never cross-site
//! (`SameSite=Strict`) and only over TLS (`Secure`, except for a loopback http issuer). Every
//! endpoint also demands an allowed `Origin` or, without one, an `X-Requested-With` header, which
//! a cross-site form cannot send: two independent defences against CSRF.

use poem::{IntoResponse, Request, RequestBody, web::Data};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi, payload::Json,
    registry::Registry,
};

use super::{
    admin_auth::body,
    cookies,
    error::{ErrorBody, NO_STORE, temporarily_unavailable},
    rate_limit::{api_refusal, count_sign_in},
    request_context::origin_of,
    security_schemes,
    sign_in_views::LoggedOut,
    tags::ApiTags,
};
use crate::{
    accounts::{
        AccountError, Password, PasswordCheck, SecondFactorAnswer, UserId,
        mfa::{CHALLENGE_LIFETIME, ChallengeOutcome, PendingSecondStep, Resume},
    },
    app::AppState,
    audit::{Actor, AuditEvent, SignInAttempt, SignInChannel, SignInFailure, kinds},
    oauth::{OAuthError, first_party, grants::TokenResponse},
};

pub(super) const REFRESH_COOKIE: &str = "ferrid_refresh";
const COOKIE_PATH: &str = "/api/auth";
const SCHEME: &str = "FerridRefreshCookie";

/// Whether a request to the login API comes from an allowed web origin (or from no browser at
/// all, which proves it with a header a cross-site form cannot set).
pub(super) fn from_allowed_origin(request: &Request, state: &AppState) -> bool {
    let header = |name| request.headers().get(name).and_then(|value| value.to_str().ok());
    match header("origin") {
        Some(origin) => {
            let issuer = url::Url::parse(state.config.issuer.as_str()).map(|url| url.origin().ascii_serialization());
            issuer.is_ok_and(|issuer| issuer == origin) || state.config.first_party_origins.iter().any(|o| o == origin)
        }
        None => header("x-requested-with").is_some_and(|value| !value.is_empty()),
    }
}

pub(super) fn origin_refused() -> Json<ErrorBody> {
    Json(body("invalid_origin", "send the request from an allowed origin, or with an X-Requested-With header"))
}

/// `Set-Cookie` for the refresh token, or (`None`) to delete it.
fn refresh_cookie(state: &AppState, token: Option<&str>) -> String {
    let lifetime = state.config.lifetimes.refresh_absolute.num_seconds();
    let (value, max_age) = token.map_or(("", 0), |token| (token, lifetime));
    let mut cookie =
        format!("{REFRESH_COOKIE}={value}; Path={COOKIE_PATH}; HttpOnly; SameSite=Strict; Max-Age={max_age}");
    if state.config.issuer.is_https() {
        cookie.push_str("; Secure");
    }
    cookie
}

/// Tokens for the app; the refresh token is in the cookie, not here.
#[derive(Object)]
#[oai(example = true)]
pub(super) struct AppTokens {
    /// An RFC 9068 JWT access token for ferrid's own API (`/api/users/me`).
    access_token: String,
    /// Always `Bearer` (RFC 6750).
    token_type: String,
    /// Seconds until the access token expires; refresh before then.
    expires_in: i64,
    scope: String,
}

impl poem_openapi::types::Example for AppTokens {
    fn example() -> Self {
        Self {
            access_token: "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6Ii4uLiJ9.eyJzdWIiOiIuLi4ifQ.c2ln".to_owned(),
            token_type: "Bearer".to_owned(),
            expires_in: 900,
            scope: "profile email".to_owned(),
        }
    }
}

pub(super) fn tokens_response(state: &AppState, tokens: TokenResponse) -> TokensIssued {
    let cookie = refresh_cookie(state, tokens.refresh_token.as_deref());
    let body = AppTokens {
        access_token: tokens.access_token,
        token_type: "Bearer".to_owned(),
        expires_in: tokens.expires_in,
        scope: tokens.scope,
    };
    TokensIssued { body, cookie }
}

pub(super) struct TokensIssued {
    pub body: AppTokens,
    pub cookie: String,
}

#[derive(Object)]
#[oai(example = true)]
struct LoginRequest {
    email: String,
    password: String,
}

impl poem_openapi::types::Example for LoginRequest {
    fn example() -> Self {
        Self { email: "ann@example.com".to_owned(), password: "violet-harbour-42".to_owned() }
    }
}

/// A refusal of a login: `invalid_origin`, `email_not_verified`, or `mfa_required` with the
/// challenge to complete at `POST /api/auth/login/mfa`.
#[derive(Object)]
#[oai(example = true)]
struct LoginRefused {
    error: String,
    error_description: Option<String>,
    /// With `mfa_required`: send it back with a code from the authenticator app. Single use.
    #[oai(skip_serializing_if_is_none)]
    mfa_token: Option<String>,
    /// With `mfa_required`: seconds left to answer.
    #[oai(skip_serializing_if_is_none)]
    expires_in: Option<u64>,
}

impl poem_openapi::types::Example for LoginRefused {
    fn example() -> Self {
        Self {
            error: "mfa_required".to_owned(),
            error_description: Some("enter the code from your authenticator app".to_owned()),
            mfa_token: Some("q3V9x0bY7cS2kP1tZr8mW4nH6jF5gD0aL9eU2iO3yT7".to_owned()),
            expires_in: Some(300),
        }
    }
}

impl From<ErrorBody> for LoginRefused {
    fn from(body: ErrorBody) -> Self {
        Self { error: body.error, error_description: body.error_description, mfa_token: None, expires_in: None }
    }
}

#[derive(ApiResponse)]
enum LoginResponse {
    /// Signed in: the access token, and the refresh token in an HttpOnly cookie.
    #[oai(status = 200)]
    Ok(Json<AppTokens>, #[oai(header = "Set-Cookie")] String, #[oai(header = "Cache-Control")] String),
    /// Wrong email or password — the same answer for unknown, disabled and password-less
    /// accounts, and for an address that must wait after repeated failures (the password is
    /// then not checked).
    #[oai(status = 401)]
    InvalidCredentials(Json<ErrorBody>),
    /// `invalid_origin` (see the tag's description); `email_not_verified`: the password was
    /// right but the address must be verified first; `mfa_required`: the password was right and
    /// the user has two-step verification — complete it with `mfa_token` (RFC 6238 TOTP code or
    /// a recovery code) at `POST /api/auth/login/mfa`.
    #[oai(status = 403)]
    Forbidden(Json<LoginRefused>, #[oai(header = "Cache-Control")] String),
    /// `too_many_requests`: more than 20 attempts a minute from this address, or 5 for one email
    /// address from it (defaults; `FERRID_RATE_LIMITS`). Every answer carries the `RateLimit-*`
    /// headers.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A backing store is unreachable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// The second step of a login: the challenge and one answer.
#[derive(Object)]
#[oai(example = true)]
struct MfaLoginRequest {
    /// From the `mfa_required` answer of `POST /api/auth/login`.
    mfa_token: String,
    /// Six digits from the authenticator app.
    #[oai(write_only)]
    code: Option<String>,
    /// A recovery code, `xxxx-xxxx-xx`, instead of a code (each works once).
    #[oai(write_only)]
    recovery_code: Option<String>,
}

impl poem_openapi::types::Example for MfaLoginRequest {
    fn example() -> Self {
        Self {
            mfa_token: "q3V9x0bY7cS2kP1tZr8mW4nH6jF5gD0aL9eU2iO3yT7".to_owned(),
            code: Some("492039".to_owned()),
            recovery_code: None,
        }
    }
}

#[derive(ApiResponse)]
enum MfaLoginResponse {
    /// Signed in: the access token, and the refresh token in an HttpOnly cookie.
    #[oai(status = 200)]
    Ok(Json<AppTokens>, #[oai(header = "Set-Cookie")] String, #[oai(header = "Cache-Control")] String),
    /// Neither `code` nor `recovery_code` (`invalid_request`).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// `invalid_code`: wrong or already used, try again; `invalid_mfa_token`: unknown, expired,
    /// completed or out of attempts — log in again.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// `invalid_origin` (see the tag's description).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// A backing store is unreachable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

#[derive(ApiResponse)]
enum RefreshResponse {
    /// A new access token; the cookie now holds the next refresh token (the old one is spent).
    #[oai(status = 200)]
    Ok(Json<AppTokens>, #[oai(header = "Set-Cookie")] String, #[oai(header = "Cache-Control")] String),
    /// No cookie, or a refresh token that is expired, revoked or already used — a reuse
    /// revokes its whole family (RFC 9700 §4.14.2). The cookie is cleared.
    #[oai(status = 401)]
    InvalidGrant(Json<ErrorBody>, #[oai(header = "Set-Cookie")] String),
    /// `invalid_origin` (answered by the cookie's guard, before the handler).
    #[oai(status = 403)]
    #[allow(dead_code, reason = "constructed as LogoutResponse::Forbidden by RefreshCookie; declared for the document")]
    Forbidden(Json<ErrorBody>),
    /// A backing store is unreachable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

#[derive(ApiResponse)]
enum LogoutResponse {
    /// Signed out (also when the cookie was missing or already dead); the cookie is cleared.
    #[oai(status = 204)]
    LoggedOut(#[oai(header = "Set-Cookie")] String),
    /// `invalid_origin` (answered by the cookie's guard, before the handler).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// A backing store is unreachable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

#[derive(ApiResponse)]
enum LogoutAllResponse {
    /// Every session and application of the user ended; the cookie is cleared.
    #[oai(status = 200)]
    LoggedOut(Json<LoggedOut>, #[oai(header = "Set-Cookie")] String),
    /// No cookie, or not a live refresh token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>, #[oai(header = "Set-Cookie")] String),
    /// `invalid_origin` (answered by the cookie's guard, before the handler).
    #[oai(status = 403)]
    #[allow(dead_code, reason = "constructed as LogoutResponse::Forbidden by RefreshCookie; declared for the document")]
    Forbidden(Json<ErrorBody>),
    /// A backing store is unreachable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// The refresh cookie, after the origin check. Also declares the cookie security scheme.
struct RefreshCookie(Option<String>);

impl<'a> ApiExtractor<'a> for RefreshCookie {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            SCHEME,
            security_schemes::cookie(
                REFRESH_COOKIE,
                "The refresh token cookie set by `POST /api/auth/login` (HttpOnly; SameSite=Strict; \
                     Path=/api/auth). Requests must also carry an allowed Origin or an X-Requested-With header.",
            ),
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![SCHEME]
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let allowed = request.data::<AppState>().is_some_and(|state| from_allowed_origin(request, state));
        if !allowed {
            return Err(poem::Error::from_response(LogoutResponse::Forbidden(origin_refused()).into_response()));
        }
        Ok(Self(cookies::read(request, REFRESH_COOKIE).filter(|value| !value.is_empty())))
    }
}

/// The app's own client, as the audit log's actor for someone not yet signed in.
pub(super) fn app_actor(request: &Request, user: Option<String>) -> Actor {
    Actor { user, client_id: Some(first_party::APP_CLIENT_ID.to_owned()), origin: origin_of(request) }
}

/// A sign-in attempt through this API, to the first-party app.
async fn record_sign_in(state: &AppState, request: &Request, user: Option<UserId>, result: Result<(), SignInFailure>) {
    let attempt = SignInAttempt {
        channel: SignInChannel::LoginApi,
        client_id: first_party::APP_CLIENT_ID.to_owned(),
        user,
        origin: origin_of(request),
        result,
    };
    state.audit.sign_in(attempt).await;
}

pub struct AuthApi;

#[OpenApi(tag = "ApiTags::Authentication")]
impl AuthApi {
    /// Sign in with email and password.
    ///
    /// Returns an access token and sets the refresh token cookie. Send `X-Requested-With` (or
    /// call from an allowed origin). A wrong email and a wrong password get the same answer.
    /// After 3 failures for an email address, each further attempt must wait 1, 2, 4 … seconds,
    /// and from the 10th failure within an hour the address waits 15 minutes after each; a
    /// successful sign-in or a password reset clears this. An attempt made too early gets the
    /// wrong-password answer, whether or not the account exists.
    #[oai(path = "/api/auth/login", method = "post", operation_id = "auth_login")]
    async fn login(&self, state: Data<&AppState>, request: &Request, login: Json<LoginRequest>) -> LoginResponse {
        if !from_allowed_origin(request, &state) {
            return LoginResponse::Forbidden(Json(origin_refused().0.into()), NO_STORE.to_owned());
        }
        let Json(LoginRequest { email, password }) = login;
        if let Err(limited) = count_sign_in(request, &state, &email).await {
            record_sign_in(&state, request, None, Err(SignInFailure::RateLimited)).await;
            return LoginResponse::TooManyRequests(api_refusal(&limited), limited.retry_after_secs());
        }
        let user = match state.accounts.check_password(&email, Password::new(password)).await {
            Ok(PasswordCheck::Accepted(user)) => user,
            Ok(refused) => {
                let (reason, user) =
                    SignInFailure::of(&refused).unwrap_or((SignInFailure::UnknownOrWrongPassword, None));
                record_sign_in(&state, request, user, Err(reason)).await;
                return match reason {
                    SignInFailure::Unverified => LoginResponse::Forbidden(
                        Json(
                            body(
                                "email_not_verified",
                                "verify your email address first: enter the code or open the link we mailed you",
                            )
                            .into(),
                        ),
                        NO_STORE.to_owned(),
                    ),
                    _ => {
                        LoginResponse::InvalidCredentials(Json(body("invalid_credentials", "wrong email or password")))
                    }
                };
            }
            Err(error) => return LoginResponse::Unavailable(temporarily_unavailable(error)),
        };
        let amr = vec!["pwd".to_owned()];
        let pending = PendingSecondStep::new(user.id, amr.clone(), Resume::Api);
        match state.second_factors.challenge_after_password(pending).await {
            Ok(Some(token)) => {
                return LoginResponse::Forbidden(
                    Json(LoginRefused {
                        error: "mfa_required".to_owned(),
                        error_description: Some("enter the code from your authenticator app".to_owned()),
                        mfa_token: Some(token.expose().to_owned()),
                        expires_in: Some(CHALLENGE_LIFETIME.as_secs()),
                    }),
                    NO_STORE.to_owned(),
                );
            }
            Ok(None) => {}
            Err(error) => return LoginResponse::Unavailable(temporarily_unavailable(error)),
        }
        match first_party::sign_in(&state, &user, amr, &origin_of(request)).await {
            Ok(tokens) => {
                record_sign_in(&state, request, Some(user.id), Ok(())).await;
                let issued = tokens_response(&state, tokens);
                LoginResponse::Ok(Json(issued.body), issued.cookie, NO_STORE.to_owned())
            }
            Err(error) => LoginResponse::Unavailable(temporarily_unavailable(error)),
        }
    }

    /// Complete a login with two-step verification.
    ///
    /// After `POST /api/auth/login` answered `mfa_required`: the `mfa_token` with a current
    /// 6-digit code from the authenticator app (RFC 6238) or one of the recovery codes. Success
    /// is the login's: an access token and the refresh token cookie. A code is accepted once; the
    /// token lasts 5 minutes and dies after 5 wrong answers.
    #[oai(path = "/api/auth/login/mfa", method = "post", operation_id = "auth_login_mfa")]
    async fn login_mfa(
        &self,
        state: Data<&AppState>,
        request: &Request,
        step: Json<MfaLoginRequest>,
    ) -> MfaLoginResponse {
        if !from_allowed_origin(request, &state) {
            return MfaLoginResponse::Forbidden(origin_refused());
        }
        let Json(MfaLoginRequest { mfa_token, code, recovery_code }) = step;
        let Some(answer) = SecondFactorAnswer::from_fields(code.as_deref(), recovery_code.as_deref()) else {
            return MfaLoginResponse::BadRequest(Json(body("invalid_request", "send code or recovery_code")));
        };
        let expired = || {
            let description = "the mfa_token is unknown, expired, used or out of attempts: log in again";
            MfaLoginResponse::Unauthorized(Json(body("invalid_mfa_token", description)))
        };
        let outcome = match state.second_factors.answer_challenge(&mfa_token, &Resume::Api, &answer).await {
            Ok(outcome) => outcome,
            Err(error) => return MfaLoginResponse::Unavailable(temporarily_unavailable(error)),
        };
        let verified =
            |user: UserId| AuditEvent::new(kinds::MFA_VERIFY, &app_actor(request, Some(user.to_string()))).user(user);
        let pending = match outcome {
            ChallengeOutcome::Passed { pending, factor } => {
                let event = verified(pending.user()).details(serde_json::json!({ "factor": factor.as_str() }));
                state.audit.record(event).await;
                pending
            }
            ChallengeOutcome::Wrong { pending, attempts_left } => {
                state.audit.record(verified(pending.user()).failed()).await;
                record_sign_in(&state, request, Some(pending.user()), Err(SignInFailure::MfaFailed)).await;
                let description = format!("the code is wrong or was already used; {attempts_left} attempts left");
                return MfaLoginResponse::Unauthorized(Json(body("invalid_code", &description)));
            }
            ChallengeOutcome::Exhausted { pending } => {
                let event =
                    verified(pending.user()).failed().details(serde_json::json!({ "reason": "too many attempts" }));
                state.audit.record(event).await;
                record_sign_in(&state, request, Some(pending.user()), Err(SignInFailure::MfaFailed)).await;
                return expired();
            }
            ChallengeOutcome::Expired => return expired(),
        };
        let user = match state.accounts.find(pending.user()).await {
            Ok(user) if !user.disabled => user,
            Ok(_) | Err(AccountError::NotFound) => return expired(),
            Err(error) => return MfaLoginResponse::Unavailable(temporarily_unavailable(error)),
        };
        match first_party::sign_in(&state, &user, pending.amr_with_otp(), &origin_of(request)).await {
            Ok(tokens) => {
                record_sign_in(&state, request, Some(user.id), Ok(())).await;
                let issued = tokens_response(&state, tokens);
                MfaLoginResponse::Ok(Json(issued.body), issued.cookie, NO_STORE.to_owned())
            }
            Err(error) => MfaLoginResponse::Unavailable(temporarily_unavailable(error)),
        }
    }

    /// Get a new access token with the refresh token cookie.
    ///
    /// Reads the refresh token from the cookie only (a token in the body is ignored), rotates it
    /// and sets the next one. Presenting a spent refresh token again revokes the whole family.
    #[oai(path = "/api/auth/refresh", method = "post", operation_id = "auth_refresh")]
    async fn refresh(&self, state: Data<&AppState>, request: &Request, cookie: RefreshCookie) -> RefreshResponse {
        let rejected = |description: &str| {
            RefreshResponse::InvalidGrant(Json(body("invalid_grant", description)), refresh_cookie(&state, None))
        };
        let Some(presented) = cookie.0 else { return rejected("no refresh token cookie") };
        match first_party::refresh(&state, &presented, &origin_of(request)).await {
            Ok(tokens) => {
                let issued = tokens_response(&state, tokens);
                RefreshResponse::Ok(Json(issued.body), issued.cookie, NO_STORE.to_owned())
            }
            Err(OAuthError::InvalidGrant(description)) => rejected(&description),
            Err(error) => RefreshResponse::Unavailable(temporarily_unavailable(error)),
        }
    }

    /// Sign out of this session.
    ///
    /// Revokes the cookie's refresh token family and ends its session; clears the cookie.
    #[oai(path = "/api/auth/logout", method = "post", operation_id = "auth_logout")]
    async fn logout(&self, state: Data<&AppState>, request: &Request, cookie: RefreshCookie) -> LogoutResponse {
        if let Some(presented) = cookie.0 {
            match first_party::log_out(&state, &presented).await {
                Ok(Some(user)) => {
                    let actor = app_actor(request, Some(user.to_string()));
                    state.audit.record(AuditEvent::new(kinds::AUTH_LOGOUT, &actor).user(user)).await;
                }
                Ok(None) => {}
                Err(error) => return LogoutResponse::Unavailable(temporarily_unavailable(error)),
            }
        }
        LogoutResponse::LoggedOut(refresh_cookie(&state, None))
    }

    /// Sign out everywhere.
    ///
    /// Ends every session of the cookie's user, here and in every application, and revokes all
    /// their refresh tokens and access tokens; clears the cookie.
    #[oai(path = "/api/auth/logout-all", method = "post", operation_id = "auth_logout_all")]
    async fn logout_all(&self, state: Data<&AppState>, request: &Request, cookie: RefreshCookie) -> LogoutAllResponse {
        let cleared = refresh_cookie(&state, None);
        let unauthorized = |cleared| {
            LogoutAllResponse::Unauthorized(Json(body("unauthorized", "no live refresh token cookie")), cleared)
        };
        let Some(presented) = cookie.0 else { return unauthorized(cleared) };
        match first_party::log_out_all(&state, &presented).await {
            Ok(Some((user, done))) => {
                let actor = app_actor(request, Some(user.to_string()));
                state.audit.record(AuditEvent::new(kinds::AUTH_LOGOUT_ALL, &actor).user(user)).await;
                LogoutAllResponse::LoggedOut(Json(done.into()), cleared)
            }
            Ok(None) => unauthorized(cleared),
            Err(error) => LogoutAllResponse::Unavailable(temporarily_unavailable(error)),
        }
    }
}

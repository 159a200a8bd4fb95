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
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi,
    payload::Json,
    registry::{MetaSecurityScheme, Registry},
};

use super::{
    admin_auth::body, cookies, error::ErrorBody, request_context::origin_of, sign_in_views::LoggedOut, tags::ApiTags,
};
use crate::{
    accounts::{AccountError, Password},
    app::AppState,
    audit::{Actor, AuditEvent, kinds},
    oauth::{OAuthError, first_party, grants::TokenResponse},
};

pub(super) const REFRESH_COOKIE: &str = "ferrid_refresh";
const COOKIE_PATH: &str = "/api/auth";
const SCHEME: &str = "FerridRefreshCookie";

/// Whether a request to the login API comes from an allowed web origin (or from no browser at
/// all, which proves it with a header a cross-site form cannot set).
fn from_allowed_origin(request: &Request, state: &AppState) -> bool {
    let header = |name| request.headers().get(name).and_then(|value| value.to_str().ok());
    match header("origin") {
        Some(origin) => {
            let issuer = url::Url::parse(state.config.issuer.as_str()).map(|url| url.origin().ascii_serialization());
            issuer.is_ok_and(|issuer| issuer == origin) || state.config.first_party_origins.iter().any(|o| o == origin)
        }
        None => header("x-requested-with").is_some_and(|value| !value.is_empty()),
    }
}

fn origin_refused() -> Json<ErrorBody> {
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
struct AppTokens {
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

fn tokens_response(state: &AppState, tokens: TokenResponse) -> TokensIssued {
    let cookie = refresh_cookie(state, tokens.refresh_token.as_deref());
    let body = AppTokens {
        access_token: tokens.access_token,
        token_type: "Bearer".to_owned(),
        expires_in: tokens.expires_in,
        scope: tokens.scope,
    };
    TokensIssued { body, cookie }
}

struct TokensIssued {
    body: AppTokens,
    cookie: String,
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

#[derive(ApiResponse)]
enum LoginResponse {
    /// Signed in: the access token, and the refresh token in an HttpOnly cookie.
    #[oai(status = 200)]
    Ok(Json<AppTokens>, #[oai(header = "Set-Cookie")] String, #[oai(header = "Cache-Control")] String),
    /// Wrong email or password — the same answer for unknown, disabled and password-less
    /// accounts.
    #[oai(status = 401)]
    InvalidCredentials(Json<ErrorBody>),
    /// `invalid_origin` (see the tag's description), or `email_not_verified`: the password was
    /// right but the address must be verified first.
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

fn unavailable(cause: impl std::fmt::Display) -> Json<ErrorBody> {
    tracing::error!(%cause, "login API request failed");
    Json(body("temporarily_unavailable", "please try again"))
}

const NO_STORE: &str = "no-store";

/// The refresh cookie, after the origin check. Also declares the cookie security scheme.
struct RefreshCookie(Option<String>);

impl<'a> ApiExtractor<'a> for RefreshCookie {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            SCHEME,
            MetaSecurityScheme {
                ty: "apiKey",
                description: Some(
                    "The refresh token cookie set by `POST /api/auth/login` (HttpOnly; SameSite=Strict; \
                     Path=/api/auth). Requests must also carry an allowed Origin or an X-Requested-With header.",
                ),
                name: Some(REFRESH_COOKIE),
                key_in: Some("cookie"),
                scheme: None,
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
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
fn app_actor(request: &Request, user: Option<String>) -> Actor {
    Actor { user, client_id: Some(first_party::APP_CLIENT_ID.to_owned()), origin: origin_of(request) }
}

pub struct AuthApi;

#[OpenApi(tag = "ApiTags::Authentication")]
impl AuthApi {
    /// Sign in with email and password.
    ///
    /// Returns an access token and sets the refresh token cookie. Send `X-Requested-With` (or
    /// call from an allowed origin). A wrong email and a wrong password get the same answer.
    #[oai(path = "/api/auth/login", method = "post", operation_id = "auth_login")]
    async fn login(&self, state: Data<&AppState>, request: &Request, login: Json<LoginRequest>) -> LoginResponse {
        if !from_allowed_origin(request, &state) {
            return LoginResponse::Forbidden(origin_refused());
        }
        let Json(LoginRequest { email, password }) = login;
        let user = match state.accounts.authenticate(&email, Password::new(password)).await {
            Ok(user) => user,
            Err(refused @ (AccountError::InvalidCredentials | AccountError::EmailNotVerified)) => {
                let reason = match refused {
                    AccountError::EmailNotVerified => "email_not_verified",
                    _ => "invalid_credentials",
                };
                let event = AuditEvent::new(kinds::AUTH_LOGIN, &app_actor(request, None)).failed();
                state.audit.record(event.details(serde_json::json!({ "reason": reason }))).await;
                return match refused {
                    AccountError::EmailNotVerified => LoginResponse::Forbidden(Json(body(
                        "email_not_verified",
                        "verify your email address first: enter the code or open the link we mailed you",
                    ))),
                    _ => {
                        LoginResponse::InvalidCredentials(Json(body("invalid_credentials", "wrong email or password")))
                    }
                };
            }
            Err(error) => return LoginResponse::Unavailable(unavailable(error)),
        };
        match first_party::sign_in(&state, &user, vec!["pwd".to_owned()], &origin_of(request)).await {
            Ok(tokens) => {
                let actor = app_actor(request, Some(user.id.to_string()));
                state.audit.record(AuditEvent::new(kinds::AUTH_LOGIN, &actor).user(user.id)).await;
                let issued = tokens_response(&state, tokens);
                LoginResponse::Ok(Json(issued.body), issued.cookie, NO_STORE.to_owned())
            }
            Err(error) => LoginResponse::Unavailable(unavailable(error)),
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
            Err(error) => RefreshResponse::Unavailable(unavailable(error)),
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
                Err(error) => return LogoutResponse::Unavailable(unavailable(error)),
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
            Err(error) => LogoutAllResponse::Unavailable(unavailable(error)),
        }
    }
}

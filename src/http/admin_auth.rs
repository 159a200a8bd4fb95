//! The admin API's guard: an `Authorization: Bearer` access token for ferrid carrying
//! `ferrid:admin` (RFC 6750 §2.1). Every admin endpoint takes [`AdminAuth`], which also declares
//! the document's security schemes (Swagger's lock): a bearer token pasted in, or one obtained
//! through ferrid's own authorization code flow, which Swagger's Authorize button runs. Handlers
//! answer in a type declared with [`guarded_response!`], which adds the guard's refusals.

use poem::{IntoResponse, Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaOAuthFlow, MetaOAuthFlows, MetaOAuthScope, MetaSecurityScheme, Registry},
};

use super::{error::ErrorBody, request_context::origin_of, security_schemes, userinfo::bearer};
use crate::{
    app::AppState,
    audit::Actor,
    oauth::admin::{ADMIN_SCOPE, BearerAuthError, authenticate_administrator},
};

const SCHEME: &str = "AdminBearer";
/// Either scheme yields the same bearer token on the request.
const OAUTH_SCHEME: &str = "FerridOAuth";

/// The flow Swagger's Authorize runs against ferrid itself. The URLs are relative to the
/// server (OpenAPI 3.0 §4.7.1), so the committed document does not depend on the issuer.
fn authorization_code_flow() -> MetaOAuthFlows {
    let scope = |name, description| MetaOAuthScope { name, description: Some(description) };
    MetaOAuthFlows {
        implicit: None,
        password: None,
        client_credentials: None,
        authorization_code: Some(MetaOAuthFlow {
            authorization_url: Some("/authorize"),
            token_url: Some("/token"),
            refresh_url: None,
            scopes: vec![
                scope("openid", "Sign in with OpenID Connect."),
                scope("profile", "Your name."),
                scope("email", "Your email address."),
                scope(ADMIN_SCOPE, "Administer ferrid; granted only to users with the admin role."),
            ],
        }),
    }
}

/// Why an admin request is refused, with its RFC 6750 §3 `WWW-Authenticate` challenge.
pub(super) enum BearerDenied {
    /// 401: no token, or an invalid one.
    Unauthorized(ErrorBody, String),
    /// 403 `insufficient_scope`.
    Forbidden(ErrorBody, String),
    /// 503: a store could not be asked.
    Unavailable(ErrorBody),
}

pub(super) fn body(code: &str, description: &str) -> ErrorBody {
    ErrorBody { error: code.to_owned(), error_description: Some(description.to_owned()), request_id: None }
}

/// An error body for an admin response: `not_found`, `invalid_request`, `conflict`...
pub(super) fn admin_error(code: &str, description: impl std::fmt::Display) -> poem_openapi::payload::Json<ErrorBody> {
    poem_openapi::payload::Json(ErrorBody {
        error: code.to_owned(),
        error_description: Some(description.to_string()),
        request_id: None,
    })
}

impl BearerDenied {
    fn from_error(error: BearerAuthError) -> Self {
        match error {
            BearerAuthError::InvalidToken => Self::Unauthorized(
                body("invalid_token", "the access token is invalid"),
                "Bearer realm=\"ferrid\", error=\"invalid_token\", error_description=\"the access token is invalid\""
                    .to_owned(),
            ),
            BearerAuthError::InsufficientScope => Self::Forbidden(
                body("insufficient_scope", "the access token lacks the ferrid:admin scope"),
                format!("Bearer realm=\"ferrid\", error=\"insufficient_scope\", scope=\"{ADMIN_SCOPE}\""),
            ),
            BearerAuthError::Internal(cause) => unavailable(cause),
        }
    }
}

/// A store failed: logged here with its cause, answered 503 with nothing internal.
pub(super) fn unavailable(cause: impl std::fmt::Display) -> BearerDenied {
    tracing::error!(%cause, "admin request failed");
    BearerDenied::Unavailable(body("temporarily_unavailable", "please try again"))
}

/// Declares an admin response type: the listed outcomes plus the guard's 401, 403 and 503, and
/// `From<BearerDenied>` so a handler can answer any refusal with `?`-like brevity (`.into()`).
macro_rules! guarded_response {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($variants:tt)* }) => {
        $(#[$meta])*
        #[derive(poem_openapi::ApiResponse)]
        $vis enum $name {
            $($variants)*
            /// No token, or an invalid one (RFC 6750 §3.1).
            #[oai(status = 401)]
            Unauthorized(
                poem_openapi::payload::Json<$crate::http::ErrorBody>,
                #[oai(header = "WWW-Authenticate")] String,
            ),
            /// The token may not be used here: the admin API needs `ferrid:admin`, the account API a token
            /// issued to one of ferrid's own applications (RFC 6750 §3.1 `insufficient_scope`).
            #[oai(status = 403)]
            Forbidden(
                poem_openapi::payload::Json<$crate::http::ErrorBody>,
                #[oai(header = "WWW-Authenticate")] String,
            ),
            /// A store is unreachable; retry later.
            #[oai(status = 503)]
            Unavailable(poem_openapi::payload::Json<$crate::http::ErrorBody>),
        }

        impl From<$crate::http::admin_auth::BearerDenied> for $name {
            fn from(denied: $crate::http::admin_auth::BearerDenied) -> Self {
                use $crate::http::admin_auth::BearerDenied;
                match denied {
                    BearerDenied::Unauthorized(body, challenge) => {
                        Self::Unauthorized(poem_openapi::payload::Json(body), challenge)
                    }
                    BearerDenied::Forbidden(body, challenge) => {
                        Self::Forbidden(poem_openapi::payload::Json(body), challenge)
                    }
                    BearerDenied::Unavailable(body) => Self::Unavailable(poem_openapi::payload::Json(body)),
                }
            }
        }
    };
}
pub(super) use guarded_response;

/// The administrator behind the request, as the audit log's actor. A refused request ends in
/// the extractor, before any other parameter or the body is read: whoever lacks the scope learns
/// nothing about the route's input validation. Handlers still declare the refusals (through
/// [`guarded_response!`]) so the document shows them.
pub(super) struct AdminAuth(pub Actor);

guarded_response! {
    /// The guard's refusals on their own, to answer from the extractor.
    enum Refused {}
}

/// The request's bearer token, or the refusal for a request without one: RFC 6750 §3.1 wants no
/// error code then, only the challenge; `hint` says what to send.
pub(super) fn presented_bearer<'r>(request: &'r Request, hint: &str) -> Result<&'r str, BearerDenied> {
    let header = request.headers().get(poem::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    bearer(header)
        .ok_or_else(|| BearerDenied::Unauthorized(body("unauthorized", hint), "Bearer realm=\"ferrid\"".to_owned()))
}

async fn authenticate(request: &Request) -> Result<Actor, BearerDenied> {
    let token = presented_bearer(request, "send an access token with the ferrid:admin scope")?;
    let Some(state) = request.data::<AppState>() else { return Err(unavailable("no application state")) };
    let administrator = authenticate_administrator(state, token).await.map_err(BearerDenied::from_error)?;
    Ok(administrator.actor(origin_of(request)))
}

impl<'a> ApiExtractor<'a> for AdminAuth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            SCHEME,
            security_schemes::bearer(
                "An access token for ferrid with the `ferrid:admin` scope: from client_credentials for a \
                     service client allowed that scope, or from the authorization code flow for a user with \
                     the `admin` role.",
            ),
        );
        registry.create_security_scheme(
            OAUTH_SCHEME,
            MetaSecurityScheme {
                ty: "oauth2",
                description: Some(
                    "Sign in at ferrid through the built-in public client `ferrid-swagger` (authorization \
                     code with PKCE). Tick `ferrid:admin` for the admin API.",
                ),
                name: None,
                key_in: None,
                scheme: None,
                bearer_format: None,
                flows: Some(authorization_code_flow()),
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![SCHEME, OAUTH_SCHEME]
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match authenticate(request).await {
            Ok(actor) => Ok(Self(actor)),
            Err(denied) => Err(poem::Error::from_response(Refused::from(denied).into_response())),
        }
    }
}

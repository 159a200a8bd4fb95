//! The HTTP surface (poem). Handlers are thin: extract, call the domain, map the result.
//! This is the only module that imports poem.

mod account;
mod admin_access;
mod admin_audit;
mod admin_auth;
mod admin_clients;
mod admin_keys;
mod admin_paging;
mod admin_sessions;
mod admin_users;
mod auth_api;
mod authorize;
mod body_limit;
mod cached_json;
mod client_metadata;
mod cookies;
mod cors;
mod deadline;
mod discovery;
mod dpop;
mod error;
mod federation;
mod federation_api;
mod introspect;
mod jwks;
mod logout;
mod me;
mod metrics;
mod mfa;
mod oauth_form;
mod openapi_document;
mod ops;
mod pages;
mod password_reset;
mod profile;
mod rate_limit;
mod register;
mod request_context;
mod revoke;
mod second_step;
mod security_headers;
mod security_schemes;
mod session_auth;
mod sign_in_views;
mod swagger;
mod tags;
mod token;
mod user_auth;
mod userinfo;

use body_limit::BodyLimit;
use cors::Cors;
use deadline::Deadline;
use poem::{Endpoint, EndpointExt, Response, Route, endpoint::make_sync, get, http::header, post};
use poem_openapi::OpenApiService;

pub use error::ErrorBody;
use request_context::RequestContext;
use security_headers::SecurityHeaders;

use crate::app::AppState;

/// Request bodies larger than this are refused with 413 before a handler sees them.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// Declares the API groups once, as the `Apis` type and as the value [`api`] serves (each API is
/// a unit struct, so one path names both).
macro_rules! api_groups {
    ($(($($api:path),+ $(,)?)),+ $(,)?) => {
        type Apis = ($(($($api,)+),)+);

        fn apis() -> Apis {
            ($(($($api,)+),)+)
        }
    };
}

// Every API group, in the order Swagger shows them: protocol, first-party accounts,
// administration, operations (nested, as poem-openapi implements `OpenApi` for tuples of up to
// 16).
api_groups!(
    (
        discovery::DiscoveryApi,
        jwks::JwksApi,
        token::TokenApi,
        introspect::IntrospectionApi,
        revoke::RevocationApi,
        userinfo::UserInfoApi,
        register::RegisterApi,
    ),
    (
        account::AccountApi,
        auth_api::AuthApi,
        federation_api::FederationApi,
        me::MeApi,
        mfa::MfaApi,
        profile::ProfileApi,
        password_reset::PasswordResetApi,
    ),
    (
        admin_users::AdminUsersApi,
        admin_access::AdminAccessApi,
        admin_sessions::AdminSessionsApi,
        admin_audit::AdminAuditApi,
        admin_clients::AdminClientsApi,
        admin_keys::AdminKeysApi,
    ),
    (ops::OperationsApi, metrics::MetricsApi),
);

/// The OpenAPI service: the single source of the document served at /openapi.json, shown at
/// /swagger and committed under openapi/.
pub fn api() -> OpenApiService<Apis, ()> {
    OpenApiService::new(apis(), "ferrid", env!("CARGO_PKG_VERSION"))
        .description("ferrid — an OAuth 2.0 / OpenID Connect provider.")
        .license(poem_openapi::LicenseObject::new("Apache-2.0"))
}

/// The OpenAPI document as served at /openapi.json and committed under openapi/openapi.json:
/// the API's own responses plus the framework's (see `openapi_document`).
pub fn openapi_document() -> String {
    openapi_document::with_framework_errors(&api().spec())
}

/// The whole application as one endpoint. From the outside in: security headers on every answer,
/// CORS, the request id (and the error shape of anything that failed), the request deadline, the
/// body size cap, then the routes.
pub fn endpoint(state: AppState) -> impl Endpoint {
    let api = api();
    let document = openapi_document();
    let swagger = swagger::routes(&state.config.issuer, &document, &api.swagger_ui_html(), api.swagger_ui());
    let document = bytes::Bytes::from(document);
    let discovery =
        discovery::DiscoveryDocument(crate::oauth::discovery::provider_metadata(&state.config).to_string().into());
    Route::new()
        .at(
            "/openapi.json",
            get(make_sync(move |_| {
                Response::builder().header(header::CONTENT_TYPE, "application/json").body(document.clone())
            })),
        )
        .nest("/swagger", swagger)
        .at("/authorize", get(authorize::authorize_get).post(authorize::authorize_post))
        .at("/authorize/resume", get(authorize::resume))
        .at("/login", get(authorize::login_page).post(authorize::login_submit))
        .at("/login/mfa", post(second_step::submit))
        .at("/login/:provider", get(federation::start))
        .at("/login/:provider/callback", get(federation::callback))
        .at("/consent", get(authorize::consent_page).post(authorize::consent_submit))
        .at("/logout", get(logout::logout_get).post(logout::logout_post))
        .at("/password/forgot", get(password_reset::forgot_page).post(password_reset::forgot_submit))
        .at("/password/reset", get(password_reset::reset_page).post(password_reset::reset_submit))
        .at("/account/email/confirm", get(profile::confirm_email_page).post(profile::confirm_email_submit))
        .at("/verify-email", get(account::verify_email_page).post(account::verify_email_submit))
        .at("/assets/ferrid.css", get(pages::stylesheet::serve))
        .nest("/", api)
        .with(BodyLimit(MAX_BODY_BYTES))
        .with(rate_limit::RateLimitHeaders)
        .data(state.clone())
        .data(discovery)
        .with(Deadline(state.config.request_timeout))
        .with(RequestContext {
            trusted_proxies: state.config.trusted_proxies.clone(),
            metrics: state.metrics.clone(),
            brand: std::sync::Arc::new(state.config.brand.clone()),
        })
        .with(Cors(state.clone()))
        .with(SecurityHeaders { hsts: state.config.issuer.is_https() })
}

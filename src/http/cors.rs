//! Cross-origin resource sharing (Fetch standard, "CORS protocol"), decided per request from the
//! path and the `Origin` header — never a wildcard:
//!
//! - the protocol endpoints a browser app calls (`/token`, `/userinfo`, `/jwks`, `/introspect`,
//!   `/revoke`, discovery) and the bearer-token first-party API (`/api/account`, `/api/users`,
//!   `/api/me`, `/api/password`) allow exactly the web origins of registered clients' redirect
//!   URIs (a browser app is served where it receives its code), `FERRID_CORS_ORIGINS` and the
//!   first-party origins; without credentials, since these authenticate with headers or the body;
//! - the cookie login API (`/api/auth`) allows the issuer's origin and `FERRID_FIRST_PARTY_ORIGINS`
//!   — the origins its handlers accept — with credentials, as its refresh token is a cookie;
//! - the admin API allows only `FERRID_ADMIN_CORS_ORIGINS` (none by default);
//! - pages, `/authorize`, `/register` and the operational endpoints get no CORS headers.
//!
//! A preflight from an allowed origin is answered 204 here; from any other, 403 with the error
//! shape. An actual request is served either way (the browser withholds the answer from a refused
//! origin), and every answer on these paths says `Vary: Origin` so caches keep origins apart.

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, Result,
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
};

use super::{admin_auth::body, error::json};
use crate::app::AppState;

const ALLOWED_METHODS: &str = "GET, POST, PUT, PATCH, DELETE";
const ALLOWED_HEADERS: &str = "authorization, content-type, dpop, x-requested-with, x-request-id";
const EXPOSED_HEADERS: &str =
    "www-authenticate, x-request-id, dpop-nonce, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset";
/// How long a browser may reuse a preflight answer: short, as registered clients change.
const PREFLIGHT_MAX_AGE_SECS: &str = "600";

/// Which origins a path admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Audience {
    /// Registered clients' web origins, `FERRID_CORS_ORIGINS` and the first-party origins.
    Clients,
    /// The issuer and `FERRID_FIRST_PARTY_ORIGINS`, with credentials (cookies).
    FirstPartyCookie,
    /// `FERRID_ADMIN_CORS_ORIGINS` only.
    Admin,
}

fn audience(path: &str) -> Option<Audience> {
    let under = |prefix: &str| path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'));
    if under("/api/admin") {
        Some(Audience::Admin)
    } else if under("/api/auth") {
        Some(Audience::FirstPartyCookie)
    } else if ["/token", "/userinfo", "/jwks", "/introspect", "/revoke", "/.well-known/openid-configuration"]
        .contains(&path)
        || ["/api/account", "/api/users", "/api/me", "/api/password"].into_iter().any(under)
    {
        Some(Audience::Clients)
    } else {
        None
    }
}

pub(super) struct Cors(pub AppState);

impl<E: Endpoint> Middleware<E> for Cors {
    type Output = CorsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        CorsEndpoint { inner, state: self.0.clone() }
    }
}

pub(super) struct CorsEndpoint<E> {
    inner: E,
    state: AppState,
}

impl<E> CorsEndpoint<E> {
    async fn allows(&self, audience: Audience, origin: &str) -> bool {
        let config = &self.state.config;
        let listed = |origins: &[String]| origins.iter().any(|allowed| allowed == origin);
        match audience {
            Audience::Admin => listed(&config.admin_cors_origins),
            Audience::FirstPartyCookie => issuer_origin(&self.state) == origin || listed(&config.first_party_origins),
            Audience::Clients if listed(&config.cors_origins) || listed(&config.first_party_origins) => true,
            Audience::Clients => match self.state.clients.web_origins().await {
                Ok(origins) => origins.contains(origin),
                Err(error) => {
                    tracing::warn!(%error, "CORS: cannot read the clients' origins; refusing");
                    false
                }
            },
        }
    }
}

fn issuer_origin(state: &AppState) -> String {
    url::Url::parse(state.config.issuer.as_str()).map(|url| url.origin().ascii_serialization()).unwrap_or_default()
}

fn set(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// `Vary` lists what the answer depends on; appended, as the response may vary on more.
fn vary(headers: &mut HeaderMap, on: &'static str) {
    headers.append(header::VARY, HeaderValue::from_static(on));
}

impl<E: Endpoint> Endpoint for CorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let Some(audience) = audience(req.uri().path()) else {
            return self.inner.call(req).await.map(IntoResponse::into_response);
        };
        let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let preflight =
            req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        let allowed = match &origin {
            Some(origin) => self.allows(audience, origin).await,
            None => false,
        };
        let credentials = audience == Audience::FirstPartyCookie;
        let mut response = match (preflight, &origin) {
            (true, Some(origin)) => {
                if !allowed {
                    let refused = body("invalid_origin", "this origin may not call this endpoint from a browser");
                    let mut response = json(StatusCode::FORBIDDEN, &refused);
                    vary(response.headers_mut(), "Origin");
                    return Ok(response);
                }
                let mut response = Response::builder().status(StatusCode::NO_CONTENT).finish();
                let headers = response.headers_mut();
                set(headers, header::ACCESS_CONTROL_ALLOW_METHODS, ALLOWED_METHODS);
                set(headers, header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS);
                set(headers, header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE_SECS);
                vary(headers, "Access-Control-Request-Method");
                vary(headers, "Access-Control-Request-Headers");
                set(headers, header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                response
            }
            _ => {
                let mut response = match self.inner.call(req).await {
                    Ok(output) => output.into_response(),
                    Err(error) => error.into_response(),
                };
                if let (true, Some(origin)) = (allowed, &origin) {
                    let headers = response.headers_mut();
                    set(headers, header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                    set(headers, header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED_HEADERS);
                }
                response
            }
        };
        let headers = response.headers_mut();
        if allowed && credentials {
            set(headers, header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
        }
        vary(headers, "Origin");
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::{Audience, audience};

    #[test]
    fn each_path_has_its_audience() {
        assert_eq!(audience("/token"), Some(Audience::Clients));
        assert_eq!(audience("/.well-known/openid-configuration"), Some(Audience::Clients));
        assert_eq!(audience("/api/users/me/password"), Some(Audience::Clients));
        assert_eq!(audience("/api/auth/refresh"), Some(Audience::FirstPartyCookie));
        assert_eq!(audience("/api/admin/users"), Some(Audience::Admin));
        assert_eq!(audience("/api/administrators"), None, "a prefix match stops at a segment");
        assert_eq!(audience("/authorize"), None);
        assert_eq!(audience("/login"), None);
        assert_eq!(audience("/token/x"), None);
    }
}

//! CORS (issue 8 item 4, Fetch standard "CORS protocol"): the protocol endpoints and the
//! bearer-token first-party API admit exactly the web origins of registered redirect URIs and
//! `FERRID_CORS_ORIGINS`; the cookie login API the first-party origins, with credentials; the
//! admin API none unless `FERRID_ADMIN_CORS_ORIGINS`. Never a wildcard; always `Vary: Origin`.

use ferrid::oauth::{ClientMetadata, ClientType, RedirectUri};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{Backend, TestApp, spawn_app_with};

on_every_backend!(
    registered_web_origins_pass_preflight_and_read_answers,
    the_admin_api_admits_only_configured_origins,
    the_cookie_login_api_admits_first_party_origins_with_credentials,
);

const SPA: &str = "https://spa.example";
const EVIL: &str = "https://evil.example";

async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> reqwest::Response {
    app.http
        .request(Method::OPTIONS, app.url(path))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header("Access-Control-Request-Headers", "authorization, content-type")
        .send()
        .await
        .unwrap()
}

async fn get_from(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.http.get(app.url(path)).header("Origin", origin).send().await.unwrap()
}

fn header_of<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|value| value.to_str().unwrap())
}

fn varies_on_origin(response: &reqwest::Response) -> bool {
    response.headers().get_all("vary").iter().any(|v| v.to_str().unwrap().to_ascii_lowercase().contains("origin"))
}

async fn registered_web_origins_pass_preflight_and_read_answers(backend: Backend) {
    let app = spawn_app_with(backend, &[("FERRID_CORS_ORIGINS", "https://tools.example")]).await;
    let mut metadata = ClientMetadata::new("SPA", ClientType::Public);
    metadata.redirect_uris.push(RedirectUri::parse(&format!("{SPA}:8443/callback")).unwrap());
    app.state.clients.register(metadata).await.unwrap();
    let spa = format!("{SPA}:8443");

    for path in
        ["/token", "/userinfo", "/introspect", "/revoke", "/jwks", "/.well-known/openid-configuration", "/api/users/me"]
    {
        let allowed = preflight(&app, path, &spa, "POST").await;
        assert_eq!(allowed.status(), StatusCode::NO_CONTENT, "{path}");
        assert_eq!(header_of(&allowed, "access-control-allow-origin"), Some(spa.as_str()), "{path}");
        assert!(header_of(&allowed, "access-control-allow-methods").unwrap().contains("POST"));
        assert!(header_of(&allowed, "access-control-allow-headers").unwrap().contains("authorization"));
        assert_eq!(header_of(&allowed, "access-control-allow-credentials"), None, "{path}: no cookies here");
        assert!(varies_on_origin(&allowed));

        // The same host on another port, or another scheme, is another origin (RFC 6454 §4).
        for refused in [EVIL, SPA, "http://spa.example:8443"] {
            let response = preflight(&app, path, refused, "POST").await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path} from {refused}");
            assert_eq!(header_of(&response, "access-control-allow-origin"), None);
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "invalid_origin");
        }
    }
    let configured = preflight(&app, "/token", "https://tools.example", "POST").await;
    assert_eq!(configured.status(), StatusCode::NO_CONTENT, "FERRID_CORS_ORIGINS is admitted");

    // Actual requests: the allowed origin may read the answer, the other is served without the
    // header (the browser withholds it), and both say Vary: Origin.
    let allowed = get_from(&app, "/jwks", &spa).await;
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(header_of(&allowed, "access-control-allow-origin"), Some(spa.as_str()));
    assert!(header_of(&allowed, "access-control-expose-headers").unwrap().contains("www-authenticate"));
    assert!(varies_on_origin(&allowed));
    let refused = get_from(&app, "/jwks", EVIL).await;
    assert_eq!(refused.status(), StatusCode::OK);
    assert_eq!(header_of(&refused, "access-control-allow-origin"), None);
    assert!(varies_on_origin(&refused));
    // An error answer is readable too, so the app sees invalid_token.
    let error = get_from(&app, "/userinfo", &spa).await;
    assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header_of(&error, "access-control-allow-origin"), Some(spa.as_str()));

    // Pages and /authorize are navigations, not CORS: no headers at all.
    let page = get_from(&app, "/password/forgot", &spa).await;
    assert_eq!(header_of(&page, "access-control-allow-origin"), None);
    assert!(!varies_on_origin(&page));
}

async fn the_admin_api_admits_only_configured_origins(backend: Backend) {
    let admin_ui = "https://admin.example";
    let mut metadata = ClientMetadata::new("SPA", ClientType::Public);
    metadata.redirect_uris.push(RedirectUri::parse(&format!("{SPA}/callback")).unwrap());

    let closed = spawn_app_with(backend, &[("FERRID_CORS_ORIGINS", admin_ui)]).await;
    closed.state.clients.register(metadata.clone()).await.unwrap();
    for origin in [SPA, admin_ui] {
        let response = preflight(&closed, "/api/admin/users", origin, "GET").await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "no admin origins by default ({origin})");
    }

    let open = spawn_app_with(backend, &[("FERRID_ADMIN_CORS_ORIGINS", admin_ui)]).await;
    open.state.clients.register(metadata).await.unwrap();
    let allowed = preflight(&open, "/api/admin/users", admin_ui, "DELETE").await;
    assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
    assert_eq!(header_of(&allowed, "access-control-allow-origin"), Some(admin_ui));
    let refused = preflight(&open, "/api/admin/users", SPA, "GET").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "a client's origin is not an admin origin");
}

async fn the_cookie_login_api_admits_first_party_origins_with_credentials(backend: Backend) {
    let app_origin = "https://app.example";
    let app = spawn_app_with(backend, &[("FERRID_FIRST_PARTY_ORIGINS", app_origin)]).await;
    let allowed = preflight(&app, "/api/auth/refresh", app_origin, "POST").await;
    assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
    assert_eq!(header_of(&allowed, "access-control-allow-origin"), Some(app_origin));
    assert_eq!(header_of(&allowed, "access-control-allow-credentials"), Some("true"));
    let refused = preflight(&app, "/api/auth/login", EVIL, "POST").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(header_of(&refused, "access-control-allow-credentials"), None);

    let actual = app.http.post(app.url("/api/auth/refresh")).header("Origin", app_origin).send().await.unwrap();
    assert_eq!(actual.status(), StatusCode::UNAUTHORIZED, "no cookie");
    assert_eq!(header_of(&actual, "access-control-allow-origin"), Some(app_origin));
    assert_eq!(header_of(&actual, "access-control-allow-credentials"), Some("true"));
}

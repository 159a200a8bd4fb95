//! `/swagger`: Swagger UI with its Authorize button preset for ferrid's built-in public client
//! (`ferrid-swagger`: authorization code with PKCE, RFC 7636). poem-openapi's own page never
//! calls `initOAuth`, so this page reuses its bundled assets and adds that call. The page holds
//! no secret (the client is public) and its redirect URI is the issuer's own
//! `/swagger/oauth-receiver.html`, still served by poem-openapi.

use poem::{
    Body, Endpoint, EndpointExt, IntoResponse, Response, Route,
    endpoint::{BoxEndpoint, make_sync},
    http::header,
    middleware::SetHeader,
    web::Html,
};

use crate::config::Issuer;

/// The client created by migration `m20261124_000012`.
pub(crate) const CLIENT_ID: &str = migration::SWAGGER_CLIENT_ID;
/// Ticked in the Authorize dialog: `ferrid:admin` is dropped for users without the admin role
/// (RFC 6749 §3.3), so asking for it costs nothing.
const SCOPES: &str = "openid profile email ferrid:admin";

/// Swagger UI's stylesheet and script, as bundled inline in poem-openapi's page.
struct Assets {
    css: String,
    js: String,
}

fn between<'a>(html: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = html.find(open)? + open.len();
    let len = html[start..].find(close)?;
    Some(&html[start..start + len])
}

impl Assets {
    /// poem-openapi exposes its Swagger UI only as a page with the assets inline; the first
    /// closing tag ends each, exactly as a browser reads the page.
    fn from_poem_page(html: &str) -> Option<Self> {
        let css = between(html, "<style charset=\"UTF-8\">", "</style>")?;
        let js = between(html, "<script charset=\"UTF-8\">", "</script>")?;
        Some(Self { css: css.to_owned(), js: js.to_owned() })
    }
}

fn page(issuer: &Issuer) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>ferrid · Swagger UI</title>\n\
         <link rel=\"stylesheet\" href=\"{issuer}/swagger/swagger-ui.css\">\n</head>\n<body>\n<div id=\"ui\"></div>\n\
         <script src=\"{issuer}/swagger/swagger-ui-bundle.js\"></script>\n\
         <script src=\"{issuer}/swagger/ferrid-swagger.js\"></script>\n</body>\n</html>\n"
    )
}

fn init_script(issuer: &Issuer, spec: &str) -> String {
    let redirect = serde_json::json!(format!("{issuer}/swagger/oauth-receiver.html"));
    let oauth = serde_json::json!({
        "clientId": CLIENT_ID,
        "usePkceWithAuthorizationCodeGrant": true,
        "scopes": SCOPES,
    });
    format!(
        "\"use strict\";\nwindow.ui = SwaggerUIBundle({{\n  dom_id: \"#ui\",\n  spec: {spec},\n  \
         oauth2RedirectUrl: {redirect},\n  deepLinking: true,\n}});\nwindow.ui.initOAuth({oauth});\n"
    )
}

/// Served from one shared buffer: the bundle is about 1.5 MB, too much to copy per request.
fn asset(body: String, content_type: &'static str) -> impl Endpoint {
    let body = bytes::Bytes::from(body);
    make_sync(move |_| Response::builder().content_type(content_type).body(Body::from_bytes(body.clone())))
}

/// The page and its assets loaded from this origin only: no inline script, nothing from a CDN.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// poem-openapi's OAuth receiver runs one inline script (it hands the code to the Swagger page
/// that opened it) and loads nothing; the default policy of every other answer would block it.
const RECEIVER_CSP: &str =
    "default-src 'none'; script-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The routes under `/swagger`. `poem_ui` is poem-openapi's Swagger UI endpoint, kept for the
/// OAuth receiver page; `poem_page` its HTML, the source of the bundled assets.
pub(super) fn routes(
    issuer: &Issuer,
    spec: &str,
    poem_page: &str,
    poem_ui: impl Endpoint + 'static,
) -> BoxEndpoint<'static, Response> {
    let Some(assets) = Assets::from_poem_page(poem_page) else {
        tracing::error!(
            "poem-openapi's Swagger UI page changed shape; /swagger falls back to it, without Authorize presets"
        );
        return poem_ui.map_to_response().boxed();
    };
    let html = page(issuer);
    Route::new()
        .at(
            "/",
            make_sync(move |_| {
                Html(html.clone())
                    .with_header("content-security-policy", CSP)
                    .with_header(header::X_FRAME_OPTIONS, "DENY")
                    .with_header(header::REFERRER_POLICY, "no-referrer")
                    .into_response()
            }),
        )
        .at("/swagger-ui.css", asset(assets.css, "text/css; charset=utf-8"))
        .at("/swagger-ui-bundle.js", asset(assets.js, "text/javascript; charset=utf-8"))
        .at("/ferrid-swagger.js", asset(init_script(issuer, spec), "text/javascript; charset=utf-8"))
        .at("/oauth-receiver.html", poem_ui.with(SetHeader::new().overriding("content-security-policy", RECEIVER_CSP)))
        .with(SetHeader::new().overriding(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .map_to_response()
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_assets_are_found_in_poems_page() {
        let assets = Assets::from_poem_page(&crate::http::api().swagger_ui_html()).unwrap();
        assert!(assets.css.contains(".swagger-ui"));
        assert!(assets.js.contains("SwaggerUIBundle"));
    }

    #[test]
    fn the_page_presets_the_public_client_with_pkce_and_no_secret() {
        let issuer = Issuer::parse("https://auth.example.com").unwrap();
        let script = init_script(&issuer, "{}");
        assert!(script.contains("\"clientId\":\"ferrid-swagger\""));
        assert!(script.contains("\"usePkceWithAuthorizationCodeGrant\":true"));
        assert!(script.contains("\"https://auth.example.com/swagger/oauth-receiver.html\""));
        assert!(!script.contains("clientSecret"));
    }
}

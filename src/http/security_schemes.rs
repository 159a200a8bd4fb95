//! The security schemes the document declares (Swagger's lock icons), built one way.

use poem_openapi::registry::MetaSecurityScheme;

/// A cookie the browser sends by itself (OpenAPI 3.0 `apiKey` in `cookie`).
pub(super) fn cookie(name: &'static str, description: &'static str) -> MetaSecurityScheme {
    MetaSecurityScheme {
        ty: "apiKey",
        description: Some(description),
        name: Some(name),
        key_in: Some("cookie"),
        scheme: None,
        bearer_format: None,
        flows: None,
        openid_connect_url: None,
    }
}

/// An `Authorization: Bearer` JWT access token (RFC 6750 §2.1).
pub(super) fn bearer(description: &'static str) -> MetaSecurityScheme {
    MetaSecurityScheme {
        ty: "http",
        description: Some(description),
        name: None,
        key_in: None,
        scheme: Some("bearer"),
        bearer_format: Some("JWT"),
        flows: None,
        openid_connect_url: None,
    }
}

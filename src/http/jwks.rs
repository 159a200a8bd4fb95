//! `GET /jwks`: the public keys relying parties and resource servers verify ferrid's tokens
//! with (RFC 7517 §5, OIDC Discovery §3 `jwks_uri`). Cached bytes, an ETag, and 304 for a
//! matching `If-None-Match` (RFC 9110 §13.1.2).

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Header};

use super::{cached_json::CachedJson, tags::ApiTags};
use crate::app::AppState;

/// One public key (RFC 7517 §4, RFC 7518 §6). `kid` is the RFC 7638 thumbprint.
#[derive(Object)]
#[allow(dead_code)] // documents the served bytes; never constructed
struct Jwk {
    kty: String,
    kid: String,
    #[oai(rename = "use")]
    key_use: String,
    alg: String,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

/// A JWK Set: the `next`, `active` and `retired` keys; revoked keys are absent.
#[derive(Object)]
#[allow(dead_code)] // documents the served bytes; never constructed
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(ApiResponse)]
enum JwksResponse {
    /// The current JWK Set.
    #[oai(status = 200)]
    Ok(CachedJson<JwkSet>, #[oai(header = "ETag")] String, #[oai(header = "Cache-Control")] String),
    /// The caller's copy (`If-None-Match`) is current.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String, #[oai(header = "Cache-Control")] String),
}

pub struct JwksApi;

/// Whether an `If-None-Match` value names `etag` (a list, `*`, or weak forms, RFC 9110 §13.1.2).
fn none_match(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

#[OpenApi(tag = "ApiTags::Discovery")]
impl JwksApi {
    /// The JSON Web Key Set of ferrid's signing and encryption keys.
    ///
    /// RFC 7517 §5: the public halves of the `next`, `active` and `retired` keys, so tokens
    /// verify across a rotation (DESIGN §7.6). Send `If-None-Match` with the last `ETag` to get a
    /// 304 while the set is unchanged.
    #[oai(path = "/jwks", method = "get", operation_id = "jwks")]
    async fn jwks(
        &self,
        state: Data<&AppState>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> JwksResponse {
        let published = state.keys.current();
        let cache_control = format!("public, max-age={}", state.config.key_ring.jwks_max_age.as_secs());
        let etag = published.etag.to_string();
        if if_none_match.0.as_deref().is_some_and(|value| none_match(value, &etag)) {
            return JwksResponse::NotModified(etag, cache_control);
        }
        JwksResponse::Ok(CachedJson::new(Arc::clone(&published.jwks)), etag, cache_control)
    }
}

#[cfg(test)]
mod tests {
    use super::none_match;

    #[test]
    fn if_none_match_lists_and_weak_tags_match() {
        assert!(none_match("\"abc\"", "\"abc\""));
        assert!(none_match("\"x\", W/\"abc\"", "\"abc\""));
        assert!(none_match("*", "\"abc\""));
        assert!(!none_match("\"abd\"", "\"abc\""));
    }
}

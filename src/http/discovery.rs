//! `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §4): serialised once at
//! start-up, served as stored bytes.

use std::{collections::BTreeMap, sync::Arc};

use poem::web::Data;
use poem_openapi::{ApiResponse, OpenApi};

use super::{cached_json::CachedJson, tags::ApiTags};

/// The serialised provider metadata, built when the endpoint is assembled.
#[derive(Clone)]
pub struct DiscoveryDocument(pub Arc<str>);

/// Cache lifetime of the discovery document: it changes only with a redeploy.
const MAX_AGE: &str = "public, max-age=3600";

#[derive(ApiResponse)]
enum DiscoveryResponse {
    /// The OpenID Provider Metadata (Discovery §3).
    #[oai(status = 200)]
    Ok(CachedJson<BTreeMap<String, serde_json::Value>>, #[oai(header = "Cache-Control")] String),
}

pub struct DiscoveryApi;

#[OpenApi(tag = "ApiTags::Discovery")]
impl DiscoveryApi {
    /// OpenID Provider Metadata: every endpoint, scope, algorithm and method ferrid supports.
    ///
    /// OpenID Connect Discovery 1.0 §4: relying parties configure themselves from this document.
    /// It is built from the configuration at start-up, so it never fails and may be cached.
    #[oai(path = "/.well-known/openid-configuration", method = "get", operation_id = "openid_configuration")]
    async fn openid_configuration(&self, document: Data<&DiscoveryDocument>) -> DiscoveryResponse {
        DiscoveryResponse::Ok(CachedJson::new(Arc::clone(&document.0.0)), MAX_AGE.to_owned())
    }
}

//! The groups Swagger shows the API in.

use poem_openapi::Tags;

#[derive(Tags)]
pub enum ApiTags {
    /// OAuth 2.0 / OpenID Connect protocol endpoints.
    OAuth,
    /// OpenID Connect discovery and key publication.
    Discovery,
    /// Health and readiness probes for orchestrators and load balancers.
    Operations,
}

//! The groups Swagger shows the API in.

use poem_openapi::Tags;

#[derive(Tags)]
pub enum ApiTags {
    /// OAuth 2.0 / OpenID Connect protocol endpoints.
    OAuth,
    /// OpenID Connect discovery and key publication.
    Discovery,
    /// The first-party login API: sign in with a password, refresh from an HttpOnly cookie, log out.
    Authentication,
    /// Creating an account and proving the email address.
    Registration,
    /// The signed-in user's own account: profile, two-step verification (TOTP), sessions, applications,
    /// log out everywhere.
    Account,
    /// Getting back into an account: password reset by mail, and which email an account uses.
    Recovery,
    /// Administration, for access tokens with the `ferrid:admin` scope.
    Admin,
    /// Health and readiness probes for orchestrators and load balancers, and metrics for Prometheus.
    Operations,
}

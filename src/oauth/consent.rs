//! Consent: which scopes a user has allowed a client. Remembered per user and client, so the
//! consent page appears again only when a client asks for more (OIDC Core §3.1.2.4).

use super::{Client, scope::Scope};

/// Whether the user must be asked before `client` gets `requested`.
pub fn consent_required(client: &Client, granted: Option<&Scope>, requested: &Scope) -> bool {
    if client.metadata.first_party {
        return false;
    }
    !granted.is_some_and(|granted| requested.is_subset_of(granted))
}

/// Which line of the consent page describes a scope (the page words it in the user's language):
/// the scope itself for the standard ones (OIDC Core §5.4), `admin`, or `other`.
pub fn scope_description(scope: &str) -> &'static str {
    match scope {
        "openid" => "openid",
        "profile" => "profile",
        "email" => "email",
        "phone" => "phone",
        "offline_access" => "offline_access",
        "roles" => "roles",
        super::admin::ADMIN_SCOPE => "admin",
        _ => "other",
    }
}

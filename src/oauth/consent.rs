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

/// A human-readable line for each scope on the consent page.
pub fn describe_scope(scope: &str) -> &'static str {
    match scope {
        "openid" => "Sign you in with your ferrid account",
        "profile" => "See your name, picture and language",
        "email" => "See your email address",
        "phone" => "See your phone number",
        "offline_access" => "Stay signed in when you are not using it",
        "roles" => "See your roles, groups and permissions",
        super::admin::ADMIN_SCOPE => "Administer ferrid on your behalf: other users' sessions and applications",
        _ => "Access the requested data",
    }
}

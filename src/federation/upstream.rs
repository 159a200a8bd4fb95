//! The configuration of one upstream OpenID Connect provider: who it is, how ferrid is
//! registered there, which claims carry the user's address and name, and whether an account is
//! linked by a verified address.

use serde::Deserialize;

use crate::config::{Issuer, Sensitive};

/// Google's issuer (Google Identity: "OpenID Connect", discovery document).
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";

/// The scopes asked of an upstream unless configured: enough to know the address (OIDC Core
/// §5.4).
const DEFAULT_SCOPES: [&str; 3] = ["openid", "email", "profile"];

/// Which upstream claims fill the user's address, its verification and their name.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimMapping {
    pub email: String,
    pub email_verified: String,
    pub name: String,
}

impl Default for ClaimMapping {
    /// OIDC Core §5.1's standard claims.
    fn default() -> Self {
        Self { email: "email".to_owned(), email_verified: "email_verified".to_owned(), name: "name".to_owned() }
    }
}

/// One entry of `FERRID_UPSTREAMS` as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// Lower-case letters, digits, `-` and `_`: the path segment of `/login/{id}`.
    pub id: String,
    /// Shown on the login page ("Continue with {name}").
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub claims: ClaimMapping,
    /// Link a first sign-in to an existing account with the same, upstream-verified address.
    #[serde(default)]
    pub link_by_email: bool,
    /// The application's other client ids at this provider (e.g. its Android app's), accepted
    /// as `azp` and as further `aud` values.
    #[serde(default)]
    pub audiences: Vec<String>,
}

/// A validated upstream provider.
#[derive(Clone, Debug)]
pub struct UpstreamConfig {
    pub id: String,
    pub name: String,
    pub issuer: Issuer,
    pub client_id: String,
    pub client_secret: Sensitive,
    pub scopes: Vec<String>,
    pub claims: ClaimMapping,
    pub link_by_email: bool,
    pub audiences: Vec<String>,
}

impl RawUpstream {
    pub fn validate(self) -> Result<UpstreamConfig, String> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 32
            && self.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !id_ok {
            return Err(format!("provider id {:?} must be 1-32 of a-z, 0-9, - and _", self.id));
        }
        let issuer = Issuer::parse(&self.issuer).map_err(|problem| format!("{}: issuer {problem}", self.id))?;
        if self.client_id.is_empty() || self.client_secret.is_empty() {
            return Err(format!("{}: client_id and client_secret are required", self.id));
        }
        let mut scopes = self.scopes.unwrap_or_else(|| DEFAULT_SCOPES.map(str::to_owned).to_vec());
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".to_owned());
        }
        Ok(UpstreamConfig {
            name: if self.name.trim().is_empty() { self.id.clone() } else { self.name },
            id: self.id,
            issuer,
            client_id: self.client_id,
            client_secret: Sensitive::new(self.client_secret),
            scopes,
            claims: self.claims,
            link_by_email: self.link_by_email,
            audiences: self.audiences,
        })
    }
}

impl UpstreamConfig {
    /// The redirect URI to register at the upstream: `<ferrid issuer>/login/<id>/callback`.
    pub fn redirect_uri(&self, ferrid: &Issuer) -> String {
        format!("{ferrid}/login/{}/callback", self.id)
    }

    /// Whether `aud` (or `azp`) names ferrid's application at this provider: its client id, or
    /// one of the app's other client ids there (e.g. Android's, as `azp`).
    pub fn accepts_audience(&self, aud: &str) -> bool {
        aud == self.client_id || self.audiences.iter().any(|a| a == aud)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(id: &str, issuer: &str) -> RawUpstream {
        RawUpstream {
            id: id.to_owned(),
            name: String::new(),
            issuer: issuer.to_owned(),
            client_id: "c".to_owned(),
            client_secret: "s".to_owned(),
            scopes: Some(vec!["email".to_owned()]),
            claims: ClaimMapping::default(),
            link_by_email: false,
            audiences: vec!["android".to_owned()],
        }
    }

    #[test]
    fn ids_are_path_segments_and_issuers_are_https() {
        assert!(raw("Google", GOOGLE_ISSUER).validate().is_err());
        assert!(raw("a/b", GOOGLE_ISSUER).validate().is_err());
        assert!(raw("corp", "http://idp.example.com").validate().is_err());
        let upstream = raw("corp-sso", "http://127.0.0.1:9000/").validate().unwrap();
        assert_eq!(upstream.name, "corp-sso");
        assert_eq!(upstream.scopes, ["openid", "email"], "openid is always asked for");
        let ferrid = Issuer::parse("https://id.example.com").unwrap();
        assert_eq!(upstream.redirect_uri(&ferrid), "https://id.example.com/login/corp-sso/callback");
        assert!(upstream.accepts_audience("c") && upstream.accepts_audience("android"));
        assert!(!upstream.accepts_audience("someone-else"));
    }
}

//! The claims about the end-user that a grant releases (OIDC Core §5.4): the scopes a client was
//! granted decide which of the user's attributes go into the ID token and the UserInfo response.
//! Pure: the caller loads the user (and, for the `roles` scope, their authorization).

use serde_json::{Map, Value};

use super::scope::Scope;
use crate::accounts::{User, UserAuthorization};

/// The claims ferrid can release, for discovery's `claims_supported` (OIDC Discovery §3).
/// Protocol claims of the tokens themselves (`iss`, `aud`, `exp`, …) are the token issuer's to add.
pub const SUPPORTED_CLAIMS: &[&str] = &[
    "sub",
    "name",
    "picture",
    "locale",
    "updated_at",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "roles",
    "groups",
    "permissions",
];

const OPENID: &[&str] = &["sub"];
/// OIDC Core §5.4 lists more `profile` claims (`given_name`, `birthdate`, …); ferrid keeps only
/// these attributes, so only these are ever released.
const PROFILE: &[&str] = &["name", "picture", "locale", "updated_at"];
const EMAIL: &[&str] = &["email", "email_verified"];
const PHONE: &[&str] = &["phone_number", "phone_number_verified"];
/// ferrid's own scope: the user's roles and groups and the permissions their groups grant.
const ROLES: &[&str] = &["roles", "groups", "permissions"];

/// The claims a scope value requests (OIDC Core §5.4); empty for scopes that carry no claims
/// (`offline_access`) or that ferrid does not know.
pub fn scope_claims(scope_name: &str) -> &'static [&'static str] {
    match scope_name {
        "openid" => OPENID,
        "profile" => PROFILE,
        "email" => EMAIL,
        "phone" => PHONE,
        "roles" => ROLES,
        _ => &[],
    }
}

/// The end-user claims released for `scope` (OIDC Core §5.4).
///
/// `sub` is always present (§2, §5.3.2). A claim without a value is left out rather than sent as
/// `null` or `""` (§5.3.2). The `roles` claims need `authorization`; without it they are left
/// out, with it they are present even when empty (an empty list is an answer: "no roles").
pub fn user_claims(user: &User, authorization: Option<&UserAuthorization>, scope: &Scope) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".to_owned(), Value::String(user.id.to_string()));
    if scope.contains("profile") {
        insert_present(&mut claims, "name", user.name.as_deref());
        insert_present(&mut claims, "picture", user.picture.as_deref());
        insert_present(&mut claims, "locale", user.locale.as_deref());
        // §5.1: "number of seconds from 1970-01-01T00:00:00Z as measured in UTC".
        claims.insert("updated_at".to_owned(), Value::from(user.updated_at.timestamp()));
    }
    if scope.contains("email") {
        claims.insert("email".to_owned(), Value::String(user.email.as_str().to_owned()));
        claims.insert("email_verified".to_owned(), Value::Bool(user.email_verified));
    }
    if scope.contains("phone")
        && let Some(phone) = user.phone.as_deref().filter(|p| !p.is_empty())
    {
        claims.insert("phone_number".to_owned(), Value::String(phone.to_owned()));
        // ferrid does not verify phone numbers yet, so a number is never claimed to be verified
        // (§5.1: `true` means the provider took affirmative steps to check it).
        claims.insert("phone_number_verified".to_owned(), Value::Bool(false));
    }
    if scope.contains("roles")
        && let Some(authorization) = authorization
    {
        claims.insert("roles".to_owned(), names(&authorization.roles));
        claims.insert("groups".to_owned(), names(&authorization.groups));
        claims.insert("permissions".to_owned(), names(&authorization.permissions));
    }
    claims
}

fn insert_present(claims: &mut Map<String, Value>, name: &str, value: Option<&str>) {
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        claims.insert(name.to_owned(), Value::String(value.to_owned()));
    }
}

fn names(values: &[String]) -> Value {
    Value::Array(values.iter().cloned().map(Value::String).collect())
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::accounts::{Email, UserId};

    fn user() -> User {
        User {
            id: UserId(Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001)),
            email: Email::parse("Ann.Lee@Example.com").unwrap(),
            email_verified: true,
            name: Some("Ann Lee".to_owned()),
            phone: Some("+15551234567".to_owned()),
            picture: Some("https://img.example/ann.png".to_owned()),
            locale: Some("en-GB".to_owned()),
            disabled: false,
            has_password: true,
            created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            updated_at: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
        }
    }

    fn bare_user() -> User {
        User { name: None, phone: None, picture: None, locale: Some(String::new()), ..user() }
    }

    fn authorization() -> UserAuthorization {
        UserAuthorization {
            roles: vec!["admin".to_owned()],
            groups: vec!["billing".to_owned(), "ops".to_owned()],
            permissions: vec!["invoices:read".to_owned()],
            group_permissions: [("billing".to_owned(), vec!["invoices:read".to_owned()])].into(),
        }
    }

    fn claims(user: &User, scope: &str) -> Value {
        Value::Object(user_claims(user, Some(&authorization()), &Scope::parse(scope).unwrap()))
    }

    const SUB: &str = "01930000-0000-7000-8000-000000000001";

    #[test]
    fn openid_alone_releases_only_sub_oidc_core_5_4() {
        assert_eq!(claims(&user(), "openid"), json!({ "sub": SUB }));
        assert_eq!(claims(&user(), "openid offline_access"), json!({ "sub": SUB }));
    }

    #[test]
    fn profile_scope_oidc_core_5_4() {
        assert_eq!(
            claims(&user(), "openid profile"),
            json!({
                "sub": SUB,
                "name": "Ann Lee",
                "picture": "https://img.example/ann.png",
                "locale": "en-GB",
                "updated_at": 1_772_366_400,
            })
        );
    }

    #[test]
    fn claims_without_values_are_omitted_oidc_core_5_3_2() {
        assert_eq!(claims(&bare_user(), "openid profile phone"), json!({ "sub": SUB, "updated_at": 1_772_366_400 }));
    }

    #[test]
    fn email_scope_oidc_core_5_4() {
        assert_eq!(
            claims(&user(), "openid email"),
            json!({ "sub": SUB, "email": "Ann.Lee@Example.com", "email_verified": true })
        );
        let unverified = User { email_verified: false, ..user() };
        assert_eq!(claims(&unverified, "openid email")["email_verified"], json!(false));
    }

    #[test]
    fn phone_scope_never_claims_a_verified_number_oidc_core_5_1() {
        assert_eq!(
            claims(&user(), "openid phone"),
            json!({ "sub": SUB, "phone_number": "+15551234567", "phone_number_verified": false })
        );
    }

    #[test]
    fn roles_scope_releases_roles_groups_and_permissions() {
        assert_eq!(
            claims(&user(), "openid roles"),
            json!({
                "sub": SUB,
                "roles": ["admin"],
                "groups": ["billing", "ops"],
                "permissions": ["invoices:read"],
            })
        );
        let empty = user_claims(&user(), Some(&UserAuthorization::default()), &Scope::parse("roles").unwrap());
        assert_eq!(Value::Object(empty), json!({ "sub": SUB, "roles": [], "groups": [], "permissions": [] }));
        let unloaded = user_claims(&user(), None, &Scope::parse("openid roles").unwrap());
        assert_eq!(Value::Object(unloaded), json!({ "sub": SUB }));
    }

    #[test]
    fn ungranted_scopes_release_nothing_oidc_core_5_4() {
        let released = claims(&user(), "openid profile");
        for claim in EMAIL.iter().chain(PHONE).chain(ROLES) {
            assert!(released.get(claim).is_none(), "{claim} released without its scope");
        }
    }

    #[test]
    fn scope_claims_cover_exactly_the_supported_claims() {
        let mut listed: Vec<&str> = ["openid", "profile", "email", "phone", "roles"]
            .into_iter()
            .flat_map(|scope| scope_claims(scope).iter().copied())
            .collect();
        listed.sort_unstable();
        let mut supported = SUPPORTED_CLAIMS.to_vec();
        supported.sort_unstable();
        assert_eq!(listed, supported);
        assert!(scope_claims("offline_access").is_empty());
        assert!(scope_claims("unknown").is_empty());
    }

    #[test]
    fn every_claim_released_is_supported_and_belongs_to_a_granted_scope() {
        let scope = Scope::parse("openid profile email phone roles").unwrap();
        let released = user_claims(&user(), Some(&authorization()), &scope);
        for claim in released.keys() {
            assert!(SUPPORTED_CLAIMS.contains(&claim.as_str()), "{claim}");
            assert!(scope.iter().any(|s| scope_claims(s).contains(&claim.as_str())), "{claim}");
        }
        assert_eq!(released.len(), SUPPORTED_CLAIMS.len());
    }
}

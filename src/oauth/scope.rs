//! The `scope` parameter (RFC 6749 §3.3): a set of scope tokens, parsed once from its
//! space-delimited wire form and compared as a set from then on.

use std::{fmt, str::FromStr};

/// Why a `scope` value was rejected; every case is `invalid_scope` on the wire (RFC 6749 §4.1.2.1, §5.2).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// RFC 6749 §3.3: `scope = scope-token *( SP scope-token )` has at least one token.
    #[error("scope must not be empty")]
    Empty,
    /// Leading, trailing or doubled spaces: the grammar allows exactly one SP between tokens.
    #[error("scope tokens are separated by single spaces")]
    EmptyToken,
    /// A character outside `NQCHAR` (%x21 / %x23-5B / %x5D-7E). The message leaves the token out:
    /// it ends up in `error_description`, which must not reflect request input.
    #[error("scope tokens are printable ASCII without space, quote or backslash")]
    InvalidToken(String),
}

impl ScopeError {
    /// The RFC 6749 error code for every scope error.
    pub fn code(&self) -> &'static str {
        "invalid_scope"
    }
}

/// An ordered, de-duplicated set of scope tokens (RFC 6749 §3.3).
///
/// The RFC says the order of tokens "does not matter", so equality is set equality; the first-seen
/// order is kept only so that `Display` is stable (what the client sent comes back the same way).
#[derive(Clone, Debug, Default)]
pub struct Scope(Vec<String>);

impl Scope {
    /// Parses the space-delimited wire form (RFC 6749 §3.3). Repeated tokens collapse to one;
    /// an empty value or an empty token is an error.
    pub fn parse(value: &str) -> Result<Self, ScopeError> {
        if value.is_empty() {
            return Err(ScopeError::Empty);
        }
        let mut tokens: Vec<String> = Vec::new();
        for token in value.split(' ') {
            if token.is_empty() {
                return Err(ScopeError::EmptyToken);
            }
            if !is_scope_token(token) {
                return Err(ScopeError::InvalidToken(token.to_owned()));
            }
            if !tokens.iter().any(|t| t == token) {
                tokens.push(token.to_owned());
            }
        }
        Ok(Self(tokens))
    }

    /// The scopes a client is allowed (`ClientMetadata::allowed_scopes`). Registration already
    /// checked them against `KNOWN_SCOPES`; anything that is not a scope token is dropped, so the
    /// result can only be narrower than what was stored.
    pub fn from_allowed(allowed: &[String]) -> Self {
        let mut tokens: Vec<String> = Vec::new();
        for token in allowed.iter().filter(|t| is_scope_token(t)) {
            if !tokens.contains(token) {
                tokens.push(token.clone());
            }
        }
        Self(tokens)
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    /// Whether every token here is also in `other` (e.g. the requested scope within the allowed
    /// one, or a refresh request within the original grant, RFC 6749 §6).
    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.0.iter().all(|t| other.contains(t))
    }

    /// The tokens of `self` that are also in `other`, in `self`'s order.
    pub fn intersection(&self, other: &Scope) -> Scope {
        Self(self.0.iter().filter(|t| other.contains(t)).cloned().collect())
    }

    /// `self` without `token`: a narrower grant than requested (RFC 6749 §3.3).
    pub fn without(&self, token: &str) -> Scope {
        Self(self.0.iter().filter(|t| *t != token).cloned().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Only `from_allowed` and `intersection` can produce an empty scope; `parse` never does.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `scope-token = 1*NQCHAR`, `NQCHAR = %x21 / %x23-5B / %x5D-7E` (RFC 6749 Appendix A.4):
/// printable ASCII except space, `"` and `\`.
fn is_scope_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

impl PartialEq for Scope {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.is_subset_of(other)
    }
}

impl Eq for Scope {}

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(value: &str) -> Result<Self, ScopeError> {
        Self::parse(value)
    }
}

/// The wire form: tokens joined by single spaces, in first-seen order.
impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, token) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(token)?;
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a Scope {
    type Item = &'a str;
    type IntoIter = std::iter::Map<std::slice::Iter<'a, String>, fn(&'a String) -> &'a str>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn scope(value: &str) -> Scope {
        Scope::parse(value).unwrap()
    }

    #[test]
    fn parses_space_delimited_tokens_rfc_6749_3_3() {
        let s = scope("openid profile email");
        assert_eq!(s.iter().collect::<Vec<_>>(), ["openid", "profile", "email"]);
        assert!(s.contains("profile"));
        assert!(!s.contains("phone"));
        assert_eq!(s.to_string(), "openid profile email");
    }

    #[test]
    fn duplicates_collapse_in_first_seen_order_rfc_6749_3_3() {
        let s = scope("profile openid profile openid");
        assert_eq!(s.to_string(), "profile openid");
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn order_does_not_matter_for_equality_rfc_6749_3_3() {
        assert_eq!(scope("openid profile"), scope("profile openid"));
        assert_ne!(scope("openid profile"), scope("openid"));
    }

    #[test]
    fn empty_scope_is_invalid_rfc_6749_3_3() {
        assert_eq!(Scope::parse(""), Err(ScopeError::Empty));
        assert_eq!(ScopeError::Empty.code(), "invalid_scope");
    }

    #[test]
    fn empty_tokens_are_invalid_rfc_6749_3_3() {
        for bad in [" ", "openid  profile", " openid", "openid ", "openid\u{20}\u{20}"] {
            assert_eq!(Scope::parse(bad), Err(ScopeError::EmptyToken), "{bad:?} accepted");
        }
    }

    #[test]
    fn characters_outside_nqchar_are_invalid_rfc_6749_a_4() {
        for bad in ["open\"id", "open\\id", "openid\tprofile", "openid\nprofile", "é", "openid\u{7f}", "a\u{0}"] {
            assert!(matches!(Scope::parse(bad), Err(ScopeError::InvalidToken(_))), "{bad:?} accepted");
        }
        // The edges of NQCHAR are allowed.
        assert!(Scope::parse("! # [ ] ~ urn:example:read https://api.example/read").is_ok());
    }

    #[test]
    fn subset_and_intersection_rfc_6749_3_3() {
        let allowed = Scope::from_allowed(&["openid".to_owned(), "profile".to_owned(), "email".to_owned()]);
        assert!(scope("profile openid").is_subset_of(&allowed));
        assert!(!scope("openid phone").is_subset_of(&allowed));
        assert_eq!(scope("phone email openid").intersection(&allowed).to_string(), "email openid");
        assert!(scope("phone").intersection(&allowed).is_empty());
        assert_eq!(scope("openid ferrid:admin email").without("ferrid:admin").to_string(), "openid email");
        assert!(scope("ferrid:admin").without("ferrid:admin").is_empty());
    }

    #[test]
    fn from_allowed_drops_duplicates_and_non_tokens() {
        let allowed = Scope::from_allowed(&["openid".to_owned(), "openid".to_owned(), "a b".to_owned(), String::new()]);
        assert_eq!(allowed.to_string(), "openid");
    }

    fn token() -> impl Strategy<Value = String> {
        "[\\x21\\x23-\\x5b\\x5d-\\x7e]{1,12}"
    }

    proptest! {
        // RFC 6749 §3.3: the wire form of a parsed scope parses back to the same tokens, in order.
        #[test]
        fn display_round_trips_distinct_tokens(tokens in prop::collection::vec(token(), 1..8)) {
            let mut distinct: Vec<String> = Vec::new();
            for t in tokens {
                if !distinct.contains(&t) {
                    distinct.push(t);
                }
            }
            let wire = distinct.join(" ");
            let parsed = Scope::parse(&wire).unwrap();
            prop_assert_eq!(parsed.to_string(), wire);
            prop_assert_eq!(parsed.iter().collect::<Vec<_>>(), distinct.iter().map(String::as_str).collect::<Vec<_>>());
        }

        // With repeats, parse ∘ display is still the identity on parsed scopes.
        #[test]
        fn parse_display_parse_is_stable(tokens in prop::collection::vec(token(), 1..8)) {
            let parsed = Scope::parse(&tokens.join(" ")).unwrap();
            let again = Scope::parse(&parsed.to_string()).unwrap();
            prop_assert_eq!(again.to_string(), parsed.to_string());
        }

        // RFC 6749 §3.3: anything with a character outside NQCHAR or SP is rejected.
        #[test]
        fn rejects_any_non_nqchar(prefix in token(), bad in "[\\x00-\\x1f\\x22\\x5c\\x7f\u{80}-\u{10ffff}]") {
            let value = format!("{prefix}{bad}");
            prop_assert!(Scope::parse(&value).is_err());
        }
    }
}

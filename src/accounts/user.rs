//! The user as the domain sees it, and the validated email address that identifies them.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserId(pub Uuid);

impl UserId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("email address is empty")]
    Empty,
    #[error("email address is longer than 254 characters")]
    TooLong,
    #[error("email address must look like name@domain.example")]
    Malformed,
}

/// An email address as entered (trimmed), with a normalised form that decides uniqueness.
///
/// Normalisation lower-cases the whole address: RFC 5321 lets the local part be case-sensitive,
/// but every large provider treats it case-insensitively and users expect `Ann@x` = `ann@x`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    display: String,
    normalized: String,
}

impl Email {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let display = input.trim();
        if display.is_empty() {
            return Err(EmailError::Empty);
        }
        if display.len() > 254 {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = display.rsplit_once('@').ok_or(EmailError::Malformed)?;
        let domain_ok = !domain.is_empty()
            && !domain.starts_with(['.', '-'])
            && !domain.ends_with(['.', '-'])
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.contains(char::is_whitespace)
            && !local.contains(['@', '<', '>', '(', ')', ',', ';', ':', '\\', '"', '[', ']']);
        if !domain_ok || !local_ok {
            return Err(EmailError::Malformed);
        }
        Ok(Self { display: display.to_owned(), normalized: display.to_lowercase() })
    }

    pub fn as_str(&self) -> &str {
        &self.display
    }

    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub email_verified: bool,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub picture: Option<String>,
    pub locale: Option<String>,
    pub disabled: bool,
    pub has_password: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What is known about a user when their account is created.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub email: Email,
    pub name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_normalised() {
        let email = Email::parse("  Ann.Lee@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "Ann.Lee@Example.COM");
        assert_eq!(email.normalized(), "ann.lee@example.com");
    }

    #[test]
    fn malformed_emails_are_rejected() {
        for bad in ["", "ann", "@example.com", "ann@", "ann@.com", "ann@exa..mple", "a b@x.com", "ann@x_y.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(Email::parse(&format!("{}@x.com", "a".repeat(300))), Err(EmailError::TooLong));
    }
}

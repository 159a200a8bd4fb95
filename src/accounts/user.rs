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

/// A profile field outside its limits (the limits are the column sizes).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field} is longer than {max} characters")]
pub struct ProfileError {
    pub field: &'static str,
    pub max: usize,
}

/// The profile fields an administrator edits, with their stored size limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileField {
    Name,
    Phone,
    Picture,
    Locale,
}

impl ProfileField {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Phone => "phone",
            Self::Picture => "picture",
            Self::Locale => "locale",
        }
    }

    fn max_chars(self) -> usize {
        match self {
            Self::Name => 200,
            Self::Phone => 32,
            Self::Picture => 2048,
            // The longest BCP 47 tag a database column here holds.
            Self::Locale => 35,
        }
    }

    /// Checks a value against the limit; a blank value is no value.
    fn check(self, value: Option<&str>) -> Result<Option<String>, ProfileError> {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            Some(value) if value.chars().count() > self.max_chars() => {
                Err(ProfileError { field: self.as_str(), max: self.max_chars() })
            }
            value => Ok(value.map(str::to_owned)),
        }
    }
}

/// A phone number as compared: without spaces, dashes, dots and parentheses, so
/// `+1 (555) 010-0000` and `+15550100000` are one number. `None` unless what is left is an
/// optional `+` and 4 to 20 digits.
pub fn normalize_phone(input: &str) -> Option<String> {
    let stripped: String = input.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
    let digits = stripped.strip_prefix('+').unwrap_or(&stripped);
    let plausible = (4..=20).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit());
    plausible.then_some(stripped)
}

impl NewUser {
    /// A new account's email and (trimmed, bounded) name.
    pub fn new(email: Email, name: Option<&str>) -> Result<Self, ProfileError> {
        Ok(Self { email, name: ProfileField::Name.check(name)? })
    }
}

/// A page of users: ordered by id, after `after`, optionally filtered.
#[derive(Clone, Debug, Default)]
pub struct UserQuery {
    /// A substring of the email or the name, matched case-insensitively and literally.
    pub q: Option<String>,
    pub disabled: Option<bool>,
    pub after: Option<UserId>,
    pub limit: u64,
}

/// An administrator's edit of a profile: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct UserChanges {
    pub name: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub picture: Option<Option<String>>,
    pub locale: Option<Option<String>>,
    pub email: Option<Email>,
    pub email_verified: Option<bool>,
}

impl UserChanges {
    /// Sets a profile field; `None` or a blank value clears it.
    pub fn set(&mut self, field: ProfileField, value: Option<&str>) -> Result<(), ProfileError> {
        let value = Some(field.check(value)?);
        match field {
            ProfileField::Name => self.name = value,
            ProfileField::Phone => self.phone = value,
            ProfileField::Picture => self.picture = value,
            ProfileField::Locale => self.locale = value,
        }
        Ok(())
    }
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
    fn profile_values_are_trimmed_bounded_and_blank_means_none() {
        let mut changes = UserChanges::default();
        changes.set(ProfileField::Name, Some("  Ann  ")).unwrap();
        changes.set(ProfileField::Phone, Some(" ")).unwrap();
        assert_eq!(changes.name, Some(Some("Ann".to_owned())));
        assert_eq!(changes.phone, Some(None));
        assert_eq!(
            changes.set(ProfileField::Locale, Some(&"x".repeat(36))),
            Err(ProfileError { field: "locale", max: 35 })
        );
        assert!(NewUser::new(Email::parse("a@x.com").unwrap(), Some(&"é".repeat(200))).is_ok());
        assert!(NewUser::new(Email::parse("a@x.com").unwrap(), Some(&"é".repeat(201))).is_err());
    }

    #[test]
    fn phones_lose_their_punctuation_and_must_be_digits() {
        assert_eq!(normalize_phone(" +1 (555) 010-00.00 ").as_deref(), Some("+15550100000"));
        assert_eq!(normalize_phone("0555 123 456").as_deref(), Some("0555123456"));
        for bad in ["", "12", "+", "555-CALL-NOW", "1".repeat(21).as_str(), "++15550100"] {
            assert_eq!(normalize_phone(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn malformed_emails_are_rejected() {
        for bad in ["", "ann", "@example.com", "ann@", "ann@.com", "ann@exa..mple", "a b@x.com", "ann@x_y.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(Email::parse(&format!("{}@x.com", "a".repeat(300))), Err(EmailError::TooLong));
    }
}

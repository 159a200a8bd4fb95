//! What a new password must be (issue 7, after NIST SP 800-63B §5.1.1.2): long enough, not one of
//! the passwords attackers try first, and not built from the account's own email address.
//! Checked wherever a user chooses a password: registration, reset and change.

use std::{collections::HashSet, sync::LazyLock};

use super::{Email, Password};

/// The minimum length, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// The bundled list, lower case; see the file's header for its source.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common_passwords.txt").lines().filter(|line| !line.is_empty() && !line.starts_with('#')).collect()
});

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    #[error("the password must be at least {MIN_PASSWORD_CHARS} characters long")]
    TooShort,
    #[error("the password is too common; choose one that is harder to guess")]
    Common,
    #[error("the password must not contain your email address")]
    ContainsEmail,
}

/// Checks a password a user wants for the account with address `email`.
pub fn check_new_password(password: &Password, email: &Email) -> Result<(), PasswordPolicyError> {
    let password = password.expose();
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordPolicyError::TooShort);
    }
    let lowered = password.to_lowercase();
    if COMMON_PASSWORDS.contains(lowered.as_str()) {
        return Err(PasswordPolicyError::Common);
    }
    let local_part = email.normalized().rsplit_once('@').map_or("", |(local, _)| local);
    // A one- or two-letter local part would forbid half the dictionary; three is the floor.
    if local_part.chars().count() >= 3 && lowered.contains(local_part) {
        return Err(PasswordPolicyError::ContainsEmail);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(password: &str, email: &str) -> Result<(), PasswordPolicyError> {
        check_new_password(&Password::new(password), &Email::parse(email).unwrap())
    }

    #[test]
    fn long_uncommon_passwords_pass() {
        assert_eq!(check("violet-harbour-42", "ann@example.com"), Ok(()));
        assert_eq!(check("ünïcödé-pässwörd", "ann@example.com"), Ok(()));
    }

    #[test]
    fn short_passwords_fail_counting_characters_not_bytes() {
        assert_eq!(check("short-pw1", "ann@example.com"), Err(PasswordPolicyError::TooShort));
        assert_eq!(check("ééééééééé", "ann@example.com"), Err(PasswordPolicyError::TooShort));
    }

    #[test]
    fn common_passwords_fail_in_any_case() {
        assert!(COMMON_PASSWORDS.len() > 1000);
        assert_eq!(check("password123", "ann@example.com"), Err(PasswordPolicyError::Common));
        assert_eq!(check("QwertyUiop", "ann@example.com"), Err(PasswordPolicyError::Common));
        assert_eq!(check("1234567890", "ann@example.com"), Err(PasswordPolicyError::Common));
    }

    #[test]
    fn passwords_containing_the_local_part_fail() {
        assert_eq!(check("Margaret-2026!", "margaret@example.com"), Err(PasswordPolicyError::ContainsEmail));
        assert_eq!(check("xx-margaret-xx", "Margaret@example.com"), Err(PasswordPolicyError::ContainsEmail));
        // A tiny local part is not a meaningful hint.
        assert_eq!(check("jo-is-my-name-42", "jo@example.com"), Ok(()));
    }
}

//! STAND-IN until the lead's "Accounts foundations" land on main (same signature); the merge
//! takes main's version of this file.

use super::{Email, Password};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    #[error("the password must be at least 10 characters long")]
    TooShort,
    #[error("the password must not contain your email address")]
    ContainsEmail,
}

pub fn check_new_password(password: &Password, email: &Email) -> Result<(), PasswordPolicyError> {
    let value = password.expose();
    if value.chars().count() < 10 {
        return Err(PasswordPolicyError::TooShort);
    }
    let local = email.normalized().split('@').next().unwrap_or_default();
    if local.chars().count() >= 3 && value.to_lowercase().contains(local) {
        return Err(PasswordPolicyError::ContainsEmail);
    }
    Ok(())
}

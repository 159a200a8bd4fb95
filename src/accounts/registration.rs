//! Self-service registration and email verification (issue 7 items 1 and 2).
//!
//! Registering answers the same whether the address is new or taken (DESIGN §7.2): both paths
//! validate, hash the password (argon2id, the slow part), try the insert and queue one mail. A new
//! account starts unverified and gets a code and a link; the owner of a taken address gets a
//! "someone tried to register" notice instead, so they learn of it and the caller learns nothing.

use std::time::Duration;

use url::Url;

use super::{
    AccountError, CodeClaim, CodePurpose, Email, EmailError, NewUser, Password, PasswordPolicyError, ProfileError,
    User, check_new_password,
};
use crate::{
    app::AppState,
    audit::{Actor, AuditEvent, kinds},
    mail::{Mail, MailError, issuer_link, mailbox},
    store::StoreError,
};

/// At most one verification mail per address per minute, whoever asks.
const RESEND_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error(transparent)]
    InvalidEmail(#[from] EmailError),
    #[error(transparent)]
    InvalidProfile(#[from] ProfileError),
    #[error(transparent)]
    WeakPassword(#[from] PasswordPolicyError),
    /// A store or the outbox failed; the caller answers 503.
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for RegistrationError {
    fn from(error: StoreError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

impl From<MailError> for RegistrationError {
    fn from(error: MailError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

impl From<AccountError> for RegistrationError {
    fn from(error: AccountError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

/// Where a mail sends people to sign in: the first-party app if configured, else ferrid.
fn sign_in_link(state: &AppState) -> Result<Url, MailError> {
    let base = state.config.first_party_origins.first().map_or(state.config.issuer.as_str(), String::as_str);
    Url::parse(base).map_err(|e| MailError::Build(format!("link: {e}")))
}

/// Registers `email` with `password`, or tells the address's owner that someone tried.
pub async fn register(
    state: &AppState,
    email: &str,
    password: Password,
    name: Option<&str>,
    actor: &Actor,
) -> Result<(), RegistrationError> {
    let email = Email::parse(email)?;
    let new = NewUser::new(email.clone(), name)?;
    check_new_password(&password, &email)?;
    let hash = state.accounts.hash_password(password).await?;
    match state.accounts.insert_unverified(&new, &hash).await {
        Ok(user) => {
            send_verification(state, &user).await?;
            state.audit.record(AuditEvent::new(kinds::ACCOUNT_REGISTER, actor).user(user.id)).await;
        }
        Err(AccountError::EmailTaken) => {
            let owner = state.accounts.find_by_email(&email).await?;
            if state.email_codes.may_send(CodePurpose::VerifyEmail, email.normalized(), RESEND_EVERY).await? {
                let reset = issuer_link(&state.config.issuer, "/password/forgot", None)?;
                let to = mailbox(owner.name.as_deref(), &owner.email)?;
                state.outbox.enqueue(Mail::registration_attempt(to, &sign_in_link(state)?, &reset)?).await?;
            }
            state.audit.record(AuditEvent::new(kinds::ACCOUNT_REGISTER_EXISTING, actor).user(owner.id)).await;
        }
        Err(error) => return Err(error.into()),
    }
    Ok(())
}

/// Mails `user` a fresh code and link for their current address.
async fn send_verification(state: &AppState, user: &User) -> Result<(), RegistrationError> {
    let subject = user.email.normalized();
    let issued = state.email_codes.issue(CodePurpose::VerifyEmail, subject, user.id, &user.email).await?;
    let link = issuer_link(&state.config.issuer, "/verify-email", Some(&issued.link_token))?;
    let to = mailbox(user.name.as_deref(), &user.email)?;
    state.outbox.enqueue(Mail::verify_email(to, &issued.code, &link, issued.valid_minutes)?).await?;
    Ok(())
}

/// Sends a new code to an unverified account's address — at most once a minute, and silently
/// nothing for unknown or verified addresses, so the answer is always the same.
pub async fn resend_verification(state: &AppState, email: &str) -> Result<(), RegistrationError> {
    let Ok(email) = Email::parse(email) else { return Ok(()) };
    let user = match state.accounts.find_by_email(&email).await {
        Ok(user) if !user.email_verified && !user.disabled => user,
        Ok(_) | Err(AccountError::NotFound) => return Ok(()),
        Err(error) => return Err(error.into()),
    };
    if state.email_codes.may_send(CodePurpose::VerifyEmail, email.normalized(), RESEND_EVERY).await? {
        send_verification(state, &user).await?;
    }
    Ok(())
}

/// How a verification attempt ended; a wrong, expired, used or unknown code are one answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    Yes,
    InvalidCode,
}

/// Redeems the code typed for `email`.
pub async fn verify_with_code(
    state: &AppState,
    email: &str,
    code: &str,
    actor: &Actor,
) -> Result<Verified, RegistrationError> {
    let Ok(email) = Email::parse(email) else { return Ok(Verified::InvalidCode) };
    let claim = state.email_codes.redeem_code(CodePurpose::VerifyEmail, email.normalized(), code).await?;
    finish_verification(state, claim, actor).await
}

/// Redeems the mailed link's token.
pub async fn verify_with_link(state: &AppState, token: &str, actor: &Actor) -> Result<Verified, RegistrationError> {
    let claim = state.email_codes.redeem_link(CodePurpose::VerifyEmail, token).await?;
    finish_verification(state, claim, actor).await
}

async fn finish_verification(
    state: &AppState,
    claim: Option<CodeClaim>,
    actor: &Actor,
) -> Result<Verified, RegistrationError> {
    let Some(claim) = claim else { return Ok(Verified::InvalidCode) };
    if !state.accounts.mark_email_verified(claim.user, &claim.email).await? {
        return Ok(Verified::InvalidCode);
    }
    state.audit.record(AuditEvent::new(kinds::ACCOUNT_EMAIL_VERIFIED, actor).user(claim.user)).await;
    Ok(Verified::Yes)
}

//! Password reset by mail (issue 7 item 5): a request mails a link carrying a 256-bit random
//! token, of which only the digest is kept in the short-lived store for ten minutes; confirming
//! with the token and a new password sets it and signs the user out everywhere.
//!
//! The request answers the same for every address (DESIGN §7.2): the lookup, the throttle and
//! the mail happen on a background task, so neither the answer nor its timing depends on whether
//! the account exists. A token is redeemed at most once, also under concurrency (`take`,
//! DESIGN §7.1), and a rejected new password leaves it usable.

use std::time::Duration;

use keys::OpaqueSecret;
use serde_json::json;

use super::sign_ins::log_out_everywhere;
use crate::{
    accounts::{AccountError, Email, Password, PasswordPolicyError, User, UserId, check_new_password},
    app::AppState,
    audit::{Actor, AuditEvent, kinds},
    mail::{Mail, MailError, issuer_link, mailbox},
    oauth::session::RequestOrigin,
    store::StoreError,
};

/// How long a reset link works.
pub const RESET_VALID_MINUTES: u32 = 10;
const RESET_TTL: Duration = Duration::from_secs(RESET_VALID_MINUTES as u64 * 60);
/// At most one reset mail per account in this window; further requests are dropped silently.
const MAIL_THROTTLE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// Unknown, expired or already used; deliberately one answer.
    #[error("the reset link is invalid or has expired")]
    InvalidToken,
    #[error(transparent)]
    WeakPassword(#[from] PasswordPolicyError),
    /// A store or the outbox failed.
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for ResetError {
    fn from(error: StoreError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

impl From<MailError> for ResetError {
    fn from(error: MailError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

impl From<AccountError> for ResetError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::NotFound => Self::InvalidToken,
            other => Self::Unavailable(other.to_string()),
        }
    }
}

fn record_key(digest: &str) -> String {
    format!("password-reset:{digest}")
}

/// The digest of the user's latest link, so a new link replaces the previous one.
fn latest_key(user: UserId) -> String {
    format!("password-reset-latest:{user}")
}

fn throttle_key(user: UserId) -> String {
    format!("password-reset-mailed:{user}")
}

/// Starts a reset for `email` if it names an enabled account. Returns at once; the work runs in
/// the background so that the caller learns nothing (DESIGN §7.2).
pub fn request(state: &AppState, email: &str, origin: RequestOrigin) {
    let Ok(email) = Email::parse(email) else { return };
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(error) = mail_reset_link(&state, &email, origin).await {
            tracing::error!(%error, "password reset request failed");
        }
    });
}

async fn mail_reset_link(state: &AppState, email: &Email, origin: RequestOrigin) -> Result<(), ResetError> {
    let user = match state.accounts.find_by_email(email).await {
        Ok(user) if !user.disabled => user,
        Ok(_) | Err(AccountError::NotFound) => return Ok(()),
        Err(error) => return Err(error.into()),
    };
    let store = state.short_lived.as_ref();
    if !store.put_if_absent(&throttle_key(user.id), b"1", MAIL_THROTTLE).await? {
        tracing::info!(user = %user.id, "password reset mail throttled");
        return Ok(());
    }
    let token = OpaqueSecret::generate();
    let digest = token.digest();
    if let Some(previous) = store.get(&latest_key(user.id)).await?
        && let Ok(previous) = String::from_utf8(previous)
    {
        store.delete(&record_key(&previous)).await?;
    }
    // The issue time goes with the user id: expiry is decided against the clock (testable with
    // a fixed one); the store's TTL only clears the record away.
    let record = format!("{} {}", user.id, state.clock.now().timestamp());
    store.put(&record_key(digest.as_str()), record.as_bytes(), RESET_TTL).await?;
    store.put(&latest_key(user.id), digest.as_str().as_bytes(), RESET_TTL).await?;
    let link = issuer_link(&state.config.issuer, "/password/reset", Some(token.expose()))?;
    state
        .outbox
        .enqueue(Mail::password_reset(mailbox(user.name.as_deref(), &user.email)?, &link, RESET_VALID_MINUTES)?)
        .await?;
    let actor = Actor { user: Some(user.id.to_string()), client_id: None, origin };
    state.audit.record(AuditEvent::new(kinds::PASSWORD_RESET_REQUESTED, &actor).user(user.id)).await;
    Ok(())
}

/// The user a live reset token belongs to, without using it up (to show the form).
pub async fn peek(state: &AppState, token: &str) -> Result<User, ResetError> {
    let digest = OpaqueSecret::from_presented(token).digest();
    let stored = state.short_lived.get(&record_key(digest.as_str())).await?.ok_or(ResetError::InvalidToken)?;
    let (id, issued_at) = std::str::from_utf8(&stored)
        .ok()
        .and_then(|record| record.split_once(' '))
        .and_then(|(id, issued_at)| Some((UserId(uuid::Uuid::parse_str(id).ok()?), issued_at.parse::<i64>().ok()?)))
        .ok_or(ResetError::InvalidToken)?;
    let age = state.clock.now().timestamp().saturating_sub(issued_at);
    if age >= RESET_TTL.as_secs() as i64 {
        return Err(ResetError::InvalidToken);
    }
    let user = state.accounts.find(id).await?;
    if user.disabled { Err(ResetError::InvalidToken) } else { Ok(user) }
}

/// Sets a new password with a reset token: checked against the policy before the token is
/// used up, then the token is taken (of concurrent confirmations exactly one wins), the
/// password set and every session and refresh family of the user ended.
pub async fn confirm(
    state: &AppState,
    token: &str,
    password: Password,
    origin: RequestOrigin,
) -> Result<UserId, ResetError> {
    let user = peek(state, token).await?;
    check_new_password(&password, &user.email)?;
    let digest = OpaqueSecret::from_presented(token).digest();
    let store = state.short_lived.as_ref();
    if store.take(&record_key(digest.as_str())).await?.is_none() {
        return Err(ResetError::InvalidToken);
    }
    store.delete(&latest_key(user.id)).await?;
    state.accounts.set_password(user.id, password).await?;
    // The owner proved control of the address: failed sign-ins no longer hold it back (the
    // password is set either way, so a failure here is logged rather than reported).
    if let Err(error) = state.accounts.clear_sign_in_delays(&user.email).await {
        tracing::warn!(%error, user = %user.id, "could not clear the sign-in delays after a reset");
    }
    let ended = log_out_everywhere(state, user.id).await?;
    notify_password_changed(state, &user).await;
    let actor = Actor { user: Some(user.id.to_string()), client_id: None, origin };
    let details = json!({ "sessions_ended": ended.sessions, "applications_revoked": ended.applications });
    state.audit.record(AuditEvent::new(kinds::PASSWORD_RESET, &actor).user(user.id).details(details)).await;
    Ok(user.id)
}

/// Tells the owner their password changed, with a way back in if it was not them. The password
/// is already changed, so a failure to queue the notice is logged rather than reported.
pub async fn notify_password_changed(state: &AppState, user: &User) {
    let queued = async {
        let link = issuer_link(&state.config.issuer, "/password/forgot", None)?;
        state.outbox.enqueue(Mail::password_changed(mailbox(user.name.as_deref(), &user.email)?, &link)?).await
    };
    if let Err(error) = queued.await {
        tracing::error!(%error, user = %user.id, "could not queue the password-changed notice");
    }
}

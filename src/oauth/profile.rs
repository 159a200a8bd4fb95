//! The signed-in user's own account (issue 7 item 4): their profile with roles, groups and
//! permissions, edits to it, a change of address proved by a code mailed to the new one, and a
//! change of password that signs out every other session.

use serde_json::json;

use super::{
    password_reset::notify_password_changed,
    sign_ins::{LoggedOutEverywhere, log_out_everywhere, log_out_everywhere_except},
};
use crate::{
    accounts::{
        AccessControlError, AccountError, CodePurpose, Email, EmailError, Password, PasswordPolicyError, ProfileEdit,
        ProfileEditError, User, UserAuthorization, UserChanges, check_new_password,
    },
    app::AppState,
    audit::{Actor, AuditEvent, kinds},
    mail::{Mail, MailError, issuer_link, mailbox},
    store::StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum ProfileFlowError {
    #[error(transparent)]
    Invalid(#[from] ProfileEditError),
    #[error(transparent)]
    InvalidEmail(#[from] EmailError),
    #[error("this is already the account's address")]
    SameEmail,
    /// The current password is wrong.
    #[error("the current password is wrong")]
    WrongPassword,
    #[error(transparent)]
    WeakPassword(#[from] PasswordPolicyError),
    /// No live code matches (wrong, expired, used up or never issued).
    #[error("the code is wrong or has expired")]
    InvalidCode,
    /// Someone else took the address between the code and its use.
    #[error("the address now belongs to another account")]
    EmailTaken,
    #[error("{0}")]
    Unavailable(String),
}

impl From<AccountError> for ProfileFlowError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::InvalidCredentials | AccountError::SignInDelayed => Self::WrongPassword,
            AccountError::EmailTaken => Self::EmailTaken,
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl From<StoreError> for ProfileFlowError {
    fn from(error: StoreError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

impl From<MailError> for ProfileFlowError {
    fn from(error: MailError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

impl From<AccessControlError> for ProfileFlowError {
    fn from(error: AccessControlError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

/// The user with what they may do: roles, groups and their permissions.
pub async fn profile(state: &AppState, user: User) -> Result<(User, UserAuthorization), ProfileFlowError> {
    let authorization = state.access_control.authorization_of(user.id).await?;
    Ok((user, authorization))
}

/// Applies the user's own edit of their name, phone, picture or locale.
pub async fn update(state: &AppState, user: &User, edit: ProfileEdit, actor: &Actor) -> Result<User, ProfileFlowError> {
    let changes = edit.into_changes()?;
    let fields: Vec<&str> = [
        ("name", changes.name.is_some()),
        ("phone", changes.phone.is_some()),
        ("picture", changes.picture.is_some()),
        ("locale", changes.locale.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect();
    let updated = state.accounts.update_user(user.id, &changes).await?;
    let event = AuditEvent::new(kinds::PROFILE_UPDATE, actor).user(user.id).details(json!({ "fields": fields }));
    state.audit.record(event).await;
    Ok(updated)
}

/// Mails a code (and link) to `new_email` once the current password is confirmed. An address
/// that belongs to another account gets nothing, and the caller the same answer (DESIGN §7.2):
/// without a code, the change can never be completed.
pub async fn request_email_change(
    state: &AppState,
    user: &User,
    new_email: &str,
    current_password: Password,
    actor: &Actor,
) -> Result<(), ProfileFlowError> {
    let new_email = Email::parse(new_email)?;
    check_current_password(state, user, current_password).await?;
    if new_email.normalized() == user.email.normalized() {
        return Err(ProfileFlowError::SameEmail);
    }
    match state.accounts.find_by_email(&new_email).await {
        Err(AccountError::NotFound) => {}
        Ok(_) => return Ok(()),
        Err(error) => return Err(error.into()),
    }
    let issued = state.email_codes.issue(CodePurpose::ChangeEmail, &user.id.to_string(), user.id, &new_email).await?;
    let link = issuer_link(&state.config.issuer, "/account/email/confirm", Some(&issued.link_token))?;
    let to = mailbox(user.name.as_deref(), &new_email)?;
    state.outbox.enqueue(Mail::verify_email(to, &issued.code, &link, issued.valid_minutes)?).await?;
    state.audit.record(AuditEvent::new(kinds::EMAIL_CHANGE_REQUESTED, actor).user(user.id)).await;
    Ok(())
}

/// Completes the change with the mailed code: the account takes the new address, verified.
pub async fn confirm_email_change(
    state: &AppState,
    user: &User,
    code: &str,
    actor: &Actor,
) -> Result<User, ProfileFlowError> {
    let claim = state
        .email_codes
        .redeem_code(CodePurpose::ChangeEmail, &user.id.to_string(), code)
        .await?
        .ok_or(ProfileFlowError::InvalidCode)?;
    apply_email_change(state, claim.user, claim.email, actor).await
}

/// Completes the change with the mailed link's token.
pub async fn confirm_email_change_link(state: &AppState, token: &str, actor: &Actor) -> Result<User, ProfileFlowError> {
    let claim =
        state.email_codes.redeem_link(CodePurpose::ChangeEmail, token).await?.ok_or(ProfileFlowError::InvalidCode)?;
    apply_email_change(state, claim.user, claim.email, actor).await
}

async fn apply_email_change(
    state: &AppState,
    user: crate::accounts::UserId,
    email: Email,
    actor: &Actor,
) -> Result<User, ProfileFlowError> {
    let changes = UserChanges { email: Some(email), email_verified: Some(true), ..UserChanges::default() };
    let updated = state.accounts.update_user(user, &changes).await?;
    state.audit.record(AuditEvent::new(kinds::EMAIL_CHANGE, actor).user(user)).await;
    Ok(updated)
}

/// Replaces the password after checking the current one, then ends every other session and
/// refresh family: whoever knew the old password is out, the device that changed it stays.
pub async fn change_password(
    state: &AppState,
    user: &User,
    keep_sid: Option<&str>,
    current: Password,
    new: Password,
    actor: &Actor,
) -> Result<LoggedOutEverywhere, ProfileFlowError> {
    check_current_password(state, user, current).await?;
    check_new_password(&new, &user.email)?;
    state.accounts.set_password(user.id, new).await?;
    let ended = match keep_sid {
        Some(sid) => log_out_everywhere_except(state, user.id, sid).await?,
        None => log_out_everywhere(state, user.id).await?,
    };
    notify_password_changed(state, user).await;
    let details = json!({ "sessions_ended": ended.sessions, "applications_revoked": ended.applications });
    state.audit.record(AuditEvent::new(kinds::PASSWORD_CHANGE, actor).user(user.id).details(details)).await;
    Ok(ended)
}

/// The signed-in user proves they know the password before changing what it protects. An
/// unverified address (refused at login where the configuration says so) does not matter here.
async fn check_current_password(state: &AppState, user: &User, password: Password) -> Result<(), ProfileFlowError> {
    match state.accounts.authenticate(user.email.as_str(), password).await {
        Ok(_) | Err(AccountError::EmailNotVerified) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

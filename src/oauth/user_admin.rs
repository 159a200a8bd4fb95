//! Administrative actions on a user that reach past the account row: disabling, deleting and
//! resetting a password sign the user out everywhere at once (sessions, refresh families and the
//! access tokens issued from them, with back-channel logout), and none of them may leave ferrid
//! without an enabled user holding the `admin` role.

use super::{
    admin::ADMIN_ROLE,
    sign_ins::{LoggedOutEverywhere, log_out_everywhere},
};
use crate::{
    accounts::{AccessControlError, AccessKind, AccessName, AccountError, Password, PasswordError, RoleName, UserId},
    app::AppState,
    store::StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum UserAdminError {
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The change would leave no enabled user with the `admin` role: nobody could sign in to
    /// undo it.
    #[error("this is the last enabled administrator")]
    LastAdministrator,
    #[error(transparent)]
    Password(PasswordError),
    /// A role, group or permission name that is taken.
    #[error("the {0} is already taken")]
    NameTaken(&'static str),
    #[error("store failure: {0}")]
    Store(String),
}

impl From<AccountError> for UserAdminError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::NotFound => Self::NotFound("user"),
            AccountError::Password(error) => Self::Password(error),
            other => Self::Store(other.to_string()),
        }
    }
}

impl From<AccessControlError> for UserAdminError {
    fn from(error: AccessControlError) -> Self {
        match error {
            AccessControlError::NotFound(what) => Self::NotFound(what),
            AccessControlError::NameTaken(what) => Self::NameTaken(what),
            other => Self::Store(other.to_string()),
        }
    }
}

impl From<StoreError> for UserAdminError {
    fn from(error: StoreError) -> Self {
        Self::Store(error.to_string())
    }
}

/// Disables the account and ends everything it is signed in to.
pub async fn disable_user(state: &AppState, user: UserId) -> Result<LoggedOutEverywhere, UserAdminError> {
    refuse_last_administrator(state, user).await?;
    state.accounts.set_disabled(user, true).await?;
    Ok(log_out_everywhere(state, user).await?)
}

/// Deletes the account after signing it out everywhere, so relying parties hear of it (their
/// back-channel logout tokens name sessions that the delete then removes).
pub async fn delete_user(state: &AppState, user: UserId) -> Result<(), UserAdminError> {
    state.accounts.find(user).await?;
    refuse_last_administrator(state, user).await?;
    log_out_everywhere(state, user).await?;
    Ok(state.accounts.delete_user(user).await?)
}

/// Sets a new password and ends every sign-in made with the old one.
pub async fn reset_password(
    state: &AppState,
    user: UserId,
    password: Password,
) -> Result<LoggedOutEverywhere, UserAdminError> {
    state.accounts.set_password(user, password).await?;
    Ok(log_out_everywhere(state, user).await?)
}

/// Takes a role from the user; returns whether they had it.
pub async fn remove_role(state: &AppState, user: UserId, role: &RoleName) -> Result<bool, UserAdminError> {
    state.accounts.find(user).await?;
    if role.as_str() == ADMIN_ROLE {
        refuse_last_administrator(state, user).await?;
    }
    Ok(state.access_control.remove_role(user, role).await?)
}

/// Refuses to rename or delete the `admin` role while an enabled user holds it: that would take
/// administration from all of them at once.
pub async fn protect_admin_role<N: AccessName>(state: &AppState, name: &N) -> Result<(), UserAdminError> {
    if N::KIND != AccessKind::Role || name.as_str() != ADMIN_ROLE {
        return Ok(());
    }
    let role = admin_role()?;
    if state.access_control.enabled_holders(&role, 1).await?.is_empty() {
        Ok(())
    } else {
        Err(UserAdminError::LastAdministrator)
    }
}

fn admin_role() -> Result<RoleName, UserAdminError> {
    RoleName::parse(ADMIN_ROLE).map_err(|_| UserAdminError::NotFound("role"))
}

/// Refuses when `user` is the only enabled holder of the `admin` role. Two administrators
/// disabling each other at the same instant can still both pass; the CLI
/// (`ferrid user create --admin`) recovers from that.
async fn refuse_last_administrator(state: &AppState, user: UserId) -> Result<(), UserAdminError> {
    let role = admin_role()?;
    let holders = state.access_control.enabled_holders(&role, 2).await?;
    if holders == [user] {
        return Err(UserAdminError::LastAdministrator);
    }
    Ok(())
}

//! Who may administer ferrid: the `ferrid:admin` scope, who may be granted it, and checking the
//! bearer token of an admin API request (RFC 6750 §3.1). A user's token gets the scope only
//! when the user holds the `admin` role; a service client's only when its `allowed_scopes` name
//! it (enforced for every grant by the client's allowed scopes).

use super::session::RequestOrigin;
use super::{
    ClientId, RegistryError,
    access_token::{AccessTokenError, verify_bearer_access_token},
    scope::Scope,
};
use crate::{
    accounts::{AccessControl, AccessControlError, AccountError, NewUser, Password, RoleName, UserId},
    app::AppState,
    audit::{Actor, AuditEvent, kinds},
};

/// The scope ferrid's own admin API demands.
pub const ADMIN_SCOPE: &str = "ferrid:admin";
/// The role a user must hold to be granted [`ADMIN_SCOPE`].
pub const ADMIN_ROLE: &str = "admin";

/// RFC 6749 §3.3 lets the authorization server grant less than was asked: `ferrid:admin` is
/// dropped for a user without the `admin` role (and the token response then lists what was
/// granted). The role is read only when the scope is asked for.
pub async fn grantable_scope(
    access: &AccessControl,
    user: UserId,
    requested: &Scope,
) -> Result<Scope, AccessControlError> {
    if !requested.contains(ADMIN_SCOPE) || holds_admin_role(access, user).await? {
        return Ok(requested.clone());
    }
    Ok(requested.without(ADMIN_SCOPE))
}

/// Gives `user` the `admin` role, creating the role on first use.
pub async fn make_administrator(access: &AccessControl, user: UserId) -> Result<(), AccessControlError> {
    let role = RoleName::parse(ADMIN_ROLE).map_err(|_| AccessControlError::NotFound("role"))?;
    match access.create_role(&role, Some("Administers ferrid (the ferrid:admin scope)")).await {
        Ok(_) | Err(AccessControlError::NameTaken(_)) => {}
        Err(error) => return Err(error),
    }
    access.assign_role(user, &role).await
}

/// DESIGN §4 bootstrap: on a database without users, the configured first administrator
/// (`FERRID_ADMIN_EMAIL` + `FERRID_ADMIN_PASSWORD`) is created with the `admin` role. Once any
/// user exists the settings are ignored, so a restart never resets a password.
pub async fn bootstrap_administrator(state: &AppState) -> anyhow::Result<()> {
    let Some(bootstrap) = &state.config.bootstrap_admin else { return Ok(()) };
    if !state.accounts.list_users(0, 1).await?.is_empty() {
        return Ok(());
    }
    let new = NewUser { email: bootstrap.email.clone(), name: None };
    let user = match state.accounts.create_user(new, Some(Password::new(bootstrap.password.expose()))).await {
        Ok(user) => user,
        // Another node starting on the same empty database got there first.
        Err(AccountError::EmailTaken) => return Ok(()),
        Err(error) => return Err(error.into()),
    };
    make_administrator(&state.access_control, user.id).await?;
    state.audit.record(AuditEvent::new(kinds::BOOTSTRAP_ADMIN, &Actor::system()).user(user.id)).await;
    tracing::info!(user_id = %user.id, "first administrator created from FERRID_ADMIN_EMAIL");
    Ok(())
}

async fn holds_admin_role(access: &AccessControl, user: UserId) -> Result<bool, AccessControlError> {
    Ok(access.authorization_of(user).await?.roles.iter().any(|role| role == ADMIN_ROLE))
}

/// The caller of an admin endpoint, for the audit log: the token's subject (a user id, or the
/// client id of a client_credentials token) and the client it was issued to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Administrator {
    pub subject: String,
    pub client_id: String,
}

impl Administrator {
    /// The audit log's view: a person when the token was issued to a user, else the client.
    pub fn actor(&self, origin: RequestOrigin) -> Actor {
        let user = (self.subject != self.client_id).then(|| self.subject.clone());
        Actor { user, client_id: Some(self.client_id.clone()), origin }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BearerAuthError {
    /// RFC 6750 §3.1 `invalid_token`: malformed, forged, expired, revoked, not for ferrid, or
    /// its user or client is gone.
    #[error("the access token is invalid")]
    InvalidToken,
    /// RFC 6750 §3.1 `insufficient_scope`: a good token that may not be used here (for the admin
    /// API: one without `ferrid:admin`).
    #[error("the access token may not be used here")]
    InsufficientScope,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<AccessTokenError> for BearerAuthError {
    fn from(error: AccessTokenError) -> Self {
        match error {
            AccessTokenError::Invalid => Self::InvalidToken,
            AccessTokenError::Store(store) => Self::Internal(store.into()),
        }
    }
}

/// Verifies `bearer` as an access token for ferrid carrying `ferrid:admin`. The grant behind it
/// is re-checked on every call, so taking the role away, disabling the user, or withdrawing the
/// scope from the client (or deleting it) ends admin access at once rather than at expiry.
pub async fn authenticate_administrator(state: &AppState, bearer: &str) -> Result<Administrator, BearerAuthError> {
    let published = state.keys.current();
    let grant = verify_bearer_access_token(state.access_token_verifier(&published), bearer, state.clock.now()).await?;
    if !grant.scope.contains(ADMIN_SCOPE) {
        return Err(BearerAuthError::InsufficientScope);
    }
    let client_id = ClientId::parse(&grant.client_id).ok_or(BearerAuthError::InvalidToken)?;
    let client = match state.clients.find(&client_id).await {
        Ok(client) => client,
        Err(RegistryError::NotFound) => return Err(BearerAuthError::InvalidToken),
        Err(error) => return Err(BearerAuthError::Internal(error.into())),
    };
    if !client.metadata.allowed_scopes.iter().any(|s| s == ADMIN_SCOPE) {
        return Err(BearerAuthError::InsufficientScope);
    }
    // A client_credentials token's subject is the client itself (RFC 9068 §2.2); any other
    // subject is a user, who must still be active and an administrator.
    if grant.subject != grant.client_id {
        let user = uuid::Uuid::parse_str(&grant.subject).map(UserId).map_err(|_| BearerAuthError::InvalidToken)?;
        match state.accounts.find(user).await {
            Ok(found) if !found.disabled => {}
            Ok(_) | Err(AccountError::NotFound) => return Err(BearerAuthError::InvalidToken),
            Err(error) => return Err(BearerAuthError::Internal(error.into())),
        }
        if !holds_admin_role(&state.access_control, user).await.map_err(anyhow::Error::from)? {
            return Err(BearerAuthError::InsufficientScope);
        }
    }
    Ok(Administrator { subject: grant.subject, client_id: grant.client_id })
}

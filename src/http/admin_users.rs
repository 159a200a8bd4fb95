//! `/api/admin/users`: create, find, edit, disable, delete users, reset their password and
//! their second factors. The admin API is privileged, so unlike the public flows it says when an
//! email is taken. Every change is audited with the names of the fields it touched.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::MaybeUndefined,
};
use serde_json::json;

use super::{
    admin_auth::{AdminAuth, admin_error, guarded_response, unavailable},
    admin_paging::{next_cursor, page_cursor, page_limit},
    error::ErrorBody,
    sign_in_views::LoggedOut,
    tags::ApiTags,
};
use crate::{
    accounts::{AccountError, Email, NewUser, Password, ProfileField, User, UserChanges, UserId, UserQuery},
    app::AppState,
    audit::{AuditEvent, kinds},
    oauth::user_admin::{self, UserAdminError},
};

/// A user id from a path: malformed ids are simply unknown.
fn user_id(raw: &str) -> Option<UserId> {
    uuid::Uuid::parse_str(raw).ok().map(UserId)
}

/// A user account as administrators see it. Never includes the password hash.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AdminUser {
    pub id: String,
    pub email: String,
    pub email_verified: bool,
    pub name: Option<String>,
    pub phone: Option<String>,
    /// URL of the user's picture.
    pub picture: Option<String>,
    /// BCP 47 language tag, e.g. `en-GB`.
    pub locale: Option<String>,
    /// A disabled user cannot sign in and holds no sessions or refresh tokens.
    pub disabled: bool,
    /// Whether the user can sign in with a password.
    pub has_password: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<User> for AdminUser {
    fn from(user: User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.as_str().to_owned(),
            email_verified: user.email_verified,
            name: user.name,
            phone: user.phone,
            picture: user.picture,
            locale: user.locale,
            disabled: user.disabled,
            has_password: user.has_password,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// A user with what they are entitled to.
#[derive(Object)]
pub struct AdminUserDetails {
    #[oai(flatten)]
    pub user: AdminUser,
    /// Roles held directly.
    pub roles: Vec<String>,
    /// Groups the user belongs to.
    pub groups: Vec<String>,
    /// Effective permissions: the union of the user's groups' permissions.
    pub permissions: Vec<String>,
    /// Whether the user has any second factor (TOTP or recovery codes).
    pub mfa_enrolled: bool,
}

/// A page of users, ordered by id.
#[derive(Object)]
pub struct UserPage {
    pub items: Vec<AdminUser>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// A new user.
#[derive(Object)]
pub struct CreateUser {
    /// Must not belong to another user.
    pub email: String,
    /// The initial password; without one the user cannot sign in with a password.
    #[oai(write_only)]
    pub password: Option<String>,
    /// Display name (at most 200 characters).
    pub name: Option<String>,
    /// Whether the administrator vouches for the address (default true).
    pub email_verified: Option<bool>,
}

/// Profile changes: absent fields stay as they are, `null` clears an optional field.
#[derive(Object)]
pub struct UpdateUser {
    /// Display name (at most 200 characters).
    pub name: MaybeUndefined<String>,
    /// Phone number (at most 32 characters).
    pub phone: MaybeUndefined<String>,
    /// Picture URL (at most 2048 characters).
    pub picture: MaybeUndefined<String>,
    /// BCP 47 language tag (at most 35 characters).
    pub locale: MaybeUndefined<String>,
    /// A new email address; must not belong to another user.
    pub email: Option<String>,
    pub email_verified: Option<bool>,
}

/// A new password for the user.
#[derive(Object)]
pub struct PasswordReset {
    /// The new password; it is hashed and never shown again.
    #[oai(write_only)]
    pub password: String,
}

/// The outcome of a second-factor reset.
#[derive(Object)]
pub struct MfaReset {
    /// How many factors (TOTP secrets and recovery codes) were removed.
    pub factors_removed: u64,
}

guarded_response! {
    enum CreateResponse {
        /// Created.
        #[oai(status = 201)]
        Created(Json<AdminUser>),
        /// A malformed email, an empty password or an over-long name (`invalid_request`).
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
        /// The email belongs to another user (`conflict`).
        #[oai(status = 409)]
        Conflict(Json<ErrorBody>),
    }
}

guarded_response! {
    enum ListResponse {
        /// A page of users, in creation order.
        #[oai(status = 200)]
        Ok(Json<UserPage>, #[oai(header = "Cache-Control")] String),
        /// A malformed `limit` or `cursor` (`invalid_request`).
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
    }
}

guarded_response! {
    enum ReadResponse {
        /// The user, with roles, groups and effective permissions.
        #[oai(status = 200)]
        Ok(Json<AdminUserDetails>, #[oai(header = "Cache-Control")] String),
        /// No such user.
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
    }
}

guarded_response! {
    enum UpdateResponse {
        /// The user as changed.
        #[oai(status = 200)]
        Ok(Json<AdminUser>),
        /// A malformed email or an over-long field (`invalid_request`).
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
        /// No such user.
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
        /// The email belongs to another user (`conflict`).
        #[oai(status = 409)]
        Conflict(Json<ErrorBody>),
    }
}

guarded_response! {
    enum DisableResponse {
        /// Disabled; every session ended and every application's access revoked.
        #[oai(status = 200)]
        Ok(Json<LoggedOut>),
        /// No such user.
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
        /// The user is the last enabled administrator (`conflict`).
        #[oai(status = 409)]
        Conflict(Json<ErrorBody>),
    }
}

guarded_response! {
    enum EnableResponse {
        /// Enabled.
        #[oai(status = 204)]
        Enabled,
        /// No such user.
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
    }
}

guarded_response! {
    enum DeleteResponse {
        /// Deleted, with the user's sessions, tokens, consents, links and second factors.
        #[oai(status = 204)]
        Deleted,
        /// No such user.
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
        /// The user is the last enabled administrator (`conflict`).
        #[oai(status = 409)]
        Conflict(Json<ErrorBody>),
    }
}

guarded_response! {
    enum PasswordResponse {
        /// The password is set; every session ended and every application's access revoked.
        #[oai(status = 200)]
        Ok(Json<LoggedOut>),
        /// An empty password (`invalid_request`).
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
        /// No such user.
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
    }
}

guarded_response! {
    enum MfaResetResponse {
        /// Every second factor removed; the count says how many.
        #[oai(status = 200)]
        Ok(Json<MfaReset>),
        /// No such user.
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
    }
}

fn no_such_user() -> Json<ErrorBody> {
    admin_error("not_found", "no such user")
}

fn email_taken() -> Json<ErrorBody> {
    admin_error("conflict", "the email belongs to another user")
}

fn last_administrator() -> Json<ErrorBody> {
    admin_error("conflict", "this is the last enabled user with the admin role")
}

/// The profile changes of a PATCH body and the names of the fields it sets.
fn changes_of(body: UpdateUser) -> Result<(UserChanges, Vec<&'static str>), Json<ErrorBody>> {
    let invalid = |error: &dyn std::fmt::Display| admin_error("invalid_request", error);
    let mut changes = UserChanges::default();
    let mut fields = Vec::new();
    for (field, value) in [
        (ProfileField::Name, body.name),
        (ProfileField::Phone, body.phone),
        (ProfileField::Picture, body.picture),
        (ProfileField::Locale, body.locale),
    ] {
        if value.is_undefined() {
            continue;
        }
        changes.set(field, value.as_opt_deref().flatten()).map_err(|e| invalid(&e))?;
        fields.push(field.as_str());
    }
    if let Some(email) = body.email {
        changes.email = Some(Email::parse(&email).map_err(|e| invalid(&e))?);
        fields.push("email");
    }
    if let Some(verified) = body.email_verified {
        changes.email_verified = Some(verified);
        fields.push("email_verified");
    }
    Ok((changes, fields))
}

pub struct AdminUsersApi;

#[OpenApi(tag = "ApiTags::Admin")]
impl AdminUsersApi {
    /// Create a user.
    ///
    /// The email must be free; the admin API, unlike public registration, says when it is not.
    /// Without a password the user can sign in only through federation until one is set. The
    /// address counts as verified unless `email_verified` is false.
    #[oai(path = "/api/admin/users", method = "post", operation_id = "admin_create_user")]
    async fn create(&self, state: Data<&AppState>, auth: AdminAuth, body: Json<CreateUser>) -> CreateResponse {
        let AdminAuth(actor) = auth;
        let body = body.0;
        let new = match Email::parse(&body.email) {
            Ok(email) => NewUser::new(email, body.name.as_deref()),
            Err(error) => return CreateResponse::BadRequest(admin_error("invalid_request", error)),
        };
        let new = match new {
            Ok(new) => new,
            Err(error) => return CreateResponse::BadRequest(admin_error("invalid_request", error)),
        };
        let has_password = body.password.is_some();
        let verified = body.email_verified.unwrap_or(true);
        match state.accounts.create_user_verified(new, body.password.map(Password::new), verified).await {
            Ok(user) => {
                let event = AuditEvent::new(kinds::ADMIN_USER_CREATE, &actor)
                    .user(user.id)
                    .details(json!({ "email_verified": verified, "has_password": has_password }));
                state.audit.record(event).await;
                CreateResponse::Created(Json(user.into()))
            }
            Err(AccountError::EmailTaken) => CreateResponse::Conflict(email_taken()),
            Err(AccountError::Password(error)) => CreateResponse::BadRequest(admin_error("invalid_request", error)),
            Err(cause) => unavailable(cause).into(),
        }
    }

    /// List and search users.
    ///
    /// Ordered by id. `q` matches part of the email or the name, ignoring case; `%` and `_` in it
    /// are ordinary characters. Page with `limit` (1–200, default 50) and the previous page's
    /// `next_cursor`.
    #[oai(path = "/api/admin/users", method = "get", operation_id = "admin_list_users")]
    async fn list(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// Part of the email or the name, matched case-insensitively.
        q: Query<Option<String>>,
        /// Only disabled (`true`) or only enabled (`false`) users.
        disabled: Query<Option<bool>>,
        /// The previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// The page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
    ) -> ListResponse {
        let (limit, after) = match (page_limit(limit.0), page_cursor(cursor.0.as_deref())) {
            (Ok(limit), Ok(after)) => (limit, after),
            (Err(error), _) | (_, Err(error)) => {
                return ListResponse::BadRequest(admin_error("invalid_request", error));
            }
        };
        let q = q.0.filter(|q| !q.is_empty());
        let query = UserQuery { q, disabled: disabled.0, after: after.map(UserId), limit };
        match state.accounts.search_users(&query).await {
            Ok(users) => {
                let next_cursor = next_cursor(&users, limit, |user| user.id.to_string());
                let items = users.into_iter().map(AdminUser::from).collect();
                ListResponse::Ok(Json(UserPage { items, next_cursor }), "no-store".to_owned())
            }
            Err(cause) => unavailable(cause).into(),
        }
    }

    /// Read a user.
    ///
    /// The account with its roles, groups, effective permissions (from its groups) and whether
    /// it has second factors.
    #[oai(path = "/api/admin/users/:user_id", method = "get", operation_id = "admin_get_user")]
    async fn read(&self, state: Data<&AppState>, _auth: AdminAuth, user_id: Path<String>) -> ReadResponse {
        let Some(id) = self::user_id(&user_id.0) else { return ReadResponse::NotFound(no_such_user()) };
        let user = match state.accounts.find(id).await {
            Ok(user) => user,
            Err(AccountError::NotFound) => return ReadResponse::NotFound(no_such_user()),
            Err(cause) => return unavailable(cause).into(),
        };
        let authorization = match state.access_control.authorization_of(id).await {
            Ok(authorization) => authorization,
            Err(cause) => return unavailable(cause).into(),
        };
        let factors = match state.accounts.second_factors(id).await {
            Ok(factors) => factors,
            Err(cause) => return unavailable(cause).into(),
        };
        let details = AdminUserDetails {
            user: user.into(),
            roles: authorization.roles,
            groups: authorization.groups,
            permissions: authorization.permissions,
            mfa_enrolled: factors > 0,
        };
        ReadResponse::Ok(Json(details), "no-store".to_owned())
    }

    /// Edit a user's profile.
    ///
    /// Changes only the fields present in the body; `null` clears name, phone, picture or locale.
    /// A new email must be free (409 otherwise) and is unverified unless `email_verified: true`
    /// comes with it.
    #[oai(path = "/api/admin/users/:user_id", method = "patch", operation_id = "admin_update_user")]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        user_id: Path<String>,
        body: Json<UpdateUser>,
    ) -> UpdateResponse {
        let AdminAuth(actor) = auth;
        let Some(id) = self::user_id(&user_id.0) else { return UpdateResponse::NotFound(no_such_user()) };
        let (changes, fields) = match changes_of(body.0) {
            Ok(changes) => changes,
            Err(body) => return UpdateResponse::BadRequest(body),
        };
        match state.accounts.update_user(id, &changes).await {
            Ok(user) => {
                if !fields.is_empty() {
                    let event =
                        AuditEvent::new(kinds::ADMIN_USER_UPDATE, &actor).user(id).details(json!({ "fields": fields }));
                    state.audit.record(event).await;
                }
                UpdateResponse::Ok(Json(user.into()))
            }
            Err(AccountError::NotFound) => UpdateResponse::NotFound(no_such_user()),
            Err(AccountError::EmailTaken) => UpdateResponse::Conflict(email_taken()),
            Err(cause) => unavailable(cause).into(),
        }
    }

    /// Disable a user.
    ///
    /// The user can no longer sign in, and is signed out at once: every session ends, every
    /// refresh token family and the access tokens issued from it are revoked, and relying parties
    /// with back-channel logout are told. Refused for the last enabled user with the `admin` role.
    #[oai(path = "/api/admin/users/:user_id/disable", method = "post", operation_id = "admin_disable_user")]
    async fn disable(&self, state: Data<&AppState>, auth: AdminAuth, user_id: Path<String>) -> DisableResponse {
        let AdminAuth(actor) = auth;
        let Some(id) = self::user_id(&user_id.0) else { return DisableResponse::NotFound(no_such_user()) };
        match user_admin::disable_user(&state, id).await {
            Ok(done) => {
                let details = json!({ "sessions_ended": done.sessions, "applications_revoked": done.applications });
                state.audit.record(AuditEvent::new(kinds::ADMIN_USER_DISABLE, &actor).user(id).details(details)).await;
                DisableResponse::Ok(Json(done.into()))
            }
            Err(UserAdminError::NotFound(_)) => DisableResponse::NotFound(no_such_user()),
            Err(UserAdminError::LastAdministrator) => DisableResponse::Conflict(last_administrator()),
            Err(cause) => unavailable(cause).into(),
        }
    }

    /// Enable a user.
    ///
    /// A disabled user may sign in again. Enabling an enabled user changes nothing.
    #[oai(path = "/api/admin/users/:user_id/enable", method = "post", operation_id = "admin_enable_user")]
    async fn enable(&self, state: Data<&AppState>, auth: AdminAuth, user_id: Path<String>) -> EnableResponse {
        let AdminAuth(actor) = auth;
        let Some(id) = self::user_id(&user_id.0) else { return EnableResponse::NotFound(no_such_user()) };
        match state.accounts.set_disabled(id, false).await {
            Ok(()) => {
                state.audit.record(AuditEvent::new(kinds::ADMIN_USER_ENABLE, &actor).user(id)).await;
                EnableResponse::Enabled
            }
            Err(AccountError::NotFound) => EnableResponse::NotFound(no_such_user()),
            Err(cause) => unavailable(cause).into(),
        }
    }

    /// Delete a user.
    ///
    /// Signs the user out everywhere (with back-channel logout), then deletes the account with
    /// its sessions, refresh tokens, consents, role and group links and second factors. Refused
    /// for the last enabled user with the `admin` role.
    #[oai(path = "/api/admin/users/:user_id", method = "delete", operation_id = "admin_delete_user")]
    async fn delete(&self, state: Data<&AppState>, auth: AdminAuth, user_id: Path<String>) -> DeleteResponse {
        let AdminAuth(actor) = auth;
        let Some(id) = self::user_id(&user_id.0) else { return DeleteResponse::NotFound(no_such_user()) };
        match user_admin::delete_user(&state, id).await {
            Ok(()) => {
                state.audit.record(AuditEvent::new(kinds::ADMIN_USER_DELETE, &actor).user(id)).await;
                DeleteResponse::Deleted
            }
            Err(UserAdminError::NotFound(_)) => DeleteResponse::NotFound(no_such_user()),
            Err(UserAdminError::LastAdministrator) => DeleteResponse::Conflict(last_administrator()),
            Err(cause) => unavailable(cause).into(),
        }
    }

    /// Set a user's password.
    ///
    /// Hashes the new password (argon2id), then signs the user out everywhere so that nothing
    /// obtained with the old one stays valid. The password is never stored, logged or returned
    /// in clear.
    #[oai(path = "/api/admin/users/:user_id/password", method = "post", operation_id = "admin_reset_user_password")]
    async fn reset_password(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        user_id: Path<String>,
        body: Json<PasswordReset>,
    ) -> PasswordResponse {
        let AdminAuth(actor) = auth;
        let Some(id) = self::user_id(&user_id.0) else { return PasswordResponse::NotFound(no_such_user()) };
        match user_admin::reset_password(&state, id, Password::new(body.0.password)).await {
            Ok(done) => {
                state.audit.record(AuditEvent::new(kinds::ADMIN_USER_PASSWORD_RESET, &actor).user(id)).await;
                PasswordResponse::Ok(Json(done.into()))
            }
            Err(UserAdminError::NotFound(_)) => PasswordResponse::NotFound(no_such_user()),
            Err(UserAdminError::Password(error)) => PasswordResponse::BadRequest(admin_error("invalid_request", error)),
            Err(cause) => unavailable(cause).into(),
        }
    }

    /// Remove a user's second factors.
    ///
    /// Deletes every TOTP secret and recovery code of the user, for a user who lost their device;
    /// they enrol again at their next sign-in. Answers how many factors were removed.
    #[oai(path = "/api/admin/users/:user_id/mfa/reset", method = "post", operation_id = "admin_reset_user_mfa")]
    async fn reset_mfa(&self, state: Data<&AppState>, auth: AdminAuth, user_id: Path<String>) -> MfaResetResponse {
        let AdminAuth(actor) = auth;
        let Some(id) = self::user_id(&user_id.0) else { return MfaResetResponse::NotFound(no_such_user()) };
        match state.accounts.find(id).await {
            Ok(_) => {}
            Err(AccountError::NotFound) => return MfaResetResponse::NotFound(no_such_user()),
            Err(cause) => return unavailable(cause).into(),
        }
        match state.accounts.reset_second_factors(id).await {
            Ok(removed) => {
                let event = AuditEvent::new(kinds::ADMIN_USER_MFA_RESET, &actor)
                    .user(id)
                    .details(json!({ "factors_removed": removed }));
                state.audit.record(event).await;
                MfaResetResponse::Ok(Json(MfaReset { factors_removed: removed }))
            }
            Err(cause) => unavailable(cause).into(),
        }
    }
}

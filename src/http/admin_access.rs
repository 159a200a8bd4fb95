//! `/api/admin/roles`, `/api/admin/groups`, `/api/admin/permissions` and the links between them
//! and users. The three kinds of record behave alike, so each operation is one generic function
//! over [`AccessName`] and the handlers only name the kind. Names are what relying parties see in
//! the `roles` scope's claims; every change is audited with `<kind>:<name>` as its target.

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
    admin_auth::{AdminAuth, BearerDenied, admin_error, guarded_response, unavailable},
    admin_paging::{next_cursor, page_cursor, page_limit},
    error::ErrorBody,
    tags::ApiTags,
};
use crate::{
    accounts::{AccessEntry, AccessKind, AccessName, AccountError, GroupName, PermissionName, RoleName, UserId},
    app::AppState,
    audit::{Actor, AuditEvent, kinds},
    oauth::user_admin::{self, UserAdminError},
};

/// A role, group or permission.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AccessRecord {
    pub id: String,
    /// 1–100 characters of `[A-Za-z0-9_.:-]`, unique within its kind.
    pub name: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<AccessEntry> for AccessRecord {
    fn from(entry: AccessEntry) -> Self {
        Self {
            id: entry.id.to_string(),
            name: entry.name,
            description: entry.description,
            created_at: entry.created_at,
        }
    }
}

/// A page of roles, groups or permissions, ordered by id.
#[derive(Object)]
pub struct AccessPage {
    pub items: Vec<AccessRecord>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// A new role, group or permission.
#[derive(Object)]
pub struct NewAccessRecord {
    /// 1–100 characters of `[A-Za-z0-9_.:-]`, unique within its kind.
    pub name: String,
    pub description: Option<String>,
}

/// Changes to a role, group or permission: absent fields stay as they are.
#[derive(Object)]
pub struct AccessRecordUpdate {
    /// A new name. Assignments follow the record; tokens already issued keep the old name until
    /// they expire.
    pub name: Option<String>,
    /// A new description; `null` removes it.
    pub description: MaybeUndefined<String>,
}

/// A member of a group.
#[derive(Object)]
pub struct GroupMember {
    pub user_id: String,
}

/// A page of a group's members, ordered by user id.
#[derive(Object)]
pub struct MemberPage {
    pub items: Vec<GroupMember>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

guarded_response! {
    enum ListResponse {
        /// A page of records, in creation order.
        #[oai(status = 200)]
        Ok(Json<AccessPage>, #[oai(header = "Cache-Control")] String),
        /// A malformed `limit` or `cursor` (`invalid_request`).
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
    }
}

guarded_response! {
    enum CreateResponse {
        /// Created.
        #[oai(status = 201)]
        Created(Json<AccessRecord>),
        /// An invalid name (`invalid_request`).
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
        /// The name is taken (`conflict`).
        #[oai(status = 409)]
        Conflict(Json<ErrorBody>),
    }
}

guarded_response! {
    enum ReadResponse {
        /// The record.
        #[oai(status = 200)]
        Ok(Json<AccessRecord>, #[oai(header = "Cache-Control")] String),
        /// No such record.
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
    }
}

guarded_response! {
    enum UpdateResponse {
        /// The record as changed.
        #[oai(status = 200)]
        Ok(Json<AccessRecord>),
        /// An invalid new name (`invalid_request`).
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
        /// No such record.
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
        /// The new name is taken, or this is the `admin` role and enabled users hold it
        /// (`conflict`).
        #[oai(status = 409)]
        Conflict(Json<ErrorBody>),
    }
}

guarded_response! {
    enum ChangeResponse {
        /// Done (also when there was nothing to do).
        #[oai(status = 204)]
        Done,
        /// No such user, role, group or permission.
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
        /// It would leave no enabled user with the `admin` role (`conflict`).
        #[oai(status = 409)]
        Conflict(Json<ErrorBody>),
    }
}

guarded_response! {
    enum LinkResponse {
        /// Linked (also when the link existed).
        #[oai(status = 204)]
        Linked,
        /// No such user, role, group or permission.
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
    }
}

guarded_response! {
    enum MembersResponse {
        /// A page of the group's members.
        #[oai(status = 200)]
        Ok(Json<MemberPage>, #[oai(header = "Cache-Control")] String),
        /// A malformed `limit` or `cursor` (`invalid_request`).
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
        /// No such group.
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
    }
}

/// Why a request ends without its outcome.
enum Failure {
    Denied(BearerDenied),
    BadRequest(String),
    NotFound(String),
    Conflict(String),
}

impl From<BearerDenied> for Failure {
    fn from(denied: BearerDenied) -> Self {
        Self::Denied(denied)
    }
}

impl From<UserAdminError> for Failure {
    fn from(error: UserAdminError) -> Self {
        match error {
            UserAdminError::NotFound(what) => Self::NotFound(format!("no such {what}")),
            UserAdminError::NameTaken(_) | UserAdminError::LastAdministrator => Self::Conflict(error.to_string()),
            other => Self::Denied(unavailable(other)),
        }
    }
}

impl From<AccountError> for Failure {
    fn from(error: AccountError) -> Self {
        UserAdminError::from(error).into()
    }
}

impl From<crate::accounts::AccessControlError> for Failure {
    fn from(error: crate::accounts::AccessControlError) -> Self {
        UserAdminError::from(error).into()
    }
}

/// Maps each [`Failure`] to the response's own variant. A failure the operation cannot produce
/// would be a bug; it is answered like a store failure rather than with a panic.
macro_rules! answers_failures {
    ($($response:ident { $($variant:ident),* }),+ $(,)?) => {$(
        impl From<Failure> for $response {
            fn from(failure: Failure) -> Self {
                match failure {
                    Failure::Denied(denied) => denied.into(),
                    $(Failure::$variant(description) => {
                        Self::$variant(admin_error(answers_failures!(@code $variant), description))
                    })*
                    #[allow(unreachable_patterns)]
                    other => unavailable(other.describe()).into(),
                }
            }
        }
    )+};
    (@code BadRequest) => { "invalid_request" };
    (@code NotFound) => { "not_found" };
    (@code Conflict) => { "conflict" };
}

impl Failure {
    fn describe(&self) -> &str {
        match self {
            Self::Denied(_) => "refused",
            Self::BadRequest(text) | Self::NotFound(text) | Self::Conflict(text) => text,
        }
    }
}

answers_failures! {
    ListResponse { BadRequest },
    CreateResponse { BadRequest, Conflict },
    ReadResponse { NotFound },
    UpdateResponse { BadRequest, NotFound, Conflict },
    ChangeResponse { NotFound, Conflict },
    LinkResponse { NotFound },
    MembersResponse { BadRequest, NotFound },
}

/// The audit kinds of creating, updating and deleting records of `kind`.
fn audit_kinds(kind: AccessKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        AccessKind::Role => (kinds::ADMIN_ROLE_CREATE, kinds::ADMIN_ROLE_UPDATE, kinds::ADMIN_ROLE_DELETE),
        AccessKind::Group => (kinds::ADMIN_GROUP_CREATE, kinds::ADMIN_GROUP_UPDATE, kinds::ADMIN_GROUP_DELETE),
        AccessKind::Permission => {
            (kinds::ADMIN_PERMISSION_CREATE, kinds::ADMIN_PERMISSION_UPDATE, kinds::ADMIN_PERMISSION_DELETE)
        }
    }
}

fn target<N: AccessName>(name: &N) -> String {
    format!("{}:{}", N::KIND.noun(), name)
}

/// A name from a path: one that cannot be valid names nothing.
fn named<N: AccessName>(raw: &str) -> Result<N, Failure> {
    N::parse(raw).map_err(|_| Failure::NotFound(format!("no such {}", N::KIND.noun())))
}

/// A name from a body: an invalid one is a bad request.
fn valid_name<N: AccessName>(raw: &str) -> Result<N, Failure> {
    N::parse(raw).map_err(|error| Failure::BadRequest(format!("{} name: {error}", N::KIND.noun())))
}

/// An existing user from a path: malformed ids are simply unknown.
async fn existing_user(state: &AppState, raw: &str) -> Result<UserId, Failure> {
    let id = uuid::Uuid::parse_str(raw).map(UserId).map_err(|_| Failure::NotFound("no such user".to_owned()))?;
    state.accounts.find(id).await?;
    Ok(id)
}

async fn list_of(
    state: &AppState,
    kind: AccessKind,
    limit: Option<u64>,
    cursor: Option<String>,
) -> Result<AccessPage, Failure> {
    let limit = page_limit(limit).map_err(Failure::BadRequest)?;
    let after = page_cursor(cursor.as_deref()).map_err(Failure::BadRequest)?;
    let entries = state.access_control.list(kind, after, limit).await?;
    let next_cursor = next_cursor(&entries, limit, |entry| entry.id.to_string());
    Ok(AccessPage { items: entries.into_iter().map(AccessRecord::from).collect(), next_cursor })
}

async fn create_of<N: AccessName>(
    state: &AppState,
    auth: AdminAuth,
    body: NewAccessRecord,
) -> Result<AccessRecord, Failure> {
    let AdminAuth(actor) = auth;
    let name: N = valid_name(&body.name)?;
    state.access_control.create(&name, body.description.as_deref()).await?;
    let entry = state.access_control.read(&name).await?;
    state.audit.record(AuditEvent::new(audit_kinds(N::KIND).0, &actor).target(target(&name))).await;
    Ok(entry.into())
}

async fn read_of<N: AccessName>(state: &AppState, name: &str) -> Result<AccessRecord, Failure> {
    Ok(state.access_control.read(&named::<N>(name)?).await?.into())
}

async fn update_of<N: AccessName>(
    state: &AppState,
    auth: AdminAuth,
    name: &str,
    body: AccessRecordUpdate,
) -> Result<AccessRecord, Failure> {
    let AdminAuth(actor) = auth;
    let name: N = named(name)?;
    let new_name: Option<N> = body.name.as_deref().map(valid_name).transpose()?;
    let renamed = new_name.as_ref().is_some_and(|new| new.as_str() != name.as_str());
    if renamed {
        user_admin::protect_admin_role(state, &name).await?;
    }
    let description = body.description.as_opt_deref();
    let entry = state.access_control.update(&name, new_name.as_ref(), description).await?;
    let mut fields = Vec::new();
    if renamed {
        fields.push("name");
    }
    if description.is_some() {
        fields.push("description");
    }
    if !fields.is_empty() {
        let event = AuditEvent::new(audit_kinds(N::KIND).1, &actor)
            .target(target(&name))
            .details(json!({ "fields": fields, "name": entry.name }));
        state.audit.record(event).await;
    }
    Ok(entry.into())
}

async fn delete_of<N: AccessName>(state: &AppState, auth: AdminAuth, name: &str) -> Result<(), Failure> {
    let AdminAuth(actor) = auth;
    let name: N = named(name)?;
    user_admin::protect_admin_role(state, &name).await?;
    state.access_control.delete(&name).await?;
    state.audit.record(AuditEvent::new(audit_kinds(N::KIND).2, &actor).target(target(&name))).await;
    Ok(())
}

/// The administrator, and the user named by the path.
async fn over_user(state: &AppState, auth: AdminAuth, user_id: &str) -> Result<(Actor, UserId), Failure> {
    let AdminAuth(actor) = auth;
    Ok((actor, existing_user(state, user_id).await?))
}

pub struct AdminAccessApi;

/// A handler's answer: its success variant, or the failure in the response's own terms.
macro_rules! respond {
    ($result:expr, $ok:expr) => {
        match $result {
            Ok(value) => $ok(value),
            Err(failure) => failure.into(),
        }
    };
}

#[OpenApi(tag = "ApiTags::Admin")]
impl AdminAccessApi {
    /// List roles.
    ///
    /// Roles are held directly by users and appear in the `roles` claim. Ordered by id; page with
    /// `limit` (1–200, default 50) and the previous page's `next_cursor`.
    #[oai(path = "/api/admin/roles", method = "get", operation_id = "admin_list_roles")]
    async fn list_roles(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// The page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
    ) -> ListResponse {
        let page = list_of(&state, AccessKind::Role, limit.0, cursor.0).await;
        respond!(page, |page| ListResponse::Ok(Json(page), "no-store".to_owned()))
    }

    /// Create a role.
    ///
    /// The name is 1–100 characters of `[A-Za-z0-9_.:-]` and must be free. The `admin` role
    /// grants its holders the `ferrid:admin` scope.
    #[oai(path = "/api/admin/roles", method = "post", operation_id = "admin_create_role")]
    async fn create_role(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        body: Json<NewAccessRecord>,
    ) -> CreateResponse {
        respond!(create_of::<RoleName>(&state, auth, body.0).await, |r| CreateResponse::Created(Json(r)))
    }

    /// Read a role.
    ///
    /// The role's id, name, description and creation time.
    #[oai(path = "/api/admin/roles/:name", method = "get", operation_id = "admin_get_role")]
    async fn read_role(&self, state: Data<&AppState>, _auth: AdminAuth, name: Path<String>) -> ReadResponse {
        respond!(read_of::<RoleName>(&state, &name.0).await, |r| ReadResponse::Ok(Json(r), "no-store".to_owned()))
    }

    /// Rename or describe a role.
    ///
    /// Holders keep the role under its new name. The `admin` role cannot be renamed while an
    /// enabled user holds it.
    #[oai(path = "/api/admin/roles/:name", method = "patch", operation_id = "admin_update_role")]
    async fn update_role(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        name: Path<String>,
        body: Json<AccessRecordUpdate>,
    ) -> UpdateResponse {
        respond!(update_of::<RoleName>(&state, auth, &name.0, body.0).await, |r| UpdateResponse::Ok(Json(r)))
    }

    /// Delete a role.
    ///
    /// Takes the role from every holder. The `admin` role cannot be deleted while an enabled
    /// user holds it.
    #[oai(path = "/api/admin/roles/:name", method = "delete", operation_id = "admin_delete_role")]
    async fn delete_role(&self, state: Data<&AppState>, auth: AdminAuth, name: Path<String>) -> ChangeResponse {
        respond!(delete_of::<RoleName>(&state, auth, &name.0).await, |()| ChangeResponse::Done)
    }

    /// List groups.
    ///
    /// Users belong to groups and groups hold permissions. Ordered by id; page with `limit`
    /// (1–200, default 50) and the previous page's `next_cursor`.
    #[oai(path = "/api/admin/groups", method = "get", operation_id = "admin_list_groups")]
    async fn list_groups(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// The page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
    ) -> ListResponse {
        let page = list_of(&state, AccessKind::Group, limit.0, cursor.0).await;
        respond!(page, |page| ListResponse::Ok(Json(page), "no-store".to_owned()))
    }

    /// Create a group.
    ///
    /// The name is 1–100 characters of `[A-Za-z0-9_.:-]` and must be free.
    #[oai(path = "/api/admin/groups", method = "post", operation_id = "admin_create_group")]
    async fn create_group(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        body: Json<NewAccessRecord>,
    ) -> CreateResponse {
        respond!(create_of::<GroupName>(&state, auth, body.0).await, |r| CreateResponse::Created(Json(r)))
    }

    /// Read a group.
    ///
    /// The group's id, name, description and creation time.
    #[oai(path = "/api/admin/groups/:name", method = "get", operation_id = "admin_get_group")]
    async fn read_group(&self, state: Data<&AppState>, _auth: AdminAuth, name: Path<String>) -> ReadResponse {
        respond!(read_of::<GroupName>(&state, &name.0).await, |r| ReadResponse::Ok(Json(r), "no-store".to_owned()))
    }

    /// Rename or describe a group.
    ///
    /// Members and permissions stay with the group under its new name.
    #[oai(path = "/api/admin/groups/:name", method = "patch", operation_id = "admin_update_group")]
    async fn update_group(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        name: Path<String>,
        body: Json<AccessRecordUpdate>,
    ) -> UpdateResponse {
        respond!(update_of::<GroupName>(&state, auth, &name.0, body.0).await, |r| UpdateResponse::Ok(Json(r)))
    }

    /// Delete a group.
    ///
    /// Its members leave it and lose the permissions it granted them.
    #[oai(path = "/api/admin/groups/:name", method = "delete", operation_id = "admin_delete_group")]
    async fn delete_group(&self, state: Data<&AppState>, auth: AdminAuth, name: Path<String>) -> ChangeResponse {
        respond!(delete_of::<GroupName>(&state, auth, &name.0).await, |()| ChangeResponse::Done)
    }

    /// List permissions.
    ///
    /// Permissions are granted to groups and appear in the `permissions` claim. Ordered by id;
    /// page with `limit` (1–200, default 50) and the previous page's `next_cursor`.
    #[oai(path = "/api/admin/permissions", method = "get", operation_id = "admin_list_permissions")]
    async fn list_permissions(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// The page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
    ) -> ListResponse {
        let page = list_of(&state, AccessKind::Permission, limit.0, cursor.0).await;
        respond!(page, |page| ListResponse::Ok(Json(page), "no-store".to_owned()))
    }

    /// Create a permission.
    ///
    /// The name is 1–100 characters of `[A-Za-z0-9_.:-]` (e.g. `billing:invoices.read`) and
    /// must be free.
    #[oai(path = "/api/admin/permissions", method = "post", operation_id = "admin_create_permission")]
    async fn create_permission(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        body: Json<NewAccessRecord>,
    ) -> CreateResponse {
        respond!(create_of::<PermissionName>(&state, auth, body.0).await, |r| CreateResponse::Created(Json(r)))
    }

    /// Read a permission.
    ///
    /// The permission's id, name, description and creation time.
    #[oai(path = "/api/admin/permissions/:name", method = "get", operation_id = "admin_get_permission")]
    async fn read_permission(&self, state: Data<&AppState>, _auth: AdminAuth, name: Path<String>) -> ReadResponse {
        let read = read_of::<PermissionName>(&state, &name.0).await;
        respond!(read, |r| ReadResponse::Ok(Json(r), "no-store".to_owned()))
    }

    /// Rename or describe a permission.
    ///
    /// Groups keep the permission under its new name.
    #[oai(path = "/api/admin/permissions/:name", method = "patch", operation_id = "admin_update_permission")]
    async fn update_permission(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        name: Path<String>,
        body: Json<AccessRecordUpdate>,
    ) -> UpdateResponse {
        respond!(update_of::<PermissionName>(&state, auth, &name.0, body.0).await, |r| UpdateResponse::Ok(Json(r)))
    }

    /// Delete a permission.
    ///
    /// Every group holding it loses it.
    #[oai(path = "/api/admin/permissions/:name", method = "delete", operation_id = "admin_delete_permission")]
    async fn delete_permission(&self, state: Data<&AppState>, auth: AdminAuth, name: Path<String>) -> ChangeResponse {
        respond!(delete_of::<PermissionName>(&state, auth, &name.0).await, |()| ChangeResponse::Done)
    }

    /// Give a user a role.
    ///
    /// Idempotent. The user's next tokens with the `roles` scope carry it.
    #[oai(path = "/api/admin/users/:user_id/roles/:role", method = "put", operation_id = "admin_assign_user_role")]
    async fn assign_role(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        user_id: Path<String>,
        role: Path<String>,
    ) -> LinkResponse {
        let result = async {
            let (actor, user) = over_user(&state, auth, &user_id.0).await?;
            let role: RoleName = named(&role.0)?;
            state.access_control.assign_role(user, &role).await?;
            state
                .audit
                .record(AuditEvent::new(kinds::ADMIN_ROLE_ASSIGN, &actor).user(user).target(target(&role)))
                .await;
            Ok::<_, Failure>(())
        };
        respond!(result.await, |()| LinkResponse::Linked)
    }

    /// Take a role from a user.
    ///
    /// Idempotent. Refused when it would leave no enabled user with the `admin` role.
    #[oai(path = "/api/admin/users/:user_id/roles/:role", method = "delete", operation_id = "admin_remove_user_role")]
    async fn remove_role(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        user_id: Path<String>,
        role: Path<String>,
    ) -> ChangeResponse {
        let result = async {
            let AdminAuth(actor) = auth;
            let user = existing_user(&state, &user_id.0).await?;
            let role: RoleName = named(&role.0)?;
            user_admin::remove_role(&state, user, &role).await?;
            let event = AuditEvent::new(kinds::ADMIN_ROLE_UNASSIGN, &actor).user(user).target(target(&role));
            state.audit.record(event).await;
            Ok::<_, Failure>(())
        };
        respond!(result.await, |()| ChangeResponse::Done)
    }

    /// Add a user to a group.
    ///
    /// Idempotent. The user gains the group's permissions in their next tokens.
    #[oai(path = "/api/admin/users/:user_id/groups/:group", method = "put", operation_id = "admin_add_user_to_group")]
    async fn add_to_group(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        user_id: Path<String>,
        group: Path<String>,
    ) -> LinkResponse {
        let result = async {
            let (actor, user) = over_user(&state, auth, &user_id.0).await?;
            let group: GroupName = named(&group.0)?;
            state.access_control.add_to_group(user, &group).await?;
            let event = AuditEvent::new(kinds::ADMIN_GROUP_ADD_MEMBER, &actor).user(user).target(target(&group));
            state.audit.record(event).await;
            Ok::<_, Failure>(())
        };
        respond!(result.await, |()| LinkResponse::Linked)
    }

    /// Remove a user from a group.
    ///
    /// Idempotent. The user loses the permissions that only this group gave them.
    #[oai(
        path = "/api/admin/users/:user_id/groups/:group",
        method = "delete",
        operation_id = "admin_remove_user_from_group"
    )]
    async fn remove_from_group(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        user_id: Path<String>,
        group: Path<String>,
    ) -> LinkResponse {
        let result = async {
            let (actor, user) = over_user(&state, auth, &user_id.0).await?;
            let group: GroupName = named(&group.0)?;
            state.access_control.remove_from_group(user, &group).await?;
            let event = AuditEvent::new(kinds::ADMIN_GROUP_REMOVE_MEMBER, &actor).user(user).target(target(&group));
            state.audit.record(event).await;
            Ok::<_, Failure>(())
        };
        respond!(result.await, |()| LinkResponse::Linked)
    }

    /// Grant a permission to a group.
    ///
    /// Idempotent. Every member gains the permission in their next tokens.
    #[oai(
        path = "/api/admin/groups/:group/permissions/:permission",
        method = "put",
        operation_id = "admin_grant_group_permission"
    )]
    async fn grant_permission(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        group: Path<String>,
        permission: Path<String>,
    ) -> LinkResponse {
        let result = async {
            let AdminAuth(actor) = auth;
            let group: GroupName = named(&group.0)?;
            let permission: PermissionName = named(&permission.0)?;
            state.access_control.grant_permission(&group, &permission).await?;
            let event = AuditEvent::new(kinds::ADMIN_PERMISSION_GRANT, &actor)
                .target(target(&permission))
                .details(json!({ "group": group.as_str() }));
            state.audit.record(event).await;
            Ok::<_, Failure>(())
        };
        respond!(result.await, |()| LinkResponse::Linked)
    }

    /// Revoke a permission from a group.
    ///
    /// Idempotent. Members keep the permission only if another of their groups grants it.
    #[oai(
        path = "/api/admin/groups/:group/permissions/:permission",
        method = "delete",
        operation_id = "admin_revoke_group_permission"
    )]
    async fn revoke_permission(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        group: Path<String>,
        permission: Path<String>,
    ) -> LinkResponse {
        let result = async {
            let AdminAuth(actor) = auth;
            let group: GroupName = named(&group.0)?;
            let permission: PermissionName = named(&permission.0)?;
            state.access_control.revoke_permission(&group, &permission).await?;
            let event = AuditEvent::new(kinds::ADMIN_PERMISSION_REVOKE, &actor)
                .target(target(&permission))
                .details(json!({ "group": group.as_str() }));
            state.audit.record(event).await;
            Ok::<_, Failure>(())
        };
        respond!(result.await, |()| LinkResponse::Linked)
    }

    /// List a group's members.
    ///
    /// User ids ordered ascending; page with `limit` (1–200, default 50) and the previous page's
    /// `next_cursor`.
    #[oai(path = "/api/admin/groups/:group/members", method = "get", operation_id = "admin_list_group_members")]
    async fn members(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        group: Path<String>,
        /// The previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// The page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
    ) -> MembersResponse {
        let result = async {
            let group: GroupName = named(&group.0)?;
            let limit = page_limit(limit.0).map_err(Failure::BadRequest)?;
            let after = page_cursor(cursor.0.as_deref()).map_err(Failure::BadRequest)?;
            let members = state.access_control.members(&group, after.map(UserId), limit).await?;
            let next_cursor = next_cursor(&members, limit, |user| user.to_string());
            let items = members.into_iter().map(|user| GroupMember { user_id: user.to_string() }).collect();
            Ok::<_, Failure>(MemberPage { items, next_cursor })
        };
        respond!(result.await, |page| MembersResponse::Ok(Json(page), "no-store".to_owned()))
    }
}

//! Roles, groups and permissions: users hold roles and belong to groups, groups hold
//! permissions. The names are what relying parties see in the `roles` scope's claims, so they
//! are validated once here and stay stable identifiers from then on.

use std::{fmt, sync::Arc};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::UserId;
use crate::{
    clock::Clock,
    store::{StoreError, sql::AccessControlRepository},
};

/// The longest role, group or permission name (the columns are `varchar(100)`).
pub const MAX_NAME_LEN: usize = 100;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the name must not be empty")]
    Empty,
    #[error("the name is longer than {MAX_NAME_LEN} characters")]
    TooLong,
    /// Names travel in JSON claims and on command lines; a narrow alphabet keeps them unambiguous
    /// there and leaves room for `app:resource.action` style namespacing.
    #[error("names use only letters, digits and `_ . : -`")]
    InvalidCharacter,
}

fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-')) {
        return Err(NameError::InvalidCharacter);
    }
    Ok(())
}

/// The three kinds of named record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessKind {
    Role,
    Group,
    Permission,
}

impl AccessKind {
    /// `role`, `group` or `permission`: the word in error messages and audit targets.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Role => "role",
            Self::Group => "group",
            Self::Permission => "permission",
        }
    }
}

/// A validated role, group or permission name, so one generic operation serves all three kinds.
pub trait AccessName: fmt::Display + Sized {
    const KIND: AccessKind;

    fn parse(name: &str) -> Result<Self, NameError>;

    fn as_str(&self) -> &str;
}

/// A role, group or permission as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessEntry {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A change to a role, group or permission: a new name and/or a new (or no) description.
#[derive(Clone, Debug, Default)]
pub struct AccessChange {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
}

macro_rules! access_control_types {
    ($($(#[$doc:meta])* $name:ident, $id:ident, $kind:ident;)+) => {$(
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// 1–100 characters of `[A-Za-z0-9_.:-]`.
            pub fn parse(name: &str) -> Result<Self, NameError> {
                validate_name(name).map(|()| Self(name.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AccessName for $name {
            const KIND: AccessKind = AccessKind::$kind;

            fn parse(name: &str) -> Result<Self, NameError> {
                $name::parse(name)
            }

            fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $id(pub Uuid);

        impl $id {
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl fmt::Display for $id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )+};
}

access_control_types! {
    /// A role held directly by a user (e.g. `admin`).
    RoleName, RoleId, Role;
    /// A group of users; permissions are granted to groups, never to users directly.
    GroupName, GroupId, Group;
    /// A permission granted to groups (e.g. `billing:invoices.read`).
    PermissionName, PermissionId, Permission;
}

/// What a user is entitled to: the content of ferrid's `roles` scope claims. Each list is sorted
/// and free of duplicates, so two reads of the same state give byte-identical tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserAuthorization {
    pub roles: Vec<String>,
    pub groups: Vec<String>,
    /// The union of the permissions of the user's groups.
    pub permissions: Vec<String>,
    /// Each of the user's groups that grants permissions, with them (sorted).
    pub group_permissions: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessControlError {
    /// A role, group or permission with this name exists already (names are unique per kind).
    #[error("the {0} is already taken")]
    NameTaken(&'static str),
    /// The named role, group or permission (or the user) does not exist.
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AccessControlError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(what) => Self::NameTaken(what),
            other => Self::Store(other),
        }
    }
}

/// Administrative operations on roles, groups and permissions, and the read that feeds claims.
#[derive(Clone)]
pub struct AccessControl {
    repository: AccessControlRepository,
    clock: Arc<dyn Clock>,
}

impl AccessControl {
    pub fn new(repository: AccessControlRepository, clock: Arc<dyn Clock>) -> Self {
        Self { repository, clock }
    }

    pub async fn create_role(&self, name: &RoleName, description: Option<&str>) -> Result<RoleId, AccessControlError> {
        self.create(name, description).await.map(RoleId)
    }

    pub async fn create_group(
        &self,
        name: &GroupName,
        description: Option<&str>,
    ) -> Result<GroupId, AccessControlError> {
        self.create(name, description).await.map(GroupId)
    }

    pub async fn create_permission(
        &self,
        name: &PermissionName,
        description: Option<&str>,
    ) -> Result<PermissionId, AccessControlError> {
        self.create(name, description).await.map(PermissionId)
    }

    /// Creates a role, group or permission.
    pub async fn create<N: AccessName>(&self, name: &N, description: Option<&str>) -> Result<Uuid, AccessControlError> {
        let now = self.clock.now();
        Ok(self.repository.create(N::KIND, name.as_str(), description_of(description), now).await?)
    }

    /// One page of roles, groups or permissions by id, after `after`.
    pub async fn list(
        &self,
        kind: AccessKind,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<AccessEntry>, AccessControlError> {
        Ok(self.repository.list(kind, after, limit).await?)
    }

    pub async fn read<N: AccessName>(&self, name: &N) -> Result<AccessEntry, AccessControlError> {
        self.repository.find(N::KIND, name.as_str()).await?.ok_or(AccessControlError::NotFound(N::KIND.noun()))
    }

    /// Renames and/or re-describes. Links are by id, so a rename carries every assignment along;
    /// tokens issued before it still carry the old name until they expire.
    pub async fn update<N: AccessName>(
        &self,
        name: &N,
        new_name: Option<&N>,
        description: Option<Option<&str>>,
    ) -> Result<AccessEntry, AccessControlError> {
        let change = AccessChange {
            name: new_name.map(|n| n.as_str().to_owned()),
            description: description.map(|d| description_of(d).map(str::to_owned)),
        };
        self.repository
            .update(N::KIND, name.as_str(), &change)
            .await?
            .ok_or(AccessControlError::NotFound(N::KIND.noun()))
    }

    /// Deletes the record and every link to it.
    pub async fn delete<N: AccessName>(&self, name: &N) -> Result<(), AccessControlError> {
        if self.repository.delete(N::KIND, name.as_str()).await? {
            Ok(())
        } else {
            Err(AccessControlError::NotFound(N::KIND.noun()))
        }
    }

    /// One page of the group's members by user id, after `after`.
    pub async fn members(
        &self,
        group: &GroupName,
        after: Option<UserId>,
        limit: u64,
    ) -> Result<Vec<UserId>, AccessControlError> {
        let group = self.group_id(group).await?;
        Ok(self.repository.members(group, after, limit).await?)
    }

    /// Up to `limit` enabled users holding `role`.
    pub async fn enabled_holders(&self, role: &RoleName, limit: u64) -> Result<Vec<UserId>, AccessControlError> {
        Ok(self.repository.enabled_holders(role, limit).await?)
    }

    /// Gives `user` the role; giving it again is not an error.
    pub async fn assign_role(&self, user: UserId, role: &RoleName) -> Result<(), AccessControlError> {
        let role = self.role_id(role).await?;
        linked(self.repository.assign_role(user, role).await?, "user")
    }

    /// Takes the role away; returns whether the user had it.
    pub async fn remove_role(&self, user: UserId, role: &RoleName) -> Result<bool, AccessControlError> {
        let role = self.role_id(role).await?;
        Ok(self.repository.remove_role(user, role).await?)
    }

    /// Adds `user` to the group; adding them again is not an error.
    pub async fn add_to_group(&self, user: UserId, group: &GroupName) -> Result<(), AccessControlError> {
        let group = self.group_id(group).await?;
        linked(self.repository.add_to_group(user, group).await?, "user")
    }

    /// Returns whether the user was a member.
    pub async fn remove_from_group(&self, user: UserId, group: &GroupName) -> Result<bool, AccessControlError> {
        let group = self.group_id(group).await?;
        Ok(self.repository.remove_from_group(user, group).await?)
    }

    /// Grants the permission to every member of the group; granting it again is not an error.
    pub async fn grant_permission(
        &self,
        group: &GroupName,
        permission: &PermissionName,
    ) -> Result<(), AccessControlError> {
        let group = self.group_id(group).await?;
        let permission = self.permission_id(permission).await?;
        linked(self.repository.grant_permission(group, permission).await?, "group or permission")
    }

    /// Returns whether the group held the permission.
    pub async fn revoke_permission(
        &self,
        group: &GroupName,
        permission: &PermissionName,
    ) -> Result<bool, AccessControlError> {
        let group = self.group_id(group).await?;
        let permission = self.permission_id(permission).await?;
        Ok(self.repository.revoke_permission(group, permission).await?)
    }

    /// The roles, groups and (group-derived) permissions of a user; empty lists for an unknown user.
    pub async fn authorization_of(&self, user: UserId) -> Result<UserAuthorization, AccessControlError> {
        Ok(self.repository.authorization_of(user).await?)
    }

    async fn role_id(&self, name: &RoleName) -> Result<RoleId, AccessControlError> {
        self.repository.role_id(name).await?.ok_or(AccessControlError::NotFound("role"))
    }

    async fn group_id(&self, name: &GroupName) -> Result<GroupId, AccessControlError> {
        self.repository.group_id(name).await?.ok_or(AccessControlError::NotFound("group"))
    }

    async fn permission_id(&self, name: &PermissionName) -> Result<PermissionId, AccessControlError> {
        self.repository.permission_id(name).await?.ok_or(AccessControlError::NotFound("permission"))
    }
}

/// A blank description is no description.
fn description_of(description: Option<&str>) -> Option<&str> {
    description.map(str::trim).filter(|d| !d.is_empty())
}

/// A link to a user that does not exist (or to a record deleted between the name lookup and the
/// insert) is reported as `missing` rather than as a database failure.
fn linked(link: Link, missing: &'static str) -> Result<(), AccessControlError> {
    match link {
        Link::Created | Link::Existed => Ok(()),
        Link::Dangling => Err(AccessControlError::NotFound(missing)),
    }
}

/// The outcome of an idempotent link insert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Created,
    /// The same link was there already: not an error.
    Existed,
    /// One side does not exist (a foreign key rejected the row).
    Dangling,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_1_to_100_chars_of_a_narrow_alphabet() {
        for good in ["admin", "billing:invoices.read", "team-a_b", "A", &"x".repeat(100)] {
            assert_eq!(RoleName::parse(good).unwrap().as_str(), good);
        }
        assert_eq!(GroupName::parse(""), Err(NameError::Empty));
        assert_eq!(PermissionName::parse(&"x".repeat(101)), Err(NameError::TooLong));
        for bad in ["a b", " admin", "admin\n", "ädmin", "a/b", "a,b", "a\"b", "a*"] {
            assert_eq!(RoleName::parse(bad), Err(NameError::InvalidCharacter), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_unique_violation_becomes_name_taken() {
        let error = AccessControlError::from(StoreError::Conflict("role name"));
        assert!(matches!(error, AccessControlError::NameTaken("role name")));
        assert_eq!(error.to_string(), "the role name is already taken");
    }
}

//! Roles, groups and permissions and the links between them (users ↔ roles, users ↔ groups,
//! groups ↔ permissions). Links are idempotent: inserting one twice is a no-op.

use chrono::{DateTime, Utc};
use entity::{group_permissions, groups, permissions, roles, user_groups, user_roles};
use sea_orm::{
    ActiveValue::Set, DatabaseConnection, JoinType, QuerySelect, SqlErr, TryInsertResult, entity::prelude::*,
};

use super::on_unique_violation;
use crate::{
    accounts::{GroupId, GroupName, Link, PermissionId, PermissionName, RoleId, RoleName, UserAuthorization, UserId},
    store::StoreError,
};

#[derive(Clone, Debug)]
pub struct AccessControlRepository {
    db: DatabaseConnection,
}

impl AccessControlRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub async fn create_role(
        &self,
        name: &RoleName,
        description: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<RoleId, StoreError> {
        let id = RoleId::generate();
        roles::Entity::insert(roles::ActiveModel {
            id: Set(id.0),
            name: Set(name.as_str().to_owned()),
            description: Set(description.map(str::to_owned)),
            created_at: Set(now),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(on_unique_violation("role name"))?;
        Ok(id)
    }

    pub async fn create_group(
        &self,
        name: &GroupName,
        description: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<GroupId, StoreError> {
        let id = GroupId::generate();
        groups::Entity::insert(groups::ActiveModel {
            id: Set(id.0),
            name: Set(name.as_str().to_owned()),
            description: Set(description.map(str::to_owned)),
            created_at: Set(now),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(on_unique_violation("group name"))?;
        Ok(id)
    }

    pub async fn create_permission(
        &self,
        name: &PermissionName,
        description: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<PermissionId, StoreError> {
        let id = PermissionId::generate();
        permissions::Entity::insert(permissions::ActiveModel {
            id: Set(id.0),
            name: Set(name.as_str().to_owned()),
            description: Set(description.map(str::to_owned)),
            created_at: Set(now),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(on_unique_violation("permission name"))?;
        Ok(id)
    }

    pub async fn role_id(&self, name: &RoleName) -> Result<Option<RoleId>, StoreError> {
        let id: Option<Uuid> = roles::Entity::find()
            .select_only()
            .column(roles::Column::Id)
            .filter(roles::Column::Name.eq(name.as_str()))
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(id.map(RoleId))
    }

    pub async fn group_id(&self, name: &GroupName) -> Result<Option<GroupId>, StoreError> {
        let id: Option<Uuid> = groups::Entity::find()
            .select_only()
            .column(groups::Column::Id)
            .filter(groups::Column::Name.eq(name.as_str()))
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(id.map(GroupId))
    }

    pub async fn permission_id(&self, name: &PermissionName) -> Result<Option<PermissionId>, StoreError> {
        let id: Option<Uuid> = permissions::Entity::find()
            .select_only()
            .column(permissions::Column::Id)
            .filter(permissions::Column::Name.eq(name.as_str()))
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(id.map(PermissionId))
    }

    pub async fn assign_role(&self, user: UserId, role: RoleId) -> Result<Link, StoreError> {
        let insert = user_roles::Entity::insert(user_roles::ActiveModel { user_id: Set(user.0), role_id: Set(role.0) })
            .on_conflict_do_nothing_on([user_roles::Column::UserId, user_roles::Column::RoleId]);
        link_outcome(insert.exec_without_returning(&self.db).await)
    }

    /// Returns whether the user had the role.
    pub async fn remove_role(&self, user: UserId, role: RoleId) -> Result<bool, StoreError> {
        let result = user_roles::Entity::delete_many()
            .filter(user_roles::Column::UserId.eq(user.0))
            .filter(user_roles::Column::RoleId.eq(role.0))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected > 0)
    }

    pub async fn add_to_group(&self, user: UserId, group: GroupId) -> Result<Link, StoreError> {
        let insert =
            user_groups::Entity::insert(user_groups::ActiveModel { user_id: Set(user.0), group_id: Set(group.0) })
                .on_conflict_do_nothing_on([user_groups::Column::UserId, user_groups::Column::GroupId]);
        link_outcome(insert.exec_without_returning(&self.db).await)
    }

    /// Returns whether the user was a member.
    pub async fn remove_from_group(&self, user: UserId, group: GroupId) -> Result<bool, StoreError> {
        let result = user_groups::Entity::delete_many()
            .filter(user_groups::Column::UserId.eq(user.0))
            .filter(user_groups::Column::GroupId.eq(group.0))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected > 0)
    }

    pub async fn grant_permission(&self, group: GroupId, permission: PermissionId) -> Result<Link, StoreError> {
        let insert = group_permissions::Entity::insert(group_permissions::ActiveModel {
            group_id: Set(group.0),
            permission_id: Set(permission.0),
        })
        .on_conflict_do_nothing_on([group_permissions::Column::GroupId, group_permissions::Column::PermissionId]);
        link_outcome(insert.exec_without_returning(&self.db).await)
    }

    /// Returns whether the group held the permission.
    pub async fn revoke_permission(&self, group: GroupId, permission: PermissionId) -> Result<bool, StoreError> {
        let result = group_permissions::Entity::delete_many()
            .filter(group_permissions::Column::GroupId.eq(group.0))
            .filter(group_permissions::Column::PermissionId.eq(permission.0))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// Three queries whatever the number of roles, groups or permissions: one join per list.
    /// Sorting happens here rather than in SQL so that the order is by bytes on every backend
    /// (PostgreSQL's `ORDER BY` follows the database collation).
    pub async fn authorization_of(&self, user: UserId) -> Result<UserAuthorization, StoreError> {
        // roles ⋈ user_roles
        let roles = roles::Entity::find()
            .select_only()
            .column(roles::Column::Name)
            .join(JoinType::InnerJoin, roles::Relation::Links.def())
            .filter(user_roles::Column::UserId.eq(user.0))
            .into_tuple::<String>()
            .all(&self.db);
        // groups ⋈ user_groups
        let groups = groups::Entity::find()
            .select_only()
            .column(groups::Column::Name)
            .join(JoinType::InnerJoin, groups::Relation::Links.def())
            .filter(user_groups::Column::UserId.eq(user.0))
            .into_tuple::<String>()
            .all(&self.db);
        // permissions ⋈ group_permissions ⋈ groups ⋈ user_groups: a permission granted by two of
        // the user's groups comes back twice without DISTINCT.
        let permissions = permissions::Entity::find()
            .select_only()
            .column(permissions::Column::Name)
            .distinct()
            .join(JoinType::InnerJoin, permissions::Relation::Links.def())
            .join(JoinType::InnerJoin, group_permissions::Relation::Left.def())
            .join(JoinType::InnerJoin, groups::Relation::Links.def())
            .filter(user_groups::Column::UserId.eq(user.0))
            .into_tuple::<String>()
            .all(&self.db);
        let (roles, groups, permissions) = tokio::try_join!(roles, groups, permissions)?;
        Ok(UserAuthorization { roles: sorted(roles), groups: sorted(groups), permissions: sorted(permissions) })
    }
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort_unstable();
    names.dedup();
    names
}

/// `ON CONFLICT DO NOTHING` makes a repeated link a no-op; a missing side is a foreign-key
/// violation.
fn link_outcome(result: Result<TryInsertResult<u64>, DbErr>) -> Result<Link, StoreError> {
    match result {
        Ok(TryInsertResult::Inserted(rows)) if rows > 0 => Ok(Link::Created),
        Ok(_) => Ok(Link::Existed),
        Err(error) => match error.sql_err() {
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => Ok(Link::Dangling),
            _ => Err(StoreError::Database(error)),
        },
    }
}

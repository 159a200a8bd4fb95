//! Roles, groups and permissions and the links between them (users ↔ roles, users ↔ groups,
//! groups ↔ permissions). Links are idempotent: inserting one twice is a no-op.

use chrono::{DateTime, Utc};
use entity::{group_permissions, groups, permissions, roles, user_groups, user_roles, users};
use sea_orm::{
    ActiveValue::Set, DatabaseConnection, JoinType, QueryOrder, QuerySelect, SqlErr, TryInsertResult,
    entity::prelude::*,
};

use super::on_unique_violation;
use crate::{
    accounts::{
        AccessChange, AccessEntry, AccessKind, GroupId, GroupName, Link, PermissionId, PermissionName, RoleId,
        RoleName, UserAuthorization, UserId,
    },
    store::StoreError,
};

/// Runs `$body` with `$table` naming the entity module of `$kind`: the three tables have the
/// same columns, so one body serves all three.
macro_rules! per_table {
    ($kind:expr, $table:ident => $body:expr) => {
        match $kind {
            AccessKind::Role => {
                use roles as $table;
                $body
            }
            AccessKind::Group => {
                use groups as $table;
                $body
            }
            AccessKind::Permission => {
                use permissions as $table;
                $body
            }
        }
    };
}

macro_rules! entry {
    ($model:expr) => {{
        let model = $model;
        AccessEntry { id: model.id, name: model.name, description: model.description, created_at: model.created_at }
    }};
}

fn taken(kind: AccessKind) -> &'static str {
    match kind {
        AccessKind::Role => "role name",
        AccessKind::Group => "group name",
        AccessKind::Permission => "permission name",
    }
}

#[derive(Clone, Debug)]
pub struct AccessControlRepository {
    db: DatabaseConnection,
}

impl AccessControlRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Creates a role, group or permission; a taken name is [`StoreError::Conflict`].
    pub async fn create(
        &self,
        kind: AccessKind,
        name: &str,
        description: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Uuid, StoreError> {
        let id = Uuid::now_v7();
        per_table!(kind, table => table::Entity::insert(table::ActiveModel {
            id: Set(id),
            name: Set(name.to_owned()),
            description: Set(description.map(str::to_owned)),
            created_at: Set(now),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(on_unique_violation(taken(kind)))?);
        Ok(id)
    }

    /// Keyset paging by id.
    pub async fn list(
        &self,
        kind: AccessKind,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<AccessEntry>, StoreError> {
        per_table!(kind, table => {
            let mut select = table::Entity::find().order_by_asc(table::Column::Id).limit(limit);
            if let Some(after) = after {
                select = select.filter(table::Column::Id.gt(after));
            }
            Ok(select.all(&self.db).await?.into_iter().map(|m| entry!(m)).collect())
        })
    }

    pub async fn find(&self, kind: AccessKind, name: &str) -> Result<Option<AccessEntry>, StoreError> {
        per_table!(kind, table => Ok(table::Entity::find()
            .filter(table::Column::Name.eq(name))
            .one(&self.db)
            .await?
            .map(|m| entry!(m))))
    }

    /// Renames and/or describes; `None` when there is no such record. A taken new name is
    /// [`StoreError::Conflict`].
    pub async fn update(
        &self,
        kind: AccessKind,
        name: &str,
        change: &AccessChange,
    ) -> Result<Option<AccessEntry>, StoreError> {
        if change.name.is_none() && change.description.is_none() {
            // An UPDATE without a SET clause is not SQL.
            return self.find(kind, name).await;
        }
        let result = per_table!(kind, table => {
            let mut update = table::Entity::update_many().filter(table::Column::Name.eq(name));
            if let Some(new_name) = &change.name {
                update = update.col_expr(table::Column::Name, Expr::value(new_name.as_str()));
            }
            if let Some(description) = &change.description {
                update = update.col_expr(table::Column::Description, Expr::value(description.clone()));
            }
            update.exec(&self.db).await.map_err(on_unique_violation(taken(kind)))?
        });
        if result.rows_affected == 0 {
            return Ok(None);
        }
        self.find(kind, change.name.as_deref().unwrap_or(name)).await
    }

    /// Returns whether it existed. Its links go with it (`ON DELETE CASCADE`).
    pub async fn delete(&self, kind: AccessKind, name: &str) -> Result<bool, StoreError> {
        let result = per_table!(kind, table => table::Entity::delete_many()
            .filter(table::Column::Name.eq(name))
            .exec(&self.db)
            .await?);
        Ok(result.rows_affected > 0)
    }

    /// Up to `limit` enabled users holding the role, by id.
    pub async fn enabled_holders(&self, role: &RoleName, limit: u64) -> Result<Vec<UserId>, StoreError> {
        let ids: Vec<Uuid> = user_roles::Entity::find()
            .select_only()
            .column(user_roles::Column::UserId)
            .join(JoinType::InnerJoin, user_roles::Relation::Left.def())
            .join(JoinType::InnerJoin, user_roles::Relation::Right.def())
            .filter(roles::Column::Name.eq(role.as_str()))
            .filter(users::Column::Disabled.eq(false))
            .order_by_asc(user_roles::Column::UserId)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(ids.into_iter().map(UserId).collect())
    }

    /// The group's members by id, keyset paged.
    pub async fn members(&self, group: GroupId, after: Option<UserId>, limit: u64) -> Result<Vec<UserId>, StoreError> {
        let mut select = user_groups::Entity::find()
            .select_only()
            .column(user_groups::Column::UserId)
            .filter(user_groups::Column::GroupId.eq(group.0))
            .order_by_asc(user_groups::Column::UserId)
            .limit(limit);
        if let Some(after) = after {
            select = select.filter(user_groups::Column::UserId.gt(after.0));
        }
        let ids: Vec<Uuid> = select.into_tuple().all(&self.db).await?;
        Ok(ids.into_iter().map(UserId).collect())
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
        // permissions ⋈ group_permissions ⋈ groups ⋈ user_groups, with the group that grants each:
        // a permission granted by two of the user's groups comes back once per group.
        let permissions = permissions::Entity::find()
            .select_only()
            .column_as(groups::Column::Name, "group_name")
            .column_as(permissions::Column::Name, "permission_name")
            .join(JoinType::InnerJoin, permissions::Relation::Links.def())
            .join(JoinType::InnerJoin, group_permissions::Relation::Left.def())
            .join(JoinType::InnerJoin, groups::Relation::Links.def())
            .filter(user_groups::Column::UserId.eq(user.0))
            .into_tuple::<(String, String)>()
            .all(&self.db);
        let (roles, groups, granted) = tokio::try_join!(roles, groups, permissions)?;
        let mut group_permissions = std::collections::BTreeMap::<String, Vec<String>>::new();
        for (group, permission) in &granted {
            group_permissions.entry(group.clone()).or_default().push(permission.clone());
        }
        for names in group_permissions.values_mut() {
            *names = sorted(std::mem::take(names));
        }
        let permissions = sorted(granted.into_iter().map(|(_, permission)| permission).collect());
        Ok(UserAuthorization { roles: sorted(roles), groups: sorted(groups), permissions, group_permissions })
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
            _ => Err(StoreError::from(error)),
        },
    }
}

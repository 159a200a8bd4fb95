//! Roles, groups and permissions: users carry roles and groups; groups carry permissions.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261124_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, id, name) in [
            (Roles::Table.into_iden(), Roles::Id.into_iden(), Roles::Name.into_iden()),
            (Groups::Table.into_iden(), Groups::Id.into_iden(), Groups::Name.into_iden()),
            (Permissions::Table.into_iden(), Permissions::Id.into_iden(), Permissions::Name.into_iden()),
        ] {
            manager
                .create_table(
                    Table::create()
                        .table(table)
                        .col(pk_uuid(id))
                        .col(string_len_uniq(name, 100))
                        .col(text_null(Alias::new("description")))
                        .col(timestamp_with_time_zone(Alias::new("created_at")))
                        .to_owned(),
                )
                .await?;
        }

        link_table(manager, UserRoles::Table, (UserRoles::UserId, Users::Table), (UserRoles::RoleId, Roles::Table))
            .await?;
        link_table(
            manager,
            UserGroups::Table,
            (UserGroups::UserId, Users::Table),
            (UserGroups::GroupId, Groups::Table),
        )
        .await?;
        link_table(
            manager,
            GroupPermissions::Table,
            (GroupPermissions::GroupId, Groups::Table),
            (GroupPermissions::PermissionId, Permissions::Table),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            GroupPermissions::Table.into_iden(),
            UserGroups::Table.into_iden(),
            UserRoles::Table.into_iden(),
            Permissions::Table.into_iden(),
            Groups::Table.into_iden(),
            Roles::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// A many-to-many link whose rows disappear with either side.
async fn link_table(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    (left, left_table): (impl IntoIden, impl IntoIden),
    (right, right_table): (impl IntoIden, impl IntoIden),
) -> Result<(), DbErr> {
    let table = table.into_iden();
    let left = left.into_iden();
    let right = right.into_iden();
    manager
        .create_table(
            Table::create()
                .table(table.clone())
                .col(uuid(left.clone()))
                .col(uuid(right.clone()))
                .primary_key(Index::create().col(left.clone()).col(right.clone()))
                .foreign_key(
                    ForeignKey::create()
                        .from(table.clone(), left)
                        .to(left_table, Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(table, right)
                        .to(right_table, Alias::new("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Id,
    Name,
}

#[derive(DeriveIden)]
enum Groups {
    Table,
    Id,
    Name,
}

#[derive(DeriveIden)]
enum Permissions {
    Table,
    Id,
    Name,
}

#[derive(DeriveIden)]
enum UserRoles {
    Table,
    UserId,
    RoleId,
}

#[derive(DeriveIden)]
enum UserGroups {
    Table,
    UserId,
    GroupId,
}

#[derive(DeriveIden)]
enum GroupPermissions {
    Table,
    GroupId,
    PermissionId,
}

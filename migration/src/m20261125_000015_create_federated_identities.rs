//! Federated identities (issue 9): a user's accounts at upstream OpenID Connect providers such as
//! Google. An upstream subject belongs to at most one ferrid user per provider (OIDC Core §2:
//! `sub` is unique only within its issuer); a user may have several identities.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FederatedIdentities::Table)
                    .col(uuid(FederatedIdentities::Id).primary_key())
                    .col(string_len(FederatedIdentities::Provider, 64))
                    // OIDC Core §2: `sub` is at most 255 ASCII characters.
                    .col(string_len(FederatedIdentities::Subject, 255))
                    .col(uuid(FederatedIdentities::UserId))
                    .col(string_len_null(FederatedIdentities::Email, 254))
                    .col(timestamp_with_time_zone(FederatedIdentities::CreatedAt))
                    .col(timestamp_with_time_zone(FederatedIdentities::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(FederatedIdentities::Table, FederatedIdentities::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("federated_identities_by_subject")
                    .table(FederatedIdentities::Table)
                    .col(FederatedIdentities::Provider)
                    .col(FederatedIdentities::Subject)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("federated_identities_by_user")
                    .table(FederatedIdentities::Table)
                    .col(FederatedIdentities::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(FederatedIdentities::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum FederatedIdentities {
    Table,
    Id,
    Provider,
    Subject,
    UserId,
    Email,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

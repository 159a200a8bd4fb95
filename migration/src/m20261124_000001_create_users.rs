//! End users: one row per account, keyed by UUID, with a case-insensitively unique email.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_uuid(Users::Id))
                    .col(string_len(Users::Email, 254))
                    // Lower-cased copy that carries the uniqueness: portable across SQLite and
                    // PostgreSQL, unlike an index on an expression.
                    .col(string_len_uniq(Users::EmailNormalized, 254))
                    .col(boolean(Users::EmailVerified).default(false))
                    .col(text_null(Users::PasswordHash))
                    .col(string_len_null(Users::Name, 200))
                    .col(string_len_null(Users::Phone, 32))
                    .col(text_null(Users::Picture))
                    .col(string_len_null(Users::Locale, 35))
                    .col(boolean(Users::Disabled).default(false))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Users::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
pub(crate) enum Users {
    Table,
    Id,
    Email,
    EmailNormalized,
    EmailVerified,
    PasswordHash,
    Name,
    Phone,
    Picture,
    Locale,
    Disabled,
    CreatedAt,
    UpdatedAt,
}

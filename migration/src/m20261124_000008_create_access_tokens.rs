//! Access tokens that ferrid must look up rather than verify: opaque ones, and nested JWEs it
//! cannot decrypt (DESIGN §6). Only the SHA-256 of the token is stored.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AccessTokens::Table)
                    .col(string_len(AccessTokens::Digest, 64).primary_key())
                    .col(string_len_uniq(AccessTokens::Jti, 64))
                    .col(string_len(AccessTokens::ClientId, 64))
                    .col(string_len(AccessTokens::Subject, 64))
                    .col(text(AccessTokens::Scope))
                    .col(json(AccessTokens::Audience))
                    .col(timestamp_with_time_zone(AccessTokens::IssuedAt))
                    .col(timestamp_with_time_zone(AccessTokens::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("access_tokens_by_expiry")
                    .table(AccessTokens::Table)
                    .col(AccessTokens::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AccessTokens::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum AccessTokens {
    Table,
    Digest,
    Jti,
    ClientId,
    Subject,
    Scope,
    Audience,
    IssuedAt,
    ExpiresAt,
}

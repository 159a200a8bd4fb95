//! Browser sessions at the OP, remembered consents, and refresh tokens (stored as digests, one
//! family per original grant so that reuse of a rotated token can revoke the family).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261124_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    // SHA-256 of the cookie value: the cookie itself is never stored.
                    .col(string_len(Sessions::Id, 64).primary_key())
                    .col(string_len_uniq(Sessions::Sid, 64))
                    .col(uuid(Sessions::UserId))
                    .col(timestamp_with_time_zone(Sessions::AuthTime))
                    .col(json(Sessions::Amr))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::LastSeenAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .col(string_len_null(Sessions::Ip, 64))
                    .col(text_null(Sessions::UserAgent))
                    .col(timestamp_with_time_zone_null(Sessions::EndedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("sessions_by_user").table(Sessions::Table).col(Sessions::UserId).to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Consents::Table)
                    .col(uuid(Consents::UserId))
                    .col(string_len(Consents::ClientId, 64))
                    .col(text(Consents::Scope))
                    .col(timestamp_with_time_zone(Consents::GrantedAt))
                    .primary_key(Index::create().col(Consents::UserId).col(Consents::ClientId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Consents::Table, Consents::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Consents::Table, Consents::ClientId)
                            .to(Clients::Table, Clients::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    // SHA-256 of the token: the token itself is never stored.
                    .col(string_len(RefreshTokens::Id, 64).primary_key())
                    .col(string_len(RefreshTokens::FamilyId, 64))
                    .col(string_len(RefreshTokens::ClientId, 64))
                    .col(uuid(RefreshTokens::UserId))
                    .col(text(RefreshTokens::Scope))
                    .col(string_len_null(RefreshTokens::Sid, 64))
                    .col(timestamp_with_time_zone(RefreshTokens::AuthTime))
                    .col(json(RefreshTokens::Amr))
                    .col(timestamp_with_time_zone(RefreshTokens::IssuedAt))
                    .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                    .col(timestamp_with_time_zone(RefreshTokens::FamilyExpiresAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::RotatedAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RefreshTokens::Table, RefreshTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(RefreshTokens::Table, RefreshTokens::ClientId)
                            .to(Clients::Table, Clients::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in
            [("refresh_tokens_by_family", RefreshTokens::FamilyId), ("refresh_tokens_by_user", RefreshTokens::UserId)]
        {
            manager.create_index(Index::create().name(name).table(RefreshTokens::Table).col(column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [RefreshTokens::Table.into_iden(), Consents::Table.into_iden(), Sessions::Table.into_iden()] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    Sid,
    UserId,
    AuthTime,
    Amr,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    Ip,
    UserAgent,
    EndedAt,
}

#[derive(DeriveIden)]
enum Consents {
    Table,
    UserId,
    ClientId,
    Scope,
    GrantedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    FamilyId,
    ClientId,
    UserId,
    Scope,
    Sid,
    AuthTime,
    Amr,
    IssuedAt,
    ExpiresAt,
    FamilyExpiresAt,
    RotatedAt,
    RevokedAt,
}

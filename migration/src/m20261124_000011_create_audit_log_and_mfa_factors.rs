//! The audit log (who changed what, when, from where, and whether it worked) and the table of
//! users' second factors, which administrators can reset.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(uuid(AuditEvents::Id).primary_key())
                    .col(timestamp_with_time_zone(AuditEvents::OccurredAt))
                    .col(string_len(AuditEvents::Kind, 64))
                    .col(string_len(AuditEvents::Outcome, 16))
                    .col(string_len_null(AuditEvents::ActorUserId, 64))
                    .col(string_len_null(AuditEvents::ActorClientId, 64))
                    .col(uuid_null(AuditEvents::SubjectUserId))
                    .col(string_len_null(AuditEvents::ClientId, 64))
                    .col(string_len_null(AuditEvents::Target, 200))
                    .col(string_len_null(AuditEvents::Ip, 64))
                    .col(string_len_null(AuditEvents::UserAgent, 512))
                    .col(json_null(AuditEvents::Details))
                    .to_owned(),
            )
            .await?;
        // Every query reads newest first within one filter; ids are UUIDv7, so they sort by time
        // and `(filter, id)` serves both the filter and the order (the primary key serves none).
        for (name, column) in [
            ("audit_events_by_subject", AuditEvents::SubjectUserId),
            ("audit_events_by_client", AuditEvents::ClientId),
            ("audit_events_by_kind", AuditEvents::Kind),
        ] {
            manager
                .create_index(
                    Index::create().name(name).table(AuditEvents::Table).col(column).col(AuditEvents::Id).to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(MfaFactors::Table)
                    .col(uuid(MfaFactors::Id).primary_key())
                    .col(uuid(MfaFactors::UserId))
                    .col(string_len(MfaFactors::Kind, 16))
                    .col(blob_null(MfaFactors::SealedSecret))
                    .col(string_len_null(MfaFactors::Digest, 128))
                    .col(timestamp_with_time_zone(MfaFactors::CreatedAt))
                    .col(timestamp_with_time_zone_null(MfaFactors::ConfirmedAt))
                    .col(timestamp_with_time_zone_null(MfaFactors::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(MfaFactors::Table, MfaFactors::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("mfa_factors_by_user").table(MfaFactors::Table).col(MfaFactors::UserId).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(MfaFactors::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(AuditEvents::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    OccurredAt,
    Kind,
    Outcome,
    ActorUserId,
    ActorClientId,
    SubjectUserId,
    ClientId,
    Target,
    Ip,
    UserAgent,
    Details,
}

#[derive(DeriveIden)]
enum MfaFactors {
    Table,
    Id,
    UserId,
    Kind,
    SealedSecret,
    Digest,
    CreatedAt,
    ConfirmedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

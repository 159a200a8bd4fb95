//! The key ring: every signing and encryption key, its lifecycle state, its public JWK, and its
//! private part sealed with AES-256-GCM under the key-encryption key (never stored in clear).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KeyRing::Table)
                    .col(string_len(KeyRing::Kid, 64).primary_key())
                    .col(string_len(KeyRing::Alg, 32))
                    .col(string_len(KeyRing::KeyUse, 8))
                    .col(string_len(KeyRing::State, 16))
                    .col(json(KeyRing::PublicJwk))
                    .col(blob(KeyRing::SealedPrivate))
                    .col(timestamp_with_time_zone(KeyRing::CreatedAt))
                    .col(timestamp_with_time_zone_null(KeyRing::ActivatedAt))
                    .col(timestamp_with_time_zone_null(KeyRing::RetiredAt))
                    .col(timestamp_with_time_zone_null(KeyRing::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        // Cluster safety: at most one `next` and one `active` key per algorithm, whichever node
        // writes first. Partial unique indexes read the same on SQLite and PostgreSQL.
        let connection = manager.get_connection();
        for state in ["next", "active"] {
            connection
                .execute_unprepared(&format!(
                    "CREATE UNIQUE INDEX key_ring_one_{state}_per_alg ON key_ring (alg) WHERE state = '{state}'"
                ))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(KeyRing::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum KeyRing {
    Table,
    Kid,
    Alg,
    KeyUse,
    State,
    PublicJwk,
    SealedPrivate,
    CreatedAt,
    ActivatedAt,
    RetiredAt,
    ExpiresAt,
}

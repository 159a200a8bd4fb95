//! Dynamic client registration (RFC 7591 §3.2.1, RFC 7592 §3): the digest of each registered
//! client's registration access token.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(string_len_null(Clients::RegistrationTokenDigest, 128))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Clients::Table).drop_column(Clients::RegistrationTokenDigest).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    RegistrationTokenDigest,
}

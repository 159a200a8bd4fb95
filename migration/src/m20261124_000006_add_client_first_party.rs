//! First-party clients (the operator's own apps) skip the consent screen.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(Clients::Table).add_column(boolean(Clients::FirstParty).default(false)).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Clients::Table).drop_column(Clients::FirstParty).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    FirstParty,
}

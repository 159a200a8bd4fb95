//! Whether a refresh re-issues the ID token (OIDC Core §12.2 allows omitting it). Existing
//! clients keep receiving it.

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
                    .add_column(boolean(Clients::IdTokenOnRefresh).default(true))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Clients::Table).drop_column(Clients::IdTokenOnRefresh).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    IdTokenOnRefresh,
}

//! Encrypted UserInfo responses per client (OIDC Registration §2 `userinfo_encrypted_response_*`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for column in [Clients::UserinfoEncryptedResponseAlg, Clients::UserinfoEncryptedResponseEnc] {
            manager
                .alter_table(Table::alter().table(Clients::Table).add_column(string_len_null(column, 32)).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Clients::UserinfoEncryptedResponseEnc, Clients::UserinfoEncryptedResponseAlg] {
            manager.alter_table(Table::alter().table(Clients::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    UserinfoEncryptedResponseAlg,
    UserinfoEncryptedResponseEnc,
}

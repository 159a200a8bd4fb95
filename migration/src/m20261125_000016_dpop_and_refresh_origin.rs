//! DPoP (RFC 9449) and the suspicious-refresh policy (issue 8 item 6): a client may require
//! DPoP for every token request (§5.2) and chooses what a refresh from a new network or user
//! agent leads to; a refresh token family remembers the DPoP key it is bound to (§5), and an
//! opaque or JWE access token the key it is bound to (§6), since ferrid cannot read it back.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for column in [
            boolean(Clients::DpopBoundAccessTokens).default(false).to_owned(),
            string_len(Clients::RefreshOriginPolicy, 16).default("allow").to_owned(),
        ] {
            manager.alter_table(Table::alter().table(Clients::Table).add_column(column).to_owned()).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .add_column(string_len_null(RefreshTokens::DpopJkt, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter().table(AccessTokens::Table).add_column(string_len_null(AccessTokens::Jkt, 64)).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(AccessTokens::Table).drop_column(AccessTokens::Jkt).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table(RefreshTokens::Table).drop_column(RefreshTokens::DpopJkt).to_owned())
            .await?;
        for column in [Clients::RefreshOriginPolicy, Clients::DpopBoundAccessTokens] {
            manager.alter_table(Table::alter().table(Clients::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    DpopBoundAccessTokens,
    RefreshOriginPolicy,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    DpopJkt,
}

#[derive(DeriveIden)]
enum AccessTokens {
    Table,
    Jkt,
}

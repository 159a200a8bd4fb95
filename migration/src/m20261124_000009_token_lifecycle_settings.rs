//! Per-client token lifecycle settings: access-token encryption, back-channel logout (OIDC
//! Back-Channel Logout 1.0 §2.2), code and refresh idle lifetimes and the reuse grace window.
//! Lifetimes become overrides: NULL means "the global default", so existing values equal to the
//! old built-in defaults are cleared. Refresh tokens remember where they were issued.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The lifetime columns that turn nullable, with the built-in default each used to hold.
const LIFETIMES: [(Clients, i32); 3] = [
    (Clients::AccessTokenLifetimeSecs, 900),
    (Clients::IdTokenLifetimeSecs, 3600),
    (Clients::RefreshTokenLifetimeSecs, 30 * 24 * 3600),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for column in [
            string_len_null(Clients::AccessTokenEncryptedResponseAlg, 32),
            string_len_null(Clients::AccessTokenEncryptedResponseEnc, 32),
            text_null(Clients::BackchannelLogoutUri),
            boolean(Clients::BackchannelLogoutSessionRequired).default(false).to_owned(),
            integer_null(Clients::CodeLifetimeSecs),
            integer_null(Clients::RefreshTokenIdleSecs),
            integer(Clients::RefreshTokenReuseGraceSecs).default(0).to_owned(),
        ] {
            manager.alter_table(Table::alter().table(Clients::Table).add_column(column).to_owned()).await?;
        }
        for column in [string_len_null(RefreshTokens::Ip, 64), text_null(RefreshTokens::UserAgent)] {
            manager.alter_table(Table::alter().table(RefreshTokens::Table).add_column(column).to_owned()).await?;
        }
        for (column, default) in LIFETIMES {
            change_nullability(manager, column, default, true).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (column, default) in LIFETIMES {
            change_nullability(manager, column, default, false).await?;
        }
        for column in [RefreshTokens::UserAgent, RefreshTokens::Ip] {
            manager.alter_table(Table::alter().table(RefreshTokens::Table).drop_column(column).to_owned()).await?;
        }
        for column in [
            Clients::RefreshTokenReuseGraceSecs,
            Clients::RefreshTokenIdleSecs,
            Clients::CodeLifetimeSecs,
            Clients::BackchannelLogoutSessionRequired,
            Clients::BackchannelLogoutUri,
            Clients::AccessTokenEncryptedResponseEnc,
            Clients::AccessTokenEncryptedResponseAlg,
        ] {
            manager.alter_table(Table::alter().table(Clients::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

/// Makes a lifetime column of `clients` an override (nullable; the old built-in `default` becomes
/// NULL) or back a plain value (NULL becomes `default`). PostgreSQL alters the column in place;
/// SQLite cannot, so the values move through a staging column that then takes the old one's
/// name — in one script, so that every step runs on one pooled connection and sees the last.
async fn change_nullability(
    manager: &SchemaManager<'_>,
    column: Clients,
    default: i32,
    nullable: bool,
) -> Result<(), DbErr> {
    let name = column.to_string();
    let values =
        if nullable { format!(r#"NULLIF("{name}", {default})"#) } else { format!(r#"COALESCE("{name}", {default})"#) };
    let mut definition = ColumnDef::new(column);
    definition.integer();
    if nullable {
        definition.null();
    } else {
        definition.not_null().default(0);
    }
    let connection = manager.get_connection();
    if manager.get_database_backend() != DatabaseBackend::Sqlite {
        if !nullable {
            connection.execute_unprepared(&format!(r#"UPDATE "clients" SET "{name}" = {values}"#)).await?;
        }
        manager.alter_table(Table::alter().table(Clients::Table).modify_column(definition).to_owned()).await?;
        if nullable {
            connection.execute_unprepared(&format!(r#"UPDATE "clients" SET "{name}" = {values}"#)).await?;
        }
        return Ok(());
    }
    let constraint = if nullable { "NULL" } else { "NOT NULL DEFAULT 0" };
    let script = format!(
        r#"ALTER TABLE "clients" ADD COLUMN "{name}_staging" integer {constraint};
           UPDATE "clients" SET "{name}_staging" = {values};
           ALTER TABLE "clients" DROP COLUMN "{name}";
           ALTER TABLE "clients" RENAME COLUMN "{name}_staging" TO "{name}";"#
    );
    connection.execute_unprepared(&script).await.map(drop)
}

#[derive(DeriveIden, Clone, Copy)]
enum Clients {
    Table,
    AccessTokenEncryptedResponseAlg,
    AccessTokenEncryptedResponseEnc,
    BackchannelLogoutUri,
    BackchannelLogoutSessionRequired,
    CodeLifetimeSecs,
    RefreshTokenIdleSecs,
    RefreshTokenReuseGraceSecs,
    AccessTokenLifetimeSecs,
    IdTokenLifetimeSecs,
    RefreshTokenLifetimeSecs,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Ip,
    UserAgent,
}

//! Registered OAuth clients (relying parties). Secrets are stored only as digests.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Clients::Table)
                    .col(string_len(Clients::Id, 64).primary_key())
                    .col(string_len(Clients::Name, 200))
                    .col(string_len(Clients::ClientType, 16))
                    .col(string_len_null(Clients::SecretDigest, 128))
                    .col(json(Clients::RedirectUris))
                    .col(json(Clients::PostLogoutRedirectUris))
                    .col(json(Clients::GrantTypes))
                    .col(json(Clients::ResponseTypes))
                    .col(string_len(Clients::TokenEndpointAuthMethod, 32))
                    .col(json(Clients::AllowedScopes))
                    .col(json_null(Clients::Jwks))
                    .col(text_null(Clients::JwksUri))
                    .col(boolean(Clients::RequirePkce).default(true))
                    .col(string_len(Clients::IdTokenSignedResponseAlg, 16))
                    .col(string_len_null(Clients::IdTokenEncryptedResponseAlg, 32))
                    .col(string_len_null(Clients::IdTokenEncryptedResponseEnc, 32))
                    .col(string_len_null(Clients::UserinfoSignedResponseAlg, 16))
                    .col(string_len(Clients::AccessTokenFormat, 16))
                    .col(string_len(Clients::AccessTokenSignedResponseAlg, 16))
                    .col(integer(Clients::AccessTokenLifetimeSecs))
                    .col(integer(Clients::IdTokenLifetimeSecs))
                    .col(integer(Clients::RefreshTokenLifetimeSecs))
                    .col(timestamp_with_time_zone(Clients::CreatedAt))
                    .col(timestamp_with_time_zone(Clients::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Clients::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    Id,
    Name,
    ClientType,
    SecretDigest,
    RedirectUris,
    PostLogoutRedirectUris,
    GrantTypes,
    ResponseTypes,
    TokenEndpointAuthMethod,
    AllowedScopes,
    Jwks,
    JwksUri,
    RequirePkce,
    IdTokenSignedResponseAlg,
    IdTokenEncryptedResponseAlg,
    IdTokenEncryptedResponseEnc,
    UserinfoSignedResponseAlg,
    AccessTokenFormat,
    AccessTokenSignedResponseAlg,
    AccessTokenLifetimeSecs,
    IdTokenLifetimeSecs,
    RefreshTokenLifetimeSecs,
    CreatedAt,
    UpdatedAt,
}

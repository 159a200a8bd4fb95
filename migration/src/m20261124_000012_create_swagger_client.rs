//! The built-in public client behind /swagger's Authorize button: authorization code + PKCE,
//! no secret (RFC 6749 §2.1, RFC 9700 §2.1.1). A migration cannot know the issuer, so the
//! redirect URI is stored issuer-relative and resolved by the client store when it loads the
//! row; RFC 7591 registration, the CLI and the admin API keep refusing relative URIs.

use sea_orm_migration::{prelude::*, sea_orm::sea_query::Value};

#[derive(DeriveMigrationName)]
pub struct Migration;

pub const CLIENT_ID: &str = "ferrid-swagger";

fn list(values: &[&str]) -> Value {
    Value::Json(Some(Box::new(serde_json::json!(values))))
}

/// A client that ships with ferrid: public (no secret), JWT access tokens.
pub(crate) struct BuiltInClient<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub redirect_uris: &'a [&'a str],
    pub grant_types: &'a [&'a str],
    pub response_types: &'a [&'a str],
    pub allowed_scopes: &'a [&'a str],
    pub first_party: bool,
}

impl BuiltInClient<'_> {
    pub(crate) async fn insert(&self, manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        #[allow(clippy::disallowed_methods, reason = "a migration runs once, outside any request: no Clock to ask")]
        let now = chrono::Utc::now();
        let row: [(Clients, SimpleExpr); 17] = [
            (Clients::Id, self.id.into()),
            (Clients::Name, self.name.into()),
            (Clients::ClientType, "public".into()),
            (Clients::RedirectUris, list(self.redirect_uris).into()),
            (Clients::PostLogoutRedirectUris, list(&[]).into()),
            (Clients::GrantTypes, list(self.grant_types).into()),
            (Clients::ResponseTypes, list(self.response_types).into()),
            (Clients::TokenEndpointAuthMethod, "none".into()),
            (Clients::AllowedScopes, list(self.allowed_scopes).into()),
            (Clients::RequirePkce, true.into()),
            (Clients::IdTokenSignedResponseAlg, "RS256".into()),
            (Clients::AccessTokenFormat, "jwt".into()),
            (Clients::AccessTokenSignedResponseAlg, "ES256".into()),
            (Clients::FirstParty, self.first_party.into()),
            (Clients::RefreshTokenReuseGraceSecs, 0.into()),
            (Clients::CreatedAt, now.into()),
            (Clients::UpdatedAt, now.into()),
        ];
        let (columns, values): (Vec<_>, Vec<_>) = row.into_iter().unzip();
        let insert = Query::insert()
            .into_table(Clients::Table)
            .columns(columns)
            .values(values)
            .map_err(|e| DbErr::Custom(e.to_string()))?
            .to_owned();
        manager.exec_stmt(insert).await
    }

    /// Its sessions' grants and refresh tokens go with it (ON DELETE CASCADE).
    pub(crate) async fn delete(id: &str, manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        manager
            .exec_stmt(Query::delete().from_table(Clients::Table).and_where(Expr::col(Clients::Id).eq(id)).to_owned())
            .await
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // `ferrid:admin` is granted only to users holding the admin role, so allowing it here
        // gives nobody more than they already have.
        BuiltInClient {
            id: CLIENT_ID,
            name: "Swagger UI",
            redirect_uris: &["/swagger/oauth-receiver.html"],
            grant_types: &["authorization_code"],
            response_types: &["code"],
            allowed_scopes: &["openid", "profile", "email", "ferrid:admin"],
            first_party: false,
        }
        .insert(manager)
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        BuiltInClient::delete(CLIENT_ID, manager).await
    }
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    Id,
    Name,
    ClientType,
    RedirectUris,
    PostLogoutRedirectUris,
    GrantTypes,
    ResponseTypes,
    TokenEndpointAuthMethod,
    AllowedScopes,
    RequirePkce,
    IdTokenSignedResponseAlg,
    AccessTokenFormat,
    AccessTokenSignedResponseAlg,
    FirstParty,
    RefreshTokenReuseGraceSecs,
    CreatedAt,
    UpdatedAt,
}

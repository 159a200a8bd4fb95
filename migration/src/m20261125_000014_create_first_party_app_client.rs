//! The built-in first-party client behind the JSON login API (`/api/auth/...`, issue 7): the
//! refresh tokens that API keeps in its HttpOnly cookie belong to it, so they live in the same
//! refresh families, with the same rotation and reuse detection, as any client's. It has no
//! redirect URI and no response type: it can never run /authorize, and its refresh tokens are
//! only ever handed out in that cookie.

use sea_orm_migration::prelude::*;

use crate::m20261124_000012_create_swagger_client::BuiltInClient;

#[derive(DeriveMigrationName)]
pub struct Migration;

pub const CLIENT_ID: &str = "ferrid-app";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        BuiltInClient {
            id: CLIENT_ID,
            name: "ferrid",
            redirect_uris: &[],
            grant_types: &["refresh_token"],
            response_types: &[],
            allowed_scopes: &["openid", "profile", "email", "offline_access"],
            first_party: true,
        }
        .insert(manager)
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        BuiltInClient::delete(CLIENT_ID, manager).await
    }
}

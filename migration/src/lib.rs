//! ferrid's schema, as an ordered list of SeaORM migrations.
//!
//! Every migration has a working `down`, so `ferrid migrate down` can walk the schema back one
//! step at a time; a test runs up → down → up on SQLite and PostgreSQL.

pub use m20261124_000012_create_swagger_client::CLIENT_ID as SWAGGER_CLIENT_ID;
pub use m20261125_000014_create_first_party_app_client::CLIENT_ID as FIRST_PARTY_APP_CLIENT_ID;
pub use sea_orm_migration::MigrationStatus;
pub use sea_orm_migration::prelude::*;

mod m20261124_000001_create_users;
mod m20261124_000002_create_clients;
mod m20261124_000003_create_access_control;
mod m20261124_000004_create_key_ring;
mod m20261124_000005_create_sessions_and_grants;
mod m20261124_000006_add_client_first_party;
mod m20261124_000007_add_userinfo_encryption;
mod m20261124_000008_create_access_tokens;
mod m20261124_000009_token_lifecycle_settings;
mod m20261124_000010_add_client_registration_token;
mod m20261124_000011_create_audit_log_and_mfa_factors;
mod m20261124_000012_create_swagger_client;
mod m20261124_000013_create_mail_outbox;
mod m20261125_000014_create_first_party_app_client;
mod m20261125_000015_create_federated_identities;
mod m20261125_000016_dpop_and_refresh_origin;
mod m20261125_000017_id_token_on_refresh;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_create_users::Migration),
            Box::new(m20261124_000002_create_clients::Migration),
            Box::new(m20261124_000003_create_access_control::Migration),
            Box::new(m20261124_000004_create_key_ring::Migration),
            Box::new(m20261124_000005_create_sessions_and_grants::Migration),
            Box::new(m20261124_000006_add_client_first_party::Migration),
            Box::new(m20261124_000007_add_userinfo_encryption::Migration),
            Box::new(m20261124_000008_create_access_tokens::Migration),
            Box::new(m20261124_000009_token_lifecycle_settings::Migration),
            Box::new(m20261124_000010_add_client_registration_token::Migration),
            Box::new(m20261124_000011_create_audit_log_and_mfa_factors::Migration),
            Box::new(m20261124_000012_create_swagger_client::Migration),
            Box::new(m20261124_000013_create_mail_outbox::Migration),
            Box::new(m20261125_000014_create_first_party_app_client::Migration),
            Box::new(m20261125_000015_create_federated_identities::Migration),
            Box::new(m20261125_000016_dpop_and_refresh_origin::Migration),
            Box::new(m20261125_000017_id_token_on_refresh::Migration),
        ]
    }
}

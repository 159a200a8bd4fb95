//! SeaORM repositories: the only code that reads or writes SQL tables. They run unchanged on
//! SQLite and PostgreSQL.

mod access_control;
mod access_tokens;
mod audit;
mod clients;
mod consents;
mod federated_identities;
mod key_ring;
mod mail_outbox;
mod mfa_factors;
mod refresh_tokens;
mod sessions;
mod users;
mod writer;

pub use access_control::AccessControlRepository;
pub use access_tokens::AccessTokenRepository;
pub use audit::AuditRepository;
pub use clients::ClientRepository;
pub use consents::ConsentRepository;
pub use federated_identities::FederatedIdentityRepository;
pub use key_ring::SqlKeyStore;
pub use mail_outbox::MailOutboxRepository;
pub use mfa_factors::MfaFactorRepository;
pub use refresh_tokens::{FamilySignIn, GrantSummary, RefreshTokenRepository};
pub use sessions::{SessionRepository, SessionSummary, SignInRecord};
pub use users::UserRepository;
pub use writer::Writer;

use sea_orm::{DbErr, SqlErr};

use super::StoreError;

/// Turns a unique-constraint violation into [`StoreError::Conflict`] naming `what`.
fn on_unique_violation(what: &'static str) -> impl FnOnce(DbErr) -> StoreError {
    move |error| match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(what),
        _ => StoreError::from(error),
    }
}

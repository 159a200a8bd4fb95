//! SeaORM entities, one module per table. These are storage shapes only: `src/store/` maps them
//! to domain types, and they never appear on the wire.

pub mod access_tokens;
pub mod audit_events;
pub mod clients;
pub mod consents;
pub mod federated_identities;
pub mod group_permissions;
pub mod groups;
pub mod key_ring;
pub mod mail_outbox;
pub mod mfa_factors;
pub mod permissions;
pub mod refresh_tokens;
pub mod roles;
pub mod sessions;
pub mod user_groups;
pub mod user_roles;
pub mod users;

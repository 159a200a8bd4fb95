//! Storage adapters. SeaORM (SQLite or PostgreSQL) holds durable records; the short-lived store
//! (in-process or Redis) holds values with a TTL. This module owns the mapping between entities
//! and domain types, so neither the wire nor the domain sees SQL.

pub mod database;
pub mod group_commit;
pub mod short_lived;
pub mod sql;

pub use database::Database;
pub use short_lived::{Counter, ShortLivedStore};

/// Storage failures, converted once at the domain edge.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint rejected the write (e.g. an email that is already registered).
    #[error("a record with the same {0} already exists")]
    Conflict(&'static str),
    /// The backend cannot be reached; callers answer 503 rather than 500.
    #[error("{backend} is unavailable: {detail}")]
    Unavailable { backend: &'static str, detail: String },
    /// A stored value does not map onto the domain (corrupt or from a newer version).
    #[error("stored {0} is malformed")]
    Malformed(&'static str),
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
}

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
    Database(sea_orm::DbErr),
}

/// The one place a database error is judged: a database that cannot be reached (refused or
/// dropped connections, an exhausted pool, a server shutting down or starting up) is
/// [`StoreError::Unavailable`], so callers answer 503 and clients retry; anything else is a bug
/// or a constraint and stays [`StoreError::Database`].
impl From<sea_orm::DbErr> for StoreError {
    fn from(error: sea_orm::DbErr) -> Self {
        if is_connection_failure(&error) {
            Self::Unavailable { backend: "database", detail: error.to_string() }
        } else {
            Self::Database(error)
        }
    }
}

fn is_connection_failure(error: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr, sqlx::Error};
    let sqlx = match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(sqlx)) | DbErr::Query(RuntimeErr::SqlxError(sqlx)) => sqlx,
        _ => return false,
    };
    match sqlx.as_ref() {
        Error::Io(_) | Error::Tls(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed => true,
        // SQLSTATE class 08 (connection exception) and 57P (operator intervention: shutdown,
        // crash recovery, "cannot connect now" while starting).
        Error::Database(database) => {
            database.code().is_some_and(|code| code.starts_with("08") || code.starts_with("57P"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr, sqlx};

    use super::*;

    #[test]
    fn an_unreachable_database_is_unavailable_and_other_failures_are_not() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let unreachable = [
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(sqlx::Error::Io(refused)))),
            DbErr::Exec(RuntimeErr::SqlxError(std::sync::Arc::new(sqlx::Error::PoolTimedOut))),
        ];
        for error in unreachable {
            assert!(matches!(StoreError::from(error), StoreError::Unavailable { backend: "database", .. }));
        }
        let bug = DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(sqlx::Error::RowNotFound)));
        assert!(matches!(StoreError::from(bug), StoreError::Database(_)));
        assert!(matches!(StoreError::from(DbErr::RecordNotUpdated), StoreError::Database(_)));
    }
}

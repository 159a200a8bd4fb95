//! The SQL connection pool, migrations and the readiness probe.

use std::{path::Path, sync::Arc, time::Duration};

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, DatabaseConnection};

use super::StoreError;
use crate::{
    config::Sensitive,
    metrics::{Metrics, PoolUsage, StoreKind},
};

/// A migration and whether it has been applied, for `ferrid migrate status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationState {
    pub name: String,
    pub applied: bool,
}

/// How long a query waits for a connection. A healthy pool hands one out in milliseconds; while
/// the database is down, sqlx keeps retrying a refused connection until this deadline, so it is
/// also how long each query of a request waits before the request is answered 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Debug)]
pub struct Database {
    connection: DatabaseConnection,
    /// A connection of its own for the writer, or none when the pool is the writer (see
    /// [`Database::writer`]).
    writer: Option<DatabaseConnection>,
}

impl Database {
    /// Opens the pool, and for a SQLite file the [writer](Database::writer) too. For SQLite the
    /// parent folder is created first so that the embedded default works on a fresh clone.
    pub async fn connect(url: &Sensitive, max_connections: u32) -> Result<Self, StoreError> {
        let url = url.expose();
        if let Some(path) = sqlite_path(url)
            && let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Unavailable {
                backend: "database",
                detail: format!("cannot create {}: {e}", parent.display()),
            })?;
        }
        let connection = open(url, max_connections).await?;
        // A file has one writer at a time; an in-memory database exists only in its pool, and a
        // pool of one connection is its own writer.
        let writer = if sqlite_path(url).is_some() && max_connections > 1 { Some(open(url, 1).await?) } else { None };
        Ok(Self { connection, writer })
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.connection
    }

    /// The connection the busiest tables are written through: refresh tokens and audit records,
    /// whose writes arriving together are group-committed (`store::sql::Writer`). On a SQLite
    /// file it is a connection of its own, so those writers take turns in-process: sharing the
    /// pool, they met on SQLite's write lock, whose busy handler sleeps 1 to 100 ms before each
    /// retry, and every commit by another connection emptied their page cache. Elsewhere (and
    /// for a pool of one) it is the pool.
    pub fn writer(&self) -> &DatabaseConnection {
        self.writer.as_ref().unwrap_or(&self.connection)
    }

    /// Counts every failed statement in `ferrid_store_errors_total{store="database"}` by its
    /// class. Call before the connection is cloned: clones made earlier do not report.
    pub fn report_failures_to(&mut self, metrics: Arc<Metrics>) {
        for connection in std::iter::once(&mut self.connection).chain(self.writer.as_mut()) {
            let metrics = metrics.clone();
            connection.set_metric_callback(move |info| {
                if info.failed {
                    metrics.store_error(StoreKind::Database, statement_class(&info.statement.sql));
                }
            });
        }
    }

    /// How many connections of the pool (and the writer's own, if any) are open, busy and
    /// allowed, right now.
    pub fn pool_usage(&self) -> PoolUsage {
        fn usage<DB: sea_orm::sqlx::Database>(pool: &sea_orm::sqlx::Pool<DB>) -> PoolUsage {
            let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
            PoolUsage { in_use: pool.size().saturating_sub(idle), idle, max: pool.options().get_max_connections() }
        }
        let of = |connection: &DatabaseConnection| match connection.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => usage(connection.get_postgres_connection_pool()),
            sea_orm::DatabaseBackend::Sqlite => usage(connection.get_sqlite_connection_pool()),
            _ => PoolUsage { in_use: 0, idle: 0, max: 0 },
        };
        std::iter::once(&self.connection).chain(self.writer.as_ref()).map(of).fold(
            PoolUsage { in_use: 0, idle: 0, max: 0 },
            |total, pool| PoolUsage {
                in_use: total.in_use + pool.in_use,
                idle: total.idle + pool.idle,
                max: total.max + pool.max,
            },
        )
    }

    pub async fn migrate_up(&self, steps: Option<u32>) -> Result<(), StoreError> {
        Ok(Migrator::up(&self.connection, steps).await?)
    }

    pub async fn migrate_down(&self, steps: Option<u32>) -> Result<(), StoreError> {
        Ok(Migrator::down(&self.connection, steps).await?)
    }

    pub async fn migration_status(&self) -> Result<Vec<MigrationState>, StoreError> {
        Ok(Migrator::get_migration_with_status(&self.connection)
            .await?
            .iter()
            .map(|m| MigrationState {
                name: m.name().to_owned(),
                applied: m.status() == migration::MigrationStatus::Applied,
            })
            .collect())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.connection.ping().await.map_err(|e| StoreError::Unavailable { backend: "database", detail: e.to_string() })
    }

    pub async fn close(self) {
        // Closing can only fail if the pool is already gone, which is what we want anyway.
        if let Some(writer) = self.writer {
            let _ = writer.close().await;
        }
        let _ = self.connection.close().await;
    }
}

/// A pool of at most `max_connections` to `url`.
async fn open(url: &str, max_connections: u32) -> Result<DatabaseConnection, StoreError> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A connection in use within the last second is alive: pinging it on every acquire
        // cost a round trip (a thread hop on SQLite) per statement. One idle for longer may
        // have been cut by a database restart or a proxy, so it is pinged first.
        .test_before_acquire_if_idle_for(Duration::from_secs(1))
        .sqlx_logging(false)
        // Per connection of the pool: WAL lets readers proceed during a write; a busy timeout
        // turns brief lock contention into a short wait instead of an error.
        .map_sqlx_sqlite_opts(|sqlite| {
            sqlite
                .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    sea_orm::Database::connect(options)
        .await
        .map_err(|e| StoreError::Unavailable { backend: "database", detail: e.to_string() })
}

/// The operation class of a SQL statement, from its first keyword: a closed set of labels.
fn statement_class(sql: &str) -> &'static str {
    let keyword = sql.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or_default();
    match keyword.to_ascii_uppercase().as_str() {
        "SELECT" | "WITH" => "read",
        "INSERT" | "UPDATE" | "DELETE" => "write",
        "BEGIN" | "COMMIT" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" => "transaction",
        _ => "other",
    }
}

fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_are_found_in_urls() {
        assert_eq!(sqlite_path("sqlite://./data/ferrid.db?mode=rwc"), Some("./data/ferrid.db"));
        assert_eq!(sqlite_path("sqlite:/tmp/x.db"), Some("/tmp/x.db"));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://db/ferrid"), None);
    }

    #[test]
    fn statements_are_classed_by_their_first_keyword() {
        assert_eq!(statement_class("SELECT \"users\".\"id\" FROM \"users\""), "read");
        assert_eq!(statement_class("  insert INTO x VALUES ($1)"), "write");
        assert_eq!(statement_class("UPDATE x SET y = 1"), "write");
        assert_eq!(statement_class("BEGIN"), "transaction");
        assert_eq!(statement_class("CREATE TABLE x ()"), "other");
        assert_eq!(statement_class(""), "other");
    }
}

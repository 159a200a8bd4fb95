//! Every migration has a working `down`: up → down (all) → up leaves a working schema.

use ferrid::{config::Sensitive, store::Database};
use sea_orm::{ConnectionTrait, Statement};

use crate::helpers::{Backend, TestResources};

on_every_backend!(migrations_go_up_down_and_up_again);

async fn table_exists(database: &Database, table: &str) -> bool {
    let connection = database.connection();
    let backend = connection.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Sqlite => {
            format!("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '{table}'")
        }
        _ => format!(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '{table}'"
        ),
    };
    connection.query_one_raw(Statement::from_string(backend, sql)).await.unwrap().is_some()
}

async fn column_exists(database: &Database, table: &str, column: &str) -> bool {
    let connection = database.connection();
    let backend = connection.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Sqlite => format!("SELECT name FROM pragma_table_info('{table}') WHERE name = '{column}'"),
        _ => format!(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() \
             AND table_name = '{table}' AND column_name = '{column}'"
        ),
    };
    connection.query_one_raw(Statement::from_string(backend, sql)).await.unwrap().is_some()
}

/// The columns migration 16 adds (DPoP and the suspicious-refresh policy).
const DPOP_COLUMNS: [(&str, &str); 4] = [
    ("clients", "dpop_bound_access_tokens"),
    ("clients", "refresh_origin_policy"),
    ("refresh_tokens", "dpop_jkt"),
    ("access_tokens", "jkt"),
];

async fn client_exists(database: &Database, id: &str) -> bool {
    let connection = database.connection();
    let sql = format!("SELECT id FROM clients WHERE id = '{id}'");
    connection.query_one_raw(Statement::from_string(connection.get_database_backend(), sql)).await.unwrap().is_some()
}

const TABLES: [&str; 17] = [
    "users",
    "clients",
    "roles",
    "groups",
    "permissions",
    "user_roles",
    "user_groups",
    "group_permissions",
    "key_ring",
    "sessions",
    "consents",
    "refresh_tokens",
    "access_tokens",
    "audit_events",
    "mfa_factors",
    "mail_outbox",
    "federated_identities",
];

async fn migrations_go_up_down_and_up_again(backend: Backend) {
    let resources = TestResources::create(backend).await;
    let database = Database::connect(&Sensitive::new(resources.database_url.clone()), 2).await.unwrap();
    let total = database.migration_status().await.unwrap().len();
    assert!(total >= 3);

    database.migrate_up(None).await.unwrap();
    for table in TABLES {
        assert!(table_exists(&database, table).await, "{table} missing after up");
    }
    assert!(database.migration_status().await.unwrap().iter().all(|m| m.applied));
    assert!(client_exists(&database, migration::SWAGGER_CLIENT_ID).await, "the built-in Swagger client is created");
    assert!(client_exists(&database, migration::FIRST_PARTY_APP_CLIENT_ID).await, "so is the first-party app client");

    for (table, column) in DPOP_COLUMNS {
        assert!(column_exists(&database, table, column).await, "{table}.{column} missing after up");
    }

    assert!(column_exists(&database, "clients", "id_token_on_refresh").await, "migration 17's column");

    // One step down undoes only the newest migration: its column goes, everything else stays.
    database.migrate_down(Some(1)).await.unwrap();
    assert!(!column_exists(&database, "clients", "id_token_on_refresh").await, "left behind by down");
    for (table, column) in DPOP_COLUMNS {
        assert!(column_exists(&database, table, column).await, "{table}.{column} of migration 16 stays");
    }
    assert!(table_exists(&database, "federated_identities").await, "the identities table stays");
    assert!(client_exists(&database, migration::FIRST_PARTY_APP_CLIENT_ID).await, "the app client stays");
    assert!(client_exists(&database, migration::SWAGGER_CLIENT_ID).await, "the earlier migrations' rows stay");
    assert!(table_exists(&database, "mail_outbox").await);

    database.migrate_down(Some(u32::try_from(total).unwrap())).await.unwrap();
    for table in TABLES {
        assert!(!table_exists(&database, table).await, "{table} left behind by down");
    }
    assert!(database.migration_status().await.unwrap().iter().all(|m| !m.applied));

    database.migrate_up(None).await.unwrap();
    for table in TABLES {
        assert!(table_exists(&database, table).await, "{table} missing after second up");
    }
    assert!(
        client_exists(&database, migration::SWAGGER_CLIENT_ID).await,
        "the Swagger client is back after the second up"
    );
    database.close().await;
}

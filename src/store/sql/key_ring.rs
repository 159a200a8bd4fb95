//! The key ring's storage port on SQL. Cluster safety comes from the database: `update_state`
//! is a compare-and-set on the state, and partial unique indexes allow one `next` and one
//! `active` key per algorithm — a losing node sees `false`, never a duplicate.

use async_trait::async_trait;
use entity::key_ring;
use keys::{KeyError, KeyRecord, KeyState, KeyStore, PublicJwk, Transition};
use sea_orm::{ActiveValue::Set, DatabaseConnection, DbErr, SqlErr, entity::prelude::*};

#[derive(Clone, Debug)]
pub struct SqlKeyStore {
    db: DatabaseConnection,
}

impl SqlKeyStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn storage(error: DbErr) -> KeyError {
    KeyError::Store(Box::new(error))
}

/// `Ok(false)` for a uniqueness violation (another node holds the slot), else the error.
fn unless_taken(result: Result<bool, DbErr>) -> keys::Result<bool> {
    match result {
        Ok(done) => Ok(done),
        Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(false),
        Err(error) => Err(storage(error)),
    }
}

fn malformed(what: &'static str) -> KeyError {
    KeyError::Store(format!("stored key {what} is malformed").into())
}

fn to_record(model: key_ring::Model) -> keys::Result<KeyRecord> {
    let alg: keys::KeyAlg = model.alg.parse().map_err(|_| malformed("alg"))?;
    Ok(KeyRecord {
        alg,
        key_use: alg.key_use(),
        state: model.state.parse().map_err(|_| malformed("state"))?,
        public_jwk: PublicJwk::from_value(model.public_jwk).map_err(|_| malformed("public JWK"))?,
        kid: model.kid,
        created_at: model.created_at,
        activated_at: model.activated_at,
        retired_at: model.retired_at,
        expires_at: model.expires_at,
        sealed_private: model.sealed_private,
    })
}

#[async_trait]
impl KeyStore for SqlKeyStore {
    async fn load_all(&self) -> keys::Result<Vec<KeyRecord>> {
        key_ring::Entity::find().all(&self.db).await.map_err(storage)?.into_iter().map(to_record).collect()
    }

    async fn insert(&self, record: KeyRecord) -> keys::Result<bool> {
        let public_jwk: serde_json::Value =
            serde_json::from_str(&record.public_jwk.to_json()).map_err(|_| malformed("public JWK"))?;
        let model = key_ring::ActiveModel {
            kid: Set(record.kid),
            alg: Set(record.alg.as_str().to_owned()),
            key_use: Set(record.key_use.as_str().to_owned()),
            state: Set(record.state.as_str().to_owned()),
            public_jwk: Set(public_jwk),
            sealed_private: Set(record.sealed_private),
            created_at: Set(record.created_at),
            activated_at: Set(record.activated_at),
            retired_at: Set(record.retired_at),
            expires_at: Set(record.expires_at),
        };
        unless_taken(key_ring::Entity::insert(model).exec(&self.db).await.map(|_| true))
    }

    async fn update_state(&self, kid: &str, expected: KeyState, new: KeyState, at: Transition) -> keys::Result<bool> {
        let mut update = key_ring::Entity::update_many()
            .col_expr(key_ring::Column::State, Expr::value(new.as_str()))
            .filter(key_ring::Column::Kid.eq(kid))
            .filter(key_ring::Column::State.eq(expected.as_str()));
        for (column, value) in [
            (key_ring::Column::ActivatedAt, at.activated_at),
            (key_ring::Column::RetiredAt, at.retired_at),
            (key_ring::Column::ExpiresAt, at.expires_at),
        ] {
            if let Some(value) = value {
                update = update.col_expr(column, Expr::value(value));
            }
        }
        unless_taken(update.exec(&self.db).await.map(|result| result.rows_affected == 1))
    }

    async fn delete(&self, kid: &str) -> keys::Result<bool> {
        let result = key_ring::Entity::delete_by_id(kid).exec(&self.db).await.map_err(storage)?;
        Ok(result.rows_affected == 1)
    }
}

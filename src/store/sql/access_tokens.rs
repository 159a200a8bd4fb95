use chrono::{DateTime, Utc};
use entity::access_tokens;
use keys::SecretDigest;
use sea_orm::{ActiveValue::Set, DatabaseConnection, QuerySelect, entity::prelude::*};

use crate::{
    oauth::{
        Scope,
        access_token::{AccessGrant, AccessTokenRecord},
    },
    store::StoreError,
};

/// Access tokens ferrid looks up by digest: opaque ones and nested JWEs (DESIGN §6).
#[derive(Clone, Debug)]
pub struct AccessTokenRepository {
    db: DatabaseConnection,
}

impl AccessTokenRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub async fn insert(&self, record: &AccessTokenRecord) -> Result<(), StoreError> {
        let grant = &record.grant;
        access_tokens::ActiveModel {
            digest: Set(record.digest.as_str().to_owned()),
            jti: Set(grant.jti.clone()),
            client_id: Set(grant.client_id.clone()),
            subject: Set(grant.subject.clone()),
            scope: Set(grant.scope.to_string()),
            audience: Set(serde_json::to_value(&grant.audience).map_err(|_| StoreError::Malformed("audience"))?),
            issued_at: Set(grant.issued_at),
            expires_at: Set(grant.expires_at),
            jkt: Set(grant.jkt.clone()),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    pub async fn find(&self, digest: &SecretDigest) -> Result<Option<AccessGrant>, StoreError> {
        access_tokens::Entity::find_by_id(digest.as_str()).one(&self.db).await?.map(to_domain).transpose()
    }

    /// Deletes up to `limit` expired tokens; returns how many.
    pub async fn delete_expired(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
        let digests: Vec<String> = access_tokens::Entity::find()
            .select_only()
            .column(access_tokens::Column::Digest)
            .filter(access_tokens::Column::ExpiresAt.lt(now))
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        if digests.is_empty() {
            return Ok(0);
        }
        let result = access_tokens::Entity::delete_many()
            .filter(access_tokens::Column::Digest.is_in(digests))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }
}

fn to_domain(model: access_tokens::Model) -> Result<AccessGrant, StoreError> {
    let scope = if model.scope.is_empty() {
        Scope::default()
    } else {
        Scope::parse(&model.scope).map_err(|_| StoreError::Malformed("access token scope"))?
    };
    Ok(AccessGrant {
        subject: model.subject,
        client_id: model.client_id,
        scope,
        jti: model.jti,
        issued_at: model.issued_at,
        expires_at: model.expires_at,
        audience: serde_json::from_value(model.audience).map_err(|_| StoreError::Malformed("audience"))?,
        // Not stored: the user's own API, which needs it, is served JWT access tokens.
        sid: None,
        jkt: model.jkt,
    })
}

use entity::clients;
use keys::SecretDigest;
use sea_orm::{ActiveValue::Set, DatabaseConnection, QueryOrder, QuerySelect, entity::prelude::*};
use serde_json::Value;
use url::Url;

use super::on_unique_violation;
use crate::{
    config::Issuer,
    oauth::{Client, ClientId, ClientMetadata, LifetimeOverrides, RedirectUri},
    store::StoreError,
};

#[derive(Clone, Debug)]
pub struct ClientRepository {
    db: DatabaseConnection,
    /// Resolves the issuer-relative redirect URIs of clients created by migrations.
    issuer: Issuer,
}

impl ClientRepository {
    pub fn new(db: DatabaseConnection, issuer: Issuer) -> Self {
        Self { db, issuer }
    }

    pub async fn insert(&self, client: &Client) -> Result<(), StoreError> {
        active_model(client)?.insert(&self.db).await.map_err(on_unique_violation("client_id"))?;
        Ok(())
    }

    /// Replaces a client's metadata and digests; returns whether it existed.
    pub async fn update(&self, client: &Client) -> Result<bool, StoreError> {
        let mut model = active_model(client)?;
        model.created_at = sea_orm::ActiveValue::NotSet;
        match model.update(&self.db).await {
            Ok(_) => Ok(true),
            Err(DbErr::RecordNotUpdated) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    pub async fn find(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        clients::Entity::find_by_id(id.as_str())
            .one(&self.db)
            .await?
            .map(|model| to_domain(model, &self.issuer))
            .transpose()
    }

    /// Up to `limit` clients ordered by id, starting after `after` (keyset paging: stable while
    /// clients come and go, unlike offsets).
    pub async fn list_after(&self, after: Option<&ClientId>, limit: u64) -> Result<Vec<Client>, StoreError> {
        let mut query = clients::Entity::find();
        if let Some(after) = after {
            query = query.filter(clients::Column::Id.gt(after.as_str()));
        }
        query
            .order_by_asc(clients::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|model| to_domain(model, &self.issuer))
            .collect()
    }

    /// Returns whether a client was deleted.
    pub async fn delete(&self, id: &ClientId) -> Result<bool, StoreError> {
        Ok(clients::Entity::delete_by_id(id.as_str()).exec(&self.db).await?.rows_affected == 1)
    }
}

fn active_model(client: &Client) -> Result<clients::ActiveModel, StoreError> {
    let m = &client.metadata;
    Ok(clients::ActiveModel {
        id: Set(client.id.as_str().to_owned()),
        name: Set(m.name.clone()),
        client_type: Set(m.client_type.as_str().to_owned()),
        secret_digest: Set(client.secret_digest.as_ref().map(|d| d.as_str().to_owned())),
        registration_token_digest: Set(client.registration_token_digest.as_ref().map(|d| d.as_str().to_owned())),
        redirect_uris: Set(strings(m.redirect_uris.iter().map(RedirectUri::stored_form))),
        post_logout_redirect_uris: Set(strings(m.post_logout_redirect_uris.iter().map(RedirectUri::stored_form))),
        grant_types: Set(strings(m.grant_types.iter().map(|g| g.as_str()))),
        response_types: Set(strings(m.response_types.iter().map(String::as_str))),
        token_endpoint_auth_method: Set(m.token_endpoint_auth_method.as_str().to_owned()),
        allowed_scopes: Set(strings(m.allowed_scopes.iter().map(String::as_str))),
        jwks: Set(m.jwks.clone()),
        jwks_uri: Set(m.jwks_uri.as_ref().map(Url::to_string)),
        require_pkce: Set(m.require_pkce),
        id_token_signed_response_alg: Set(m.id_token_signed_response_alg.clone()),
        id_token_encrypted_response_alg: Set(m.id_token_encrypted_response_alg.clone()),
        id_token_encrypted_response_enc: Set(m.id_token_encrypted_response_enc.clone()),
        userinfo_signed_response_alg: Set(m.userinfo_signed_response_alg.clone()),
        userinfo_encrypted_response_alg: Set(m.userinfo_encrypted_response_alg.clone()),
        userinfo_encrypted_response_enc: Set(m.userinfo_encrypted_response_enc.clone()),
        access_token_format: Set(m.access_token_format.as_str().to_owned()),
        access_token_signed_response_alg: Set(m.access_token_signed_response_alg.clone()),
        access_token_encrypted_response_alg: Set(m.access_token_encrypted_response_alg.clone()),
        access_token_encrypted_response_enc: Set(m.access_token_encrypted_response_enc.clone()),
        access_token_lifetime_secs: Set(seconds(m.lifetimes.access_token)?),
        id_token_lifetime_secs: Set(seconds(m.lifetimes.id_token)?),
        refresh_token_lifetime_secs: Set(seconds(m.lifetimes.refresh_absolute)?),
        refresh_token_idle_secs: Set(seconds(m.lifetimes.refresh_idle)?),
        code_lifetime_secs: Set(seconds(m.lifetimes.code)?),
        refresh_token_reuse_grace_secs: Set(seconds(Some(m.refresh_token_reuse_grace_secs))?.unwrap_or_default()),
        backchannel_logout_uri: Set(m.backchannel_logout_uri.as_ref().map(Url::to_string)),
        backchannel_logout_session_required: Set(m.backchannel_logout_session_required),
        first_party: Set(m.first_party),
        dpop_bound_access_tokens: Set(m.dpop_bound_access_tokens),
        refresh_origin_policy: Set(m.refresh_origin_policy.as_str().to_owned()),
        id_token_on_refresh: Set(m.id_token_on_refresh),
        created_at: Set(client.created_at),
        updated_at: Set(client.updated_at),
    })
}

fn strings<'a>(values: impl Iterator<Item = &'a str>) -> Value {
    Value::Array(values.map(|v| Value::String(v.to_owned())).collect())
}

fn seconds(value: Option<u32>) -> Result<Option<i32>, StoreError> {
    value.map(|secs| i32::try_from(secs).map_err(|_| StoreError::Malformed("token lifetime"))).transpose()
}

fn string_list(value: Value) -> Result<Vec<String>, StoreError> {
    serde_json::from_value(value).map_err(|_| StoreError::Malformed("client list column"))
}

fn parsed<T, E>(values: Vec<String>, parse: impl Fn(&str) -> Result<T, E>) -> Result<Vec<T>, StoreError> {
    values.iter().map(|v| parse(v).map_err(|_| StoreError::Malformed("client metadata"))).collect()
}

fn to_domain(model: clients::Model, issuer: &Issuer) -> Result<Client, StoreError> {
    let redirect_uri = |value: &str| RedirectUri::from_stored(value, issuer);
    let malformed = |_| StoreError::Malformed("client metadata");
    let lifetime = |secs: i32| u32::try_from(secs).map_err(|_| StoreError::Malformed("token lifetime"));
    let override_of = |secs: Option<i32>| secs.map(lifetime).transpose();
    let url = |value: Option<String>, what| {
        value.map(|u| Url::parse(&u)).transpose().map_err(|_| StoreError::Malformed(what))
    };
    Ok(Client {
        id: ClientId::parse(&model.id).ok_or(StoreError::Malformed("client_id"))?,
        secret_digest: model.secret_digest.map(SecretDigest::from_stored),
        registration_token_digest: model.registration_token_digest.map(SecretDigest::from_stored),
        metadata: ClientMetadata {
            name: model.name,
            client_type: model.client_type.parse().map_err(malformed)?,
            redirect_uris: parsed(string_list(model.redirect_uris)?, redirect_uri)?,
            post_logout_redirect_uris: parsed(string_list(model.post_logout_redirect_uris)?, redirect_uri)?,
            grant_types: parsed(string_list(model.grant_types)?, str::parse)?,
            response_types: string_list(model.response_types)?,
            token_endpoint_auth_method: model.token_endpoint_auth_method.parse().map_err(malformed)?,
            allowed_scopes: string_list(model.allowed_scopes)?,
            jwks: model.jwks,
            jwks_uri: url(model.jwks_uri, "jwks_uri")?,
            require_pkce: model.require_pkce,
            id_token_signed_response_alg: model.id_token_signed_response_alg,
            id_token_encrypted_response_alg: model.id_token_encrypted_response_alg,
            id_token_encrypted_response_enc: model.id_token_encrypted_response_enc,
            userinfo_signed_response_alg: model.userinfo_signed_response_alg,
            userinfo_encrypted_response_alg: model.userinfo_encrypted_response_alg,
            userinfo_encrypted_response_enc: model.userinfo_encrypted_response_enc,
            access_token_format: model.access_token_format.parse().map_err(malformed)?,
            access_token_signed_response_alg: model.access_token_signed_response_alg,
            access_token_encrypted_response_alg: model.access_token_encrypted_response_alg,
            access_token_encrypted_response_enc: model.access_token_encrypted_response_enc,
            lifetimes: LifetimeOverrides {
                access_token: override_of(model.access_token_lifetime_secs)?,
                id_token: override_of(model.id_token_lifetime_secs)?,
                refresh_idle: override_of(model.refresh_token_idle_secs)?,
                refresh_absolute: override_of(model.refresh_token_lifetime_secs)?,
                code: override_of(model.code_lifetime_secs)?,
            },
            refresh_token_reuse_grace_secs: lifetime(model.refresh_token_reuse_grace_secs)?,
            backchannel_logout_uri: url(model.backchannel_logout_uri, "backchannel_logout_uri")?,
            backchannel_logout_session_required: model.backchannel_logout_session_required,
            first_party: model.first_party,
            dpop_bound_access_tokens: model.dpop_bound_access_tokens,
            refresh_origin_policy: model.refresh_origin_policy.parse().map_err(malformed)?,
            id_token_on_refresh: model.id_token_on_refresh,
        },
        created_at: model.created_at,
        updated_at: model.updated_at,
    })
}

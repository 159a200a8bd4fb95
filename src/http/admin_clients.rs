//! `/api/admin/clients`: an administrator registers, reads, pages through, replaces and deletes
//! clients and rotates their secrets. The metadata is RFC 7591's, read and validated exactly as
//! `/register` does, plus the settings only an administrator may choose; thin handlers over
//! `oauth::client_admin`.

use std::collections::BTreeSet;

use keys::OpaqueSecret;
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::ToJSON,
};
use serde_json::json;

use super::{
    admin_auth::{AdminAuth, admin_error, guarded_response, unavailable},
    admin_paging::page_limit,
    client_metadata::{ClientInformation, ClientMetadataBody, metadata_error},
    error::{ErrorBody, NO_STORE},
    tags::ApiTags,
};
use crate::{
    app::AppState,
    audit::{AuditEvent, kinds},
    oauth::{
        client::{Client, ClientId},
        client_admin::{self, AdminClientRequest, AdminSettings, RotateSecretError},
        lifetimes::LifetimeOverrides,
        registry::RegistryError,
    },
};

/// Settings only an administrator may choose (beyond RFC 7591). Omitted on create or replace,
/// they take a new client's defaults.
#[derive(Debug, Object)]
pub struct AdminClientSettings {
    /// The operator's own application: its users are not asked to consent.
    #[oai(default)]
    first_party: bool,
    /// Whether /authorize requires PKCE (default true; public clients always require it).
    require_pkce: Option<bool>,
    /// `jwt` (RFC 9068, default), `jwe` (signed, then encrypted to a key of `jwks`) or `opaque`.
    access_token_format: Option<String>,
    /// The JWS algorithm of JWT access tokens (default ES256).
    access_token_signed_response_alg: Option<String>,
    /// The key-management algorithm of `jwe` access tokens, e.g. RSA-OAEP-256.
    #[oai(skip_serializing_if_is_none)]
    access_token_encrypted_response_alg: Option<String>,
    /// The content encryption of `jwe` access tokens, e.g. A256GCM.
    #[oai(skip_serializing_if_is_none)]
    access_token_encrypted_response_enc: Option<String>,
    /// Access token lifetime in seconds; absent: the server default.
    #[oai(skip_serializing_if_is_none)]
    access_token_lifetime: Option<u32>,
    /// ID token lifetime in seconds; absent: the server default.
    #[oai(skip_serializing_if_is_none)]
    id_token_lifetime: Option<u32>,
    /// Refresh token idle lifetime in seconds; absent: the server default.
    #[oai(skip_serializing_if_is_none)]
    refresh_token_idle_lifetime: Option<u32>,
    /// Refresh token absolute lifetime in seconds; absent: the server default.
    #[oai(skip_serializing_if_is_none)]
    refresh_token_lifetime: Option<u32>,
    /// Authorization code lifetime in seconds, at most 600; absent: the server default.
    #[oai(skip_serializing_if_is_none)]
    code_lifetime: Option<u32>,
    /// Seconds a rotated refresh token stays usable (0, the default: strict rotation).
    refresh_token_reuse_grace: Option<u32>,
    /// What a refresh from a new network (IPv4 /24, IPv6 /48) or user agent leads to, besides
    /// an audit record: `allow` (default), `notify` (mail the user) or `reauthenticate` (refuse
    /// it and revoke the grant).
    refresh_origin_policy: Option<String>,
    /// Whether a refresh of an `openid` grant re-issues the ID token (default true). OIDC Core
    /// §12.2 allows omitting it; false saves a signature per refresh for clients that keep the
    /// ID token of the sign-in.
    id_token_on_refresh: Option<bool>,
}

impl From<AdminClientSettings> for AdminSettings {
    fn from(s: AdminClientSettings) -> Self {
        Self {
            first_party: s.first_party,
            require_pkce: s.require_pkce,
            access_token_format: s.access_token_format,
            access_token_signed_response_alg: s.access_token_signed_response_alg,
            access_token_encrypted_response_alg: s.access_token_encrypted_response_alg,
            access_token_encrypted_response_enc: s.access_token_encrypted_response_enc,
            lifetimes: LifetimeOverrides {
                access_token: s.access_token_lifetime,
                id_token: s.id_token_lifetime,
                refresh_idle: s.refresh_token_idle_lifetime,
                refresh_absolute: s.refresh_token_lifetime,
                code: s.code_lifetime,
            },
            refresh_token_reuse_grace_secs: s.refresh_token_reuse_grace,
            refresh_origin_policy: s.refresh_origin_policy,
            id_token_on_refresh: s.id_token_on_refresh,
        }
    }
}

impl From<AdminSettings> for AdminClientSettings {
    fn from(s: AdminSettings) -> Self {
        Self {
            first_party: s.first_party,
            require_pkce: s.require_pkce,
            access_token_format: s.access_token_format,
            access_token_signed_response_alg: s.access_token_signed_response_alg,
            access_token_encrypted_response_alg: s.access_token_encrypted_response_alg,
            access_token_encrypted_response_enc: s.access_token_encrypted_response_enc,
            access_token_lifetime: s.lifetimes.access_token,
            id_token_lifetime: s.lifetimes.id_token,
            refresh_token_idle_lifetime: s.lifetimes.refresh_idle,
            refresh_token_lifetime: s.lifetimes.refresh_absolute,
            code_lifetime: s.lifetimes.code,
            refresh_token_reuse_grace: s.refresh_token_reuse_grace_secs,
            refresh_origin_policy: s.refresh_origin_policy,
            id_token_on_refresh: s.id_token_on_refresh,
        }
    }
}

/// A client's complete metadata: RFC 7591 §2 members (`scope` may include `ferrid:admin`) and
/// the administrator's settings.
#[derive(Debug, Object)]
pub struct AdminClientBody {
    #[oai(flatten)]
    metadata: ClientMetadataBody,
    #[oai(flatten)]
    settings: AdminClientSettings,
}

impl From<AdminClientBody> for AdminClientRequest {
    fn from(body: AdminClientBody) -> Self {
        Self { registration: body.metadata.into(), settings: body.settings.into() }
    }
}

/// A registered client as RFC 7591 §3.2.1 shows it, with the administrator's settings. The
/// secret appears only in the response that issued it.
#[derive(Debug, Object)]
pub struct AdminClient {
    #[oai(flatten)]
    information: ClientInformation,
    #[oai(flatten)]
    settings: AdminClientSettings,
}

impl AdminClient {
    fn new(state: &AppState, client: &Client, secret: Option<&OpaqueSecret>) -> Self {
        Self {
            information: ClientInformation::new(&state.config.issuer, client, secret, None),
            settings: AdminSettings::of(&client.metadata).into(),
        }
    }
}

/// A page of clients, in client_id order.
#[derive(Object)]
pub struct AdminClientPage {
    /// Up to `limit` clients.
    items: Vec<AdminClient>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    next_cursor: Option<String>,
}

/// A newly issued client secret, shown only in this response.
#[derive(Object)]
pub struct RotatedSecret {
    /// The client whose secret this is.
    client_id: String,
    /// The new secret: store it now, ferrid keeps only its digest.
    client_secret: String,
    /// 0: the secret does not expire (RFC 7591 §3.2.1).
    client_secret_expires_at: i64,
}

guarded_response! {
    enum CreateResponse {
        /// Created. A secret client's `client_secret` is shown only now.
        #[oai(status = 201)]
        Created(Json<Box<AdminClient>>, #[oai(header = "Cache-Control")] String),
        /// `invalid_redirect_uri` or `invalid_client_metadata` (RFC 7591 §3.2.2).
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
    }
}

guarded_response! {
    enum ListResponse {
        /// A page of clients.
        #[oai(status = 200)]
        Ok(Json<AdminClientPage>, #[oai(header = "Cache-Control")] String),
        /// `limit` out of range or a malformed `cursor` (`invalid_request`).
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
    }
}

guarded_response! {
    enum ReadResponse {
        /// The client.
        #[oai(status = 200)]
        Ok(Json<Box<AdminClient>>, #[oai(header = "Cache-Control")] String),
        /// No such client.
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
    }
}

guarded_response! {
    enum ReplaceResponse {
        /// The client as it now stands; `client_secret` only if it just got one.
        #[oai(status = 200)]
        Ok(Json<Box<AdminClient>>, #[oai(header = "Cache-Control")] String),
        /// `invalid_redirect_uri` or `invalid_client_metadata` (RFC 7591 §3.2.2).
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
        /// No such client.
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
    }
}

guarded_response! {
    enum DeleteResponse {
        /// Deleted, with its refresh tokens.
        #[oai(status = 204)]
        Deleted,
        /// No such client.
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
    }
}

guarded_response! {
    enum RotateSecretResponse {
        /// The new secret, shown only now; the old one no longer works.
        #[oai(status = 200)]
        Ok(Json<RotatedSecret>, #[oai(header = "Cache-Control")] String),
        /// The client has no secret: it is public or uses `private_key_jwt` (`invalid_request`).
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
        /// No such client.
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
    }
}

fn not_found() -> Json<ErrorBody> {
    admin_error("not_found", "no such client")
}

/// The names of the members that differ between two views of a client, for the audit log.
fn changed_fields(before: &AdminClient, after: &AdminClient) -> Vec<String> {
    let (before, after) = (before.to_json().unwrap_or_default(), after.to_json().unwrap_or_default());
    let names: BTreeSet<&String> =
        before.as_object().into_iter().chain(after.as_object()).flat_map(|object| object.keys()).collect();
    names.into_iter().filter(|name| before.get(name.as_str()) != after.get(name.as_str())).cloned().collect()
}

pub struct AdminClientsApi;

#[OpenApi(tag = "ApiTags::Admin")]
impl AdminClientsApi {
    /// Register a client.
    ///
    /// The body is RFC 7591 client metadata, validated as `/register` validates it, plus settings
    /// only an administrator may choose: any scope including `ferrid:admin`, `first_party`, the
    /// access token format and per-client lifetimes. A client authenticating with
    /// `client_secret_basic` or `client_secret_post` gets a secret, shown only in this response;
    /// `private_key_jwt` clients need `jwks` or `jwks_uri`.
    #[oai(path = "/api/admin/clients", method = "post", operation_id = "admin_create_client")]
    async fn create(&self, state: Data<&AppState>, auth: AdminAuth, body: Json<AdminClientBody>) -> CreateResponse {
        let AdminAuth(actor) = auth;
        match client_admin::create(&state, body.0.into()).await {
            Ok((client, secret)) => {
                let m = &client.metadata;
                let details = json!({
                    "token_endpoint_auth_method": m.token_endpoint_auth_method.as_str(),
                    "grant_types": m.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
                    "scope": m.allowed_scopes.join(" "),
                });
                let event =
                    AuditEvent::new(kinds::ADMIN_CLIENT_CREATE, &actor).client(client.id.as_str()).details(details);
                state.audit.record(event).await;
                let view = AdminClient::new(&state, &client, secret.as_ref());
                CreateResponse::Created(Json(Box::new(view)), NO_STORE.to_owned())
            }
            Err(RegistryError::Metadata(error)) => CreateResponse::BadRequest(metadata_error(error)),
            Err(cause) => unavailable(cause).into(),
        }
    }

    /// List clients.
    ///
    /// Clients in client_id order, without secrets. Page with `limit` (1–200, default 50) and
    /// the previous page's `next_cursor`.
    #[oai(path = "/api/admin/clients", method = "get", operation_id = "admin_list_clients")]
    async fn list(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// The page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
        /// The previous page's `next_cursor`.
        cursor: Query<Option<String>>,
    ) -> ListResponse {
        let limit = match page_limit(limit.0) {
            Ok(limit) => limit,
            Err(problem) => return ListResponse::BadRequest(admin_error("invalid_request", problem)),
        };
        let after = match cursor.0.as_deref().map(ClientId::parse) {
            None => None,
            Some(Some(after)) => Some(after),
            Some(None) => return ListResponse::BadRequest(admin_error("invalid_request", "cursor is malformed")),
        };
        match client_admin::page(&state, after.as_ref(), limit).await {
            Ok((clients, next)) => {
                let items = clients.iter().map(|client| AdminClient::new(&state, client, None)).collect();
                let next_cursor = next.map(|id| id.as_str().to_owned());
                ListResponse::Ok(Json(AdminClientPage { items, next_cursor }), NO_STORE.to_owned())
            }
            Err(cause) => unavailable(cause).into(),
        }
    }

    /// Read a client.
    ///
    /// Its metadata and settings; never its secret, which ferrid keeps only as a digest.
    #[oai(path = "/api/admin/clients/:client_id", method = "get", operation_id = "admin_get_client")]
    async fn read(&self, state: Data<&AppState>, _auth: AdminAuth, client_id: Path<String>) -> ReadResponse {
        match client_admin::find(&state, &client_id.0).await {
            Ok(client) => {
                ReadResponse::Ok(Json(Box::new(AdminClient::new(&state, &client, None))), NO_STORE.to_owned())
            }
            Err(RegistryError::NotFound) => ReadResponse::NotFound(not_found()),
            Err(cause) => unavailable(cause).into(),
        }
    }

    /// Replace a client's metadata.
    ///
    /// The body is the complete new metadata, validated like a registration; omitted members
    /// return to their defaults. The secret is kept, so the client's credentials keep working.
    #[oai(path = "/api/admin/clients/:client_id", method = "put", operation_id = "admin_replace_client")]
    async fn replace(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        client_id: Path<String>,
        body: Json<AdminClientBody>,
    ) -> ReplaceResponse {
        let AdminAuth(actor) = auth;
        match client_admin::replace(&state, &client_id.0, body.0.into()).await {
            Ok((before, after, secret)) => {
                let view = AdminClient::new(&state, &after, secret.as_ref());
                let fields = changed_fields(&AdminClient::new(&state, &before, None), &view);
                let event = AuditEvent::new(kinds::ADMIN_CLIENT_UPDATE, &actor)
                    .client(after.id.as_str())
                    .details(json!({ "fields": fields }));
                state.audit.record(event).await;
                ReplaceResponse::Ok(Json(Box::new(view)), NO_STORE.to_owned())
            }
            Err(RegistryError::Metadata(error)) => ReplaceResponse::BadRequest(metadata_error(error)),
            Err(RegistryError::NotFound) => ReplaceResponse::NotFound(not_found()),
            Err(cause) => unavailable(cause).into(),
        }
    }

    /// Delete a client.
    ///
    /// As with RFC 7592 deletion, the client's refresh tokens go with it, and its access tokens
    /// stop passing introspection and /userinfo at once. Built-in clients may be deleted too.
    #[oai(path = "/api/admin/clients/:client_id", method = "delete", operation_id = "admin_delete_client")]
    async fn delete(&self, state: Data<&AppState>, auth: AdminAuth, client_id: Path<String>) -> DeleteResponse {
        let AdminAuth(actor) = auth;
        match client_admin::delete(&state, &client_id.0).await {
            Ok(client) => {
                let event = AuditEvent::new(kinds::ADMIN_CLIENT_DELETE, &actor)
                    .client(client.id.as_str())
                    .details(json!({ "client_name": client.metadata.name }));
                state.audit.record(event).await;
                DeleteResponse::Deleted
            }
            Err(RegistryError::NotFound) => DeleteResponse::NotFound(not_found()),
            Err(cause) => unavailable(cause).into(),
        }
    }

    /// Rotate a client's secret.
    ///
    /// Issues a new secret, shown only in this response; the old one stops working at once.
    /// Only clients authenticating with `client_secret_basic` or `client_secret_post` have one.
    #[oai(path = "/api/admin/clients/:client_id/secret", method = "post", operation_id = "admin_rotate_client_secret")]
    async fn rotate_secret(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        client_id: Path<String>,
    ) -> RotateSecretResponse {
        let AdminAuth(actor) = auth;
        match client_admin::rotate_secret(&state, &client_id.0).await {
            Ok((client, secret)) => {
                let event = AuditEvent::new(kinds::ADMIN_CLIENT_SECRET_ROTATE, &actor)
                    .client(client.id.as_str())
                    .details(json!({ "fields": ["client_secret"] }));
                state.audit.record(event).await;
                let issued = RotatedSecret {
                    client_id: client.id.as_str().to_owned(),
                    client_secret: secret.expose().to_owned(),
                    client_secret_expires_at: 0,
                };
                RotateSecretResponse::Ok(Json(issued), NO_STORE.to_owned())
            }
            Err(RotateSecretError::NoSecret) => {
                RotateSecretResponse::BadRequest(admin_error("invalid_request", RotateSecretError::NoSecret))
            }
            Err(RotateSecretError::Registry(RegistryError::NotFound)) => RotateSecretResponse::NotFound(not_found()),
            Err(RotateSecretError::Registry(cause)) => unavailable(cause).into(),
        }
    }
}

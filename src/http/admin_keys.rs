//! `/api/admin/keys`: the signing and encryption key ring as an administrator sees and steers
//! it — list, rotate now, revoke a compromised key. Never any private material.

use chrono::{DateTime, Utc};
use keys::{KeyAlg, KeyError};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};
use serde_json::json;

use super::{
    admin_auth::{AdminAuth, admin_error, guarded_response, unavailable},
    error::{ErrorBody, NO_STORE},
    tags::ApiTags,
};
use crate::{
    app::AppState,
    audit::{AuditEvent, kinds},
    keyring::{KeyRingError, KeySummary},
};

/// One key of the ring.
#[derive(Object)]
pub struct AdminKey {
    /// The key id, as in the JWKS and in token headers.
    kid: String,
    /// The JOSE algorithm, e.g. `RS256` or `ECDH-ES+A256KW`.
    alg: String,
    /// `sig` or `enc` (RFC 7517 §4.2).
    #[oai(rename = "use")]
    key_use: String,
    /// `next` (published ahead of use), `active` (signing), `retired` (published until the
    /// tokens it signed expire) or `revoked` (withdrawn).
    state: String,
    /// When the key was generated.
    created_at: DateTime<Utc>,
    /// When it started signing.
    #[oai(skip_serializing_if_is_none)]
    activated_at: Option<DateTime<Utc>>,
    /// When it stopped signing.
    #[oai(skip_serializing_if_is_none)]
    retired_at: Option<DateTime<Utc>>,
    /// When a retired or revoked key is removed from the ring.
    #[oai(skip_serializing_if_is_none)]
    expires_at: Option<DateTime<Utc>>,
}

impl From<KeySummary> for AdminKey {
    fn from(key: KeySummary) -> Self {
        Self {
            kid: key.kid,
            alg: key.alg.as_str().to_owned(),
            key_use: key.key_use.as_str().to_owned(),
            state: key.state.as_str().to_owned(),
            created_at: key.created_at,
            activated_at: key.activated_at,
            retired_at: key.retired_at,
            expires_at: key.expires_at,
        }
    }
}

/// The key ring: a handful of keys per configured algorithm, so it comes in one piece.
#[derive(Object)]
pub struct AdminKeyList {
    /// By algorithm, then oldest first.
    items: Vec<AdminKey>,
}

fn key_list(state: &AppState) -> Json<AdminKeyList> {
    Json(AdminKeyList { items: state.keys.summaries().into_iter().map(AdminKey::from).collect() })
}

/// What to rotate; `{}` rotates every configured algorithm.
#[derive(Object)]
pub struct RotateKeysBody {
    /// One configured algorithm, e.g. `RS256`; absent: every configured algorithm.
    alg: Option<String>,
}

guarded_response! {
    enum ListResponse {
        /// The key ring.
        #[oai(status = 200)]
        Ok(Json<AdminKeyList>, #[oai(header = "Cache-Control")] String),
    }
}

guarded_response! {
    enum RotateResponse {
        /// Rotated: the ring as it now stands.
        #[oai(status = 200)]
        Ok(Json<AdminKeyList>, #[oai(header = "Cache-Control")] String),
        /// An algorithm this server does not use (`invalid_request`).
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
    }
}

guarded_response! {
    enum RevokeResponse {
        /// Revoked: the ring as it now stands.
        #[oai(status = 200)]
        Ok(Json<AdminKeyList>, #[oai(header = "Cache-Control")] String),
        /// No such key.
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
    }
}

pub struct AdminKeysApi;

#[OpenApi(tag = "ApiTags::Admin")]
impl AdminKeysApi {
    /// List the keys.
    ///
    /// Every key of the ring with its algorithm, use, state and dates: `next` keys are already
    /// in the JWKS, `active` ones sign, `retired` ones stay published until the tokens they
    /// signed expire, `revoked` ones are withdrawn. Never any private material.
    #[oai(path = "/api/admin/keys", method = "get", operation_id = "admin_list_keys")]
    async fn list(&self, state: Data<&AppState>, _auth: AdminAuth) -> ListResponse {
        ListResponse::Ok(key_list(&state), NO_STORE.to_owned())
    }

    /// Rotate keys now.
    ///
    /// For the algorithm in the body (`{}`: every configured one), the next key becomes active and the
    /// active one retires; retired keys stay in the JWKS until the tokens they signed expire.
    /// Other nodes pick the change up at their next ring refresh.
    #[oai(path = "/api/admin/keys/rotate", method = "post", operation_id = "admin_rotate_keys")]
    async fn rotate(&self, state: Data<&AppState>, auth: AdminAuth, body: Json<RotateKeysBody>) -> RotateResponse {
        let AdminAuth(actor) = auth;
        let configured = &state.config.key_ring.algs;
        let algs = match body.0.alg {
            None => configured.clone(),
            Some(name) => match name.parse::<KeyAlg>() {
                Ok(alg) if configured.contains(&alg) => vec![alg],
                _ => {
                    let why = format!("{name:?} is not an algorithm this server uses (FERRID_KEY_ALGS)");
                    return RotateResponse::BadRequest(admin_error("invalid_request", why));
                }
            },
        };
        for alg in algs {
            match state.keys.rotate(alg).await {
                Ok(active) => {
                    let mut event =
                        AuditEvent::new(kinds::ADMIN_KEY_ROTATE, &actor).details(json!({ "alg": alg.as_str() }));
                    if let Some(kid) = active {
                        event = event.target(format!("key:{kid}"));
                    }
                    state.audit.record(event).await;
                }
                Err(cause) => return unavailable(cause).into(),
            }
        }
        RotateResponse::Ok(key_list(&state), NO_STORE.to_owned())
    }

    /// Revoke a key.
    ///
    /// The key leaves the JWKS at once and signs nothing more, so tokens it signed stop
    /// verifying. If it was the active key, the next key (or a new one) takes over in the same
    /// request, so ferrid keeps issuing tokens.
    #[oai(path = "/api/admin/keys/:kid/revoke", method = "post", operation_id = "admin_revoke_key")]
    async fn revoke(&self, state: Data<&AppState>, auth: AdminAuth, kid: Path<String>) -> RevokeResponse {
        let AdminAuth(actor) = auth;
        match state.keys.revoke(&kid.0).await {
            Ok(()) => {
                state
                    .audit
                    .record(AuditEvent::new(kinds::ADMIN_KEY_REVOKE, &actor).target(format!("key:{}", kid.0)))
                    .await;
                RevokeResponse::Ok(key_list(&state), NO_STORE.to_owned())
            }
            Err(KeyRingError::Keys(KeyError::UnknownKey(_))) => {
                RevokeResponse::NotFound(admin_error("not_found", "no such key"))
            }
            Err(cause) => unavailable(cause).into(),
        }
    }
}

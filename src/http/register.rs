//! `/register` (RFC 7591) and `/register/{client_id}` (RFC 7592): thin handlers over
//! `oauth::registration`. Errors are RFC 7591 §3.2.2 JSON (`invalid_redirect_uri`,
//! `invalid_client_metadata`) or, for tokens, RFC 6750 §3.1 with a `WWW-Authenticate` challenge.

use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path},
    payload::Json,
};

use super::{error::ErrorBody, tags::ApiTags, userinfo::bearer};
use crate::{
    app::AppState,
    oauth::{
        client::{Client, MetadataError, RedirectUri},
        registration::{self, Registered, RegistrationError, RegistrationRequest},
    },
};

/// Client metadata (RFC 7591 §2, OIDC Dynamic Client Registration §2, Back-Channel Logout §2.2).
/// Unknown members are ignored (§2).
#[derive(Debug, Object)]
struct ClientMetadataBody {
    /// Required for the `authorization_code` grant; matched exactly at /authorize.
    #[oai(default)]
    redirect_uris: Vec<String>,
    /// Where RP-initiated logout may return to.
    #[oai(default)]
    post_logout_redirect_uris: Vec<String>,
    /// `client_secret_basic` (default), `client_secret_post`, or `none` for a public client.
    token_endpoint_auth_method: Option<String>,
    /// Default `["authorization_code"]`; also `refresh_token`, `client_credentials`.
    grant_types: Option<Vec<String>>,
    /// Default `["code"]` with the authorization_code grant.
    response_types: Option<Vec<String>>,
    client_name: Option<String>,
    /// Space-separated scopes the client may request.
    scope: Option<String>,
    /// The client's public keys (a JWK Set), e.g. for encrypted ID tokens.
    jwks: Option<serde_json::Value>,
    jwks_uri: Option<String>,
    id_token_signed_response_alg: Option<String>,
    id_token_encrypted_response_alg: Option<String>,
    id_token_encrypted_response_enc: Option<String>,
    userinfo_signed_response_alg: Option<String>,
    userinfo_encrypted_response_alg: Option<String>,
    userinfo_encrypted_response_enc: Option<String>,
    backchannel_logout_uri: Option<String>,
    backchannel_logout_session_required: Option<bool>,
    /// RFC 7592 §2.2: an update names the client it replaces.
    client_id: Option<String>,
    /// RFC 7592 §2.2: if sent with an update, it must be the client's secret.
    client_secret: Option<String>,
}

impl From<ClientMetadataBody> for RegistrationRequest {
    fn from(body: ClientMetadataBody) -> Self {
        Self {
            redirect_uris: body.redirect_uris,
            post_logout_redirect_uris: body.post_logout_redirect_uris,
            token_endpoint_auth_method: body.token_endpoint_auth_method,
            grant_types: body.grant_types,
            response_types: body.response_types,
            client_name: body.client_name,
            scope: body.scope,
            jwks: body.jwks,
            jwks_uri: body.jwks_uri,
            id_token_signed_response_alg: body.id_token_signed_response_alg,
            id_token_encrypted_response_alg: body.id_token_encrypted_response_alg,
            id_token_encrypted_response_enc: body.id_token_encrypted_response_enc,
            userinfo_signed_response_alg: body.userinfo_signed_response_alg,
            userinfo_encrypted_response_alg: body.userinfo_encrypted_response_alg,
            userinfo_encrypted_response_enc: body.userinfo_encrypted_response_enc,
            backchannel_logout_uri: body.backchannel_logout_uri,
            backchannel_logout_session_required: body.backchannel_logout_session_required,
        }
    }
}

/// The registered client (RFC 7591 §3.2.1, RFC 7592 §3).
#[derive(Debug, Object)]
struct ClientInformation {
    client_id: String,
    /// Confidential clients only, and only when it is issued: ferrid keeps a digest.
    #[oai(skip_serializing_if_is_none)]
    client_secret: Option<String>,
    /// Seconds since the epoch.
    client_id_issued_at: i64,
    /// 0: the secret does not expire (present when the client has a secret).
    #[oai(skip_serializing_if_is_none)]
    client_secret_expires_at: Option<i64>,
    /// Manages this registration at `registration_client_uri`; returned at registration only.
    #[oai(skip_serializing_if_is_none)]
    registration_access_token: Option<String>,
    registration_client_uri: String,
    client_name: String,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    token_endpoint_auth_method: String,
    grant_types: Vec<String>,
    response_types: Vec<String>,
    scope: String,
    #[oai(skip_serializing_if_is_none)]
    jwks: Option<serde_json::Value>,
    #[oai(skip_serializing_if_is_none)]
    jwks_uri: Option<String>,
    id_token_signed_response_alg: String,
    #[oai(skip_serializing_if_is_none)]
    id_token_encrypted_response_alg: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    id_token_encrypted_response_enc: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    userinfo_signed_response_alg: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    userinfo_encrypted_response_alg: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    userinfo_encrypted_response_enc: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    backchannel_logout_uri: Option<String>,
    backchannel_logout_session_required: bool,
}

fn information(state: &AppState, client: Client, issued: Option<Registered>) -> ClientInformation {
    let (secret, token) = issued.map_or((None, None), |r| (r.secret, r.registration_token));
    let m = client.metadata;
    let uris = |uris: Vec<RedirectUri>| uris.iter().map(|u| u.as_str().to_owned()).collect();
    ClientInformation {
        registration_client_uri: format!("{}/register/{}", state.config.issuer.as_str(), client.id),
        client_id: client.id.as_str().to_owned(),
        client_secret: secret.map(|s| s.expose().to_owned()),
        client_id_issued_at: client.created_at.timestamp(),
        client_secret_expires_at: client.secret_digest.is_some().then_some(0),
        registration_access_token: token.map(|t| t.expose().to_owned()),
        client_name: m.name,
        redirect_uris: uris(m.redirect_uris),
        post_logout_redirect_uris: uris(m.post_logout_redirect_uris),
        token_endpoint_auth_method: m.token_endpoint_auth_method.as_str().to_owned(),
        grant_types: m.grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
        response_types: m.response_types,
        scope: m.allowed_scopes.join(" "),
        jwks: m.jwks,
        jwks_uri: m.jwks_uri.map(String::from),
        id_token_signed_response_alg: m.id_token_signed_response_alg,
        id_token_encrypted_response_alg: m.id_token_encrypted_response_alg,
        id_token_encrypted_response_enc: m.id_token_encrypted_response_enc,
        userinfo_signed_response_alg: m.userinfo_signed_response_alg,
        userinfo_encrypted_response_alg: m.userinfo_encrypted_response_alg,
        userinfo_encrypted_response_enc: m.userinfo_encrypted_response_enc,
        backchannel_logout_uri: m.backchannel_logout_uri.map(String::from),
        backchannel_logout_session_required: m.backchannel_logout_session_required,
    }
}

fn body(error: &str, description: impl Into<String>) -> Json<ErrorBody> {
    Json(ErrorBody { error: error.to_owned(), error_description: Some(description.into()), request_id: None })
}

const CHALLENGE: &str = r#"Bearer realm="ferrid", error="invalid_token""#;
const NO_STORE: &str = "no-store";

/// How each operation's response type answers a failed request.
macro_rules! failures {
    ($($response:ident),+) => {$(
        impl From<RegistrationError> for $response {
            fn from(error: RegistrationError) -> Self {
                match error {
                    RegistrationError::InvalidToken => {
                        Self::Unauthorized(body("invalid_token", "the access token is missing or invalid"), CHALLENGE.to_owned())
                    }
                    RegistrationError::Disabled => Self::Forbidden(body("access_denied", "client registration is not enabled")),
                    RegistrationError::Metadata(MetadataError::InvalidRedirectUri(why)) => {
                        Self::BadRequest(body("invalid_redirect_uri", why))
                    }
                    RegistrationError::Metadata(MetadataError::InvalidClientMetadata(why)) => {
                        Self::BadRequest(body("invalid_client_metadata", why))
                    }
                    RegistrationError::InvalidRequest(why) => Self::BadRequest(body("invalid_request", why)),
                    RegistrationError::Store(cause) => {
                        tracing::error!(%cause, "client registration failed");
                        Self::Unavailable(body("temporarily_unavailable", "please try again"))
                    }
                }
            }
        }
    )+};
}

#[derive(ApiResponse)]
enum RegisterResponse {
    /// Registered (RFC 7591 §3.2.1). The secret and registration access token are shown only now.
    #[oai(status = 201)]
    Created(Json<Box<ClientInformation>>, #[oai(header = "Cache-Control")] String),
    /// `invalid_redirect_uri` or `invalid_client_metadata` (RFC 7591 §3.2.2).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// An initial access token is required and was missing or wrong (RFC 7591 §3).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>, #[oai(header = "WWW-Authenticate")] String),
    /// Registration is switched off on this server.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// A backing store is unreachable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

#[derive(ApiResponse)]
enum ManageResponse {
    /// The registration as it now stands (RFC 7592 §3).
    #[oai(status = 200)]
    Ok(Json<Box<ClientInformation>>, #[oai(header = "Cache-Control")] String),
    /// Deleted (RFC 7592 §2.3).
    #[oai(status = 204)]
    Deleted,
    /// `invalid_redirect_uri` or `invalid_client_metadata` (RFC 7591 §3.2.2), or the body names
    /// another client (RFC 7592 §2.2).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The registration access token is missing or wrong, or the client does not exist
    /// (RFC 7592 §2.1: the same answer).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>, #[oai(header = "WWW-Authenticate")] String),
    /// The request is not allowed for this client (RFC 7592 §2.2).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// A backing store is unreachable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

failures!(RegisterResponse, ManageResponse);

pub struct RegisterApi;

#[OpenApi(tag = "ApiTags::OAuth")]
impl RegisterApi {
    /// Register a client (RFC 7591 §3.1).
    ///
    /// Send the initial access token as a Bearer token when the server requires one. Redirect
    /// URIs must be absolute (https, loopback http, or a private-use scheme, RFC 8252 §7). The
    /// answer carries the client secret (confidential clients) and the registration access
    /// token, both shown only this once.
    #[oai(path = "/register", method = "post", operation_id = "register_client")]
    async fn register(
        &self,
        state: Data<&AppState>,
        #[oai(name = "Authorization")] authorization: Header<Option<String>>,
        metadata: Json<ClientMetadataBody>,
    ) -> RegisterResponse {
        match registration::register(&state, bearer(authorization.0.as_deref()), metadata.0.into()).await {
            Ok(registered) => {
                let client = registered.client.clone();
                RegisterResponse::Created(
                    Json(Box::new(information(&state, client, Some(registered)))),
                    NO_STORE.to_owned(),
                )
            }
            Err(error) => error.into(),
        }
    }

    /// Read a registration (RFC 7592 §2.1).
    ///
    /// Authenticate with the registration access token returned at registration, as a Bearer
    /// token. A wrong token and an unknown client get the same 401.
    #[oai(path = "/register/:client_id", method = "get", operation_id = "read_client_registration")]
    async fn read(
        &self,
        state: Data<&AppState>,
        client_id: Path<String>,
        #[oai(name = "Authorization")] authorization: Header<Option<String>>,
    ) -> ManageResponse {
        match registration::read(&state, &client_id.0, bearer(authorization.0.as_deref())).await {
            Ok(client) => ManageResponse::Ok(Json(Box::new(information(&state, client, None))), NO_STORE.to_owned()),
            Err(error) => error.into(),
        }
    }

    /// Replace a registration (RFC 7592 §2.2).
    ///
    /// The body is the complete new metadata and names the client; omitted fields return to
    /// their defaults. Authenticate with the registration access token, as a Bearer token.
    #[oai(path = "/register/:client_id", method = "put", operation_id = "update_client_registration")]
    async fn update(
        &self,
        state: Data<&AppState>,
        client_id: Path<String>,
        #[oai(name = "Authorization")] authorization: Header<Option<String>>,
        metadata: Json<ClientMetadataBody>,
    ) -> ManageResponse {
        let mut metadata = metadata.0;
        let (named, secret) = (metadata.client_id.take(), metadata.client_secret.take());
        let token = bearer(authorization.0.as_deref());
        match registration::update(&state, &client_id.0, token, named.as_deref(), secret.as_deref(), metadata.into())
            .await
        {
            Ok(updated) => {
                let client = updated.client.clone();
                ManageResponse::Ok(Json(Box::new(information(&state, client, Some(updated)))), NO_STORE.to_owned())
            }
            Err(error) => error.into(),
        }
    }

    /// Delete a registration (RFC 7592 §2.3).
    ///
    /// The client, its grants and its tokens are removed. Authenticate with the registration
    /// access token, as a Bearer token.
    #[oai(path = "/register/:client_id", method = "delete", operation_id = "delete_client_registration")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        client_id: Path<String>,
        #[oai(name = "Authorization")] authorization: Header<Option<String>>,
    ) -> ManageResponse {
        match registration::delete(&state, &client_id.0, bearer(authorization.0.as_deref())).await {
            Ok(()) => ManageResponse::Deleted,
            Err(error) => error.into(),
        }
    }
}

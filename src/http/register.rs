//! `/register` (RFC 7591) and `/register/{client_id}` (RFC 7592): thin handlers over
//! `oauth::registration`. Errors are RFC 7591 §3.2.2 JSON (`invalid_redirect_uri`,
//! `invalid_client_metadata`) or, for tokens, RFC 6750 §3.1 with a `WWW-Authenticate` challenge.

use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path},
    payload::Json,
};

use super::{
    client_metadata::{ClientInformation, ClientMetadataBody, metadata_error},
    error::{ErrorBody, NO_STORE},
    rate_limit::{count_ip, oauth_refusal},
    request_context::origin_of,
    tags::ApiTags,
    userinfo::bearer,
};
use crate::{
    app::AppState,
    audit::{Actor, AuditEvent, kinds},
    oauth::registration::{self, Registered, RegistrationError},
    ratelimit::Scope,
};

/// A registration request: client metadata, plus for an update the client it names.
#[derive(Debug, Object)]
struct RegistrationBody {
    #[oai(flatten)]
    metadata: ClientMetadataBody,
    /// RFC 7592 §2.2: an update names the client it replaces.
    client_id: Option<String>,
    /// RFC 7592 §2.2: if sent with an update, it must be the client's secret.
    client_secret: Option<String>,
}

fn information(state: &AppState, registered: &Registered) -> Json<Box<ClientInformation>> {
    let (secret, token) = (registered.secret.as_ref(), registered.registration_token.as_ref());
    Json(Box::new(ClientInformation::new(&state.config.issuer, &registered.client, secret, token)))
}

fn body(error: &str, description: impl Into<String>) -> Json<ErrorBody> {
    Json(ErrorBody { error: error.to_owned(), error_description: Some(description.into()), request_id: None })
}

const CHALLENGE: &str = r#"Bearer realm="ferrid", error="invalid_token""#;

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
                    RegistrationError::Metadata(error) => Self::BadRequest(metadata_error(error)),
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
    /// More than 20 registrations an hour from this address (default; `FERRID_RATE_LIMITS`):
    /// `temporarily_unavailable` (RFC 7591 has no code for it) with `Retry-After`. Every answer
    /// carries the `RateLimit-*` headers.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
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

/// Registration changes are made by the client itself (RFC 7591/7592 know no other actor).
async fn record(state: &AppState, request: &Request, kind: &'static str, client_id: &str) {
    let actor = Actor { user: None, client_id: Some(client_id.to_owned()), origin: origin_of(request) };
    state.audit.record(AuditEvent::new(kind, &actor).client(client_id)).await;
}

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
        request: &Request,
        state: Data<&AppState>,
        #[oai(name = "Authorization")] authorization: Header<Option<String>>,
        body: Json<RegistrationBody>,
    ) -> RegisterResponse {
        if let Err(limited) = count_ip(request, &state, Scope::ClientRegistrationIp).await {
            return RegisterResponse::TooManyRequests(oauth_refusal(&limited), limited.retry_after_secs());
        }
        match registration::register(&state, bearer(authorization.0.as_deref()), body.0.metadata.into()).await {
            Ok(registered) => {
                let id = registered.client.id.as_str();
                record(&state, request, kinds::CLIENT_REGISTER, id).await;
                RegisterResponse::Created(information(&state, &registered), NO_STORE.to_owned())
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
            Ok(client) => ManageResponse::Ok(
                Json(Box::new(ClientInformation::new(&state.config.issuer, &client, None, None))),
                NO_STORE.to_owned(),
            ),
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
        request: &Request,
        state: Data<&AppState>,
        client_id: Path<String>,
        #[oai(name = "Authorization")] authorization: Header<Option<String>>,
        body: Json<RegistrationBody>,
    ) -> ManageResponse {
        let RegistrationBody { metadata, client_id: named, client_secret: secret } = body.0;
        let token = bearer(authorization.0.as_deref());
        match registration::update(&state, &client_id.0, token, named.as_deref(), secret.as_deref(), metadata.into())
            .await
        {
            Ok(updated) => {
                record(&state, request, kinds::CLIENT_REGISTRATION_UPDATE, updated.client.id.as_str()).await;
                ManageResponse::Ok(information(&state, &updated), NO_STORE.to_owned())
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
        request: &Request,
        state: Data<&AppState>,
        client_id: Path<String>,
        #[oai(name = "Authorization")] authorization: Header<Option<String>>,
    ) -> ManageResponse {
        match registration::delete(&state, &client_id.0, bearer(authorization.0.as_deref())).await {
            Ok(()) => {
                record(&state, request, kinds::CLIENT_REGISTRATION_DELETE, &client_id.0).await;
                ManageResponse::Deleted
            }
            Err(error) => error.into(),
        }
    }
}

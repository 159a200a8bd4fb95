//! Client metadata on the wire, shared by `/register` (RFC 7591/7592) and `/api/admin/clients`:
//! the request members a client may send, and the registered client as RFC 7591 §3.2.1 returns
//! it. The admin API adds its own members beside these, never instead of them.

use keys::OpaqueSecret;
use poem_openapi::{Object, payload::Json};

use super::error::ErrorBody;
use crate::{
    config::Issuer,
    oauth::{
        client::{Client, MetadataError, RedirectUri},
        registration::RegistrationRequest,
    },
};

/// Client metadata (RFC 7591 §2, OIDC Dynamic Client Registration §2, Back-Channel Logout §2.2).
/// Unknown members are ignored (§2).
#[derive(Debug, Object)]
pub(super) struct ClientMetadataBody {
    /// Required for the `authorization_code` grant; matched exactly at /authorize.
    #[oai(default)]
    redirect_uris: Vec<String>,
    /// Where RP-initiated logout may return to.
    #[oai(default)]
    post_logout_redirect_uris: Vec<String>,
    /// `client_secret_basic` (default), `client_secret_post`, `private_key_jwt` (with `jwks` or
    /// `jwks_uri`), or `none` for a public client.
    token_endpoint_auth_method: Option<String>,
    /// Default `["authorization_code"]`; also `refresh_token`, `client_credentials`.
    grant_types: Option<Vec<String>>,
    /// Default `["code"]` with the authorization_code grant.
    response_types: Option<Vec<String>>,
    /// A name to show users, e.g. on the consent page.
    client_name: Option<String>,
    /// Space-separated scopes the client may request.
    scope: Option<String>,
    /// The client's public keys (a JWK Set), e.g. for encrypted ID tokens.
    jwks: Option<serde_json::Value>,
    /// Where the client publishes its JWK Set; exclusive with `jwks`.
    jwks_uri: Option<String>,
    /// The JWS algorithm of ID tokens (default RS256).
    id_token_signed_response_alg: Option<String>,
    /// Encrypt ID tokens to a key of `jwks` with this algorithm, e.g. RSA-OAEP-256.
    id_token_encrypted_response_alg: Option<String>,
    /// The content encryption of encrypted ID tokens, e.g. A256GCM.
    id_token_encrypted_response_enc: Option<String>,
    /// Answer /userinfo as a JWT signed with this algorithm.
    userinfo_signed_response_alg: Option<String>,
    /// Encrypt /userinfo answers to a key of `jwks` with this algorithm.
    userinfo_encrypted_response_alg: Option<String>,
    /// The content encryption of encrypted /userinfo answers.
    userinfo_encrypted_response_enc: Option<String>,
    /// Where logout tokens are POSTed (https, or http on a loopback host).
    backchannel_logout_uri: Option<String>,
    /// Whether logout tokens must carry `sid`.
    backchannel_logout_session_required: Option<bool>,
    /// Whether every token request must carry a DPoP proof (RFC 9449 §5.2; default false).
    dpop_bound_access_tokens: Option<bool>,
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
            dpop_bound_access_tokens: body.dpop_bound_access_tokens,
        }
    }
}

/// The registered client (RFC 7591 §3.2.1, RFC 7592 §3).
#[derive(Debug, Object)]
pub(super) struct ClientInformation {
    /// The client identifier (RFC 6749 §2.2).
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
    /// RFC 7592 §3: where a dynamically registered client manages its registration.
    #[oai(skip_serializing_if_is_none)]
    registration_client_uri: Option<String>,
    /// A name to show users, e.g. on the consent page.
    client_name: String,
    /// Matched exactly at /authorize.
    redirect_uris: Vec<String>,
    /// Where RP-initiated logout may return to.
    post_logout_redirect_uris: Vec<String>,
    /// How the client authenticates at /token.
    token_endpoint_auth_method: String,
    /// The grants the client may use.
    grant_types: Vec<String>,
    /// `code`, with the authorization_code grant.
    response_types: Vec<String>,
    /// Space-separated scopes the client may request.
    scope: String,
    /// The client's public keys (a JWK Set).
    #[oai(skip_serializing_if_is_none)]
    jwks: Option<serde_json::Value>,
    /// Where the client publishes its JWK Set.
    #[oai(skip_serializing_if_is_none)]
    jwks_uri: Option<String>,
    /// The JWS algorithm of ID tokens.
    id_token_signed_response_alg: String,
    /// The key-management algorithm of encrypted ID tokens.
    #[oai(skip_serializing_if_is_none)]
    id_token_encrypted_response_alg: Option<String>,
    /// The content encryption of encrypted ID tokens.
    #[oai(skip_serializing_if_is_none)]
    id_token_encrypted_response_enc: Option<String>,
    /// The JWS algorithm of signed /userinfo answers.
    #[oai(skip_serializing_if_is_none)]
    userinfo_signed_response_alg: Option<String>,
    /// The key-management algorithm of encrypted /userinfo answers.
    #[oai(skip_serializing_if_is_none)]
    userinfo_encrypted_response_alg: Option<String>,
    /// The content encryption of encrypted /userinfo answers.
    #[oai(skip_serializing_if_is_none)]
    userinfo_encrypted_response_enc: Option<String>,
    /// Where logout tokens are POSTed.
    #[oai(skip_serializing_if_is_none)]
    backchannel_logout_uri: Option<String>,
    /// Whether logout tokens must carry `sid`.
    backchannel_logout_session_required: bool,
    /// Whether every token request must carry a DPoP proof (RFC 9449 §5.2).
    dpop_bound_access_tokens: bool,
}

impl ClientInformation {
    /// `client` as registered, with the credentials issued just now (shown only this once).
    pub(super) fn new(
        issuer: &Issuer,
        client: &Client,
        secret: Option<&OpaqueSecret>,
        registration_token: Option<&OpaqueSecret>,
    ) -> Self {
        let m = &client.metadata;
        let uris = |uris: &[RedirectUri]| uris.iter().map(|u| u.as_str().to_owned()).collect();
        Self {
            registration_client_uri: client
                .registration_token_digest
                .is_some()
                .then(|| format!("{}/register/{}", issuer.as_str(), client.id)),
            client_id: client.id.as_str().to_owned(),
            client_secret: secret.map(|s| s.expose().to_owned()),
            client_id_issued_at: client.created_at.timestamp(),
            client_secret_expires_at: client.secret_digest.is_some().then_some(0),
            registration_access_token: registration_token.map(|t| t.expose().to_owned()),
            client_name: m.name.clone(),
            redirect_uris: uris(&m.redirect_uris),
            post_logout_redirect_uris: uris(&m.post_logout_redirect_uris),
            token_endpoint_auth_method: m.token_endpoint_auth_method.as_str().to_owned(),
            grant_types: m.grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
            response_types: m.response_types.clone(),
            scope: m.allowed_scopes.join(" "),
            jwks: m.jwks.clone(),
            jwks_uri: m.jwks_uri.as_ref().map(|u| u.to_string()),
            id_token_signed_response_alg: m.id_token_signed_response_alg.clone(),
            id_token_encrypted_response_alg: m.id_token_encrypted_response_alg.clone(),
            id_token_encrypted_response_enc: m.id_token_encrypted_response_enc.clone(),
            userinfo_signed_response_alg: m.userinfo_signed_response_alg.clone(),
            userinfo_encrypted_response_alg: m.userinfo_encrypted_response_alg.clone(),
            userinfo_encrypted_response_enc: m.userinfo_encrypted_response_enc.clone(),
            backchannel_logout_uri: m.backchannel_logout_uri.as_ref().map(|u| u.to_string()),
            backchannel_logout_session_required: m.backchannel_logout_session_required,
            dpop_bound_access_tokens: m.dpop_bound_access_tokens,
        }
    }
}

/// Rejected metadata as RFC 7591 §3.2.2 answers it: `invalid_redirect_uri` or
/// `invalid_client_metadata`, with the reason.
pub(super) fn metadata_error(error: MetadataError) -> Json<ErrorBody> {
    let (code, why) = match error {
        MetadataError::InvalidRedirectUri(why) => ("invalid_redirect_uri", why),
        MetadataError::InvalidClientMetadata(why) => ("invalid_client_metadata", why),
    };
    Json(ErrorBody { error: code.to_owned(), error_description: Some(why), request_id: None })
}

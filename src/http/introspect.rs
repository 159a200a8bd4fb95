//! `POST /introspect` (RFC 7662 §2): authenticate the client as at /token, call the domain, and
//! answer with the token's metadata or a bare `{"active": false}`, never cached.

use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::Header,
    payload::{Form, Json},
};
use serde_json::{Value, json};

use super::{
    error::{NO_STORE, OAuthErrorResponse},
    tags::ApiTags,
};
use crate::{
    app::AppState,
    oauth::{
        client_auth::{AssertionParams, authenticate_client, credentials_from_request},
        error::OAuthError,
        introspection::{Introspection, TokenTypeHint, introspect},
    },
};

/// RFC 7662 §2.1.
#[derive(Debug, Object, serde::Deserialize)]
struct IntrospectionForm {
    /// The token to introspect.
    token: Option<String>,
    /// `access_token` or `refresh_token`: where to look first (RFC 7662 §2.1). Other values are
    /// ignored.
    token_type_hint: Option<String>,
    /// `client_secret_post` (RFC 6749 §2.3.1).
    client_id: Option<String>,
    client_secret: Option<String>,
    /// `private_key_jwt`: `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
    /// (RFC 7523 §2.2).
    client_assertion_type: Option<String>,
    /// `private_key_jwt`: a JWT signed by the client (RFC 7521 §4.2, OIDC Core §9).
    client_assertion: Option<String>,
}

/// RFC 7662 §2.2: `active`, and for an active token its metadata.
#[derive(Debug, Object)]
struct IntrospectionBody {
    active: bool,
    #[oai(skip_serializing_if_is_none)]
    scope: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    client_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    sub: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    exp: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    iat: Option<i64>,
    /// `Bearer` or `DPoP` for access tokens, `refresh_token` for refresh tokens.
    #[oai(skip_serializing_if_is_none)]
    token_type: Option<String>,
    /// The key a DPoP-bound token is bound to (RFC 9449 §6.2).
    #[oai(skip_serializing_if_is_none)]
    cnf: Option<Confirmation>,
    #[oai(skip_serializing_if_is_none)]
    jti: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    iss: Option<String>,
    /// A string, or an array of strings (RFC 7519 §4.1.3).
    #[oai(skip_serializing_if_is_none)]
    aud: Option<Value>,
}

/// The confirmation claim (RFC 7800 §3.1) of a DPoP-bound token.
#[derive(Debug, Object)]
struct Confirmation {
    /// The base64url SHA-256 JWK thumbprint of the DPoP key (RFC 9449 §6.1).
    jkt: String,
}

impl From<Introspection> for IntrospectionBody {
    fn from(introspection: Introspection) -> Self {
        let Introspection::Active(token) = introspection else {
            return Self {
                active: false,
                scope: None,
                client_id: None,
                sub: None,
                exp: None,
                iat: None,
                token_type: None,
                cnf: None,
                jti: None,
                iss: None,
                aud: None,
            };
        };
        let token = *token;
        let aud = match token.aud.as_slice() {
            [] => None,
            [one] => Some(json!(one)),
            many => Some(json!(many)),
        };
        Self {
            active: true,
            scope: Some(token.scope),
            client_id: Some(token.client_id),
            sub: Some(token.sub),
            exp: Some(token.exp),
            iat: Some(token.iat),
            token_type: Some(token.token_type.to_owned()),
            cnf: token.cnf_jkt.map(|jkt| Confirmation { jkt }),
            jti: token.jti,
            iss: Some(token.iss),
            aud,
        }
    }
}

#[derive(ApiResponse)]
enum IntrospectionResponse {
    /// The token's state (RFC 7662 §2.2).
    #[oai(status = 200)]
    Ok(Json<IntrospectionBody>, #[oai(header = "Cache-Control")] String),
}

pub struct IntrospectionApi;

#[OpenApi(tag = "ApiTags::OAuth")]
impl IntrospectionApi {
    /// Token introspection (RFC 7662): whether one of the calling client's tokens is active.
    ///
    /// The caller authenticates as a client. A token issued to another client, or one that is
    /// unknown, expired or revoked, is reported as `{"active": false}` (RFC 7662 §2.2).
    #[oai(path = "/introspect", method = "post", operation_id = "introspect")]
    async fn introspect(
        &self,
        state: Data<&AppState>,
        request: &Request,
        #[oai(name = "Authorization")] authorization: Header<Option<String>>,
        form: Form<IntrospectionForm>,
    ) -> Result<IntrospectionResponse, OAuthErrorResponse> {
        let introspection = respond(&state, request, authorization.0.as_deref(), form.0).await?;
        Ok(IntrospectionResponse::Ok(Json(introspection.into()), NO_STORE.to_owned()))
    }
}

async fn respond(
    state: &AppState,
    request: &Request,
    authorization: Option<&str>,
    form: IntrospectionForm,
) -> Result<Introspection, OAuthError> {
    let credentials = credentials_from_request(
        authorization,
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
        AssertionParams {
            client_assertion_type: form.client_assertion_type.as_deref(),
            client_assertion: form.client_assertion.as_deref(),
        },
    )?;
    let client = authenticate_client(credentials, &state.clients, &state.client_assertions).await?;
    super::request_context::identify_client(request, client.id.as_str());
    let token =
        form.token.filter(|t| !t.is_empty()).ok_or_else(|| OAuthError::InvalidRequest("token is required".into()))?;
    let hint = form.token_type_hint.as_deref().and_then(TokenTypeHint::parse);
    introspect(state, &client, &token, hint).await
}

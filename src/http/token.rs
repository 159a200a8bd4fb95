//! `POST /token` (RFC 6749 §3.2): authenticate the client, parse the grant, call the domain,
//! and answer with `Cache-Control: no-store` (§5.1) — or an RFC 6749 §5.2 error.

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Header, payload::Json};

use super::{
    dpop::dpop_header,
    error::{ErrorBody, NO_STORE, OAuthErrorResponse},
    oauth_form::{ListFields, OAuthForm},
    rate_limit::{count, count_ip, oauth_refusal},
    tags::ApiTags,
};
use crate::{
    app::AppState,
    oauth::{
        client_auth::{AssertionParams, authenticate_client, credentials_from_request},
        dpop::ProofTarget,
        error::OAuthError,
        grants::{TokenRequest, TokenResponse, exchange, record_client_auth_failure},
        resource::Resource,
        scope::Scope,
    },
    ratelimit::{self, Decision},
};

/// The form fields of every grant ferrid supports; each grant reads its own.
#[derive(Debug, Object, serde::Deserialize)]
struct TokenForm {
    /// `authorization_code`, `refresh_token` or `client_credentials`.
    grant_type: String,
    code: Option<String>,
    redirect_uri: Option<String>,
    /// PKCE verifier (RFC 7636 §4.5).
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    /// For `refresh_token`: a narrower scope (RFC 6749 §6); for `client_credentials`: the scope
    /// requested (RFC 6749 §4.4.2).
    scope: Option<String>,
    /// For `client_credentials`: the resources the token is for, its `aud` (RFC 8707 §2); the
    /// parameter may repeat.
    #[serde(default)]
    #[oai(default)]
    resource: Vec<String>,
    /// `client_secret_post` and public clients (RFC 6749 §2.3.1).
    client_id: Option<String>,
    client_secret: Option<String>,
    /// `private_key_jwt`: `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
    /// (RFC 7523 §2.2).
    client_assertion_type: Option<String>,
    /// `private_key_jwt`: a JWT signed by the client (RFC 7521 §4.2, OIDC Core §9).
    client_assertion: Option<String>,
}

impl ListFields for TokenForm {
    const LIST_FIELDS: &'static [&'static str] = &["resource"];
}

impl TryFrom<TokenForm> for TokenRequest {
    type Error = OAuthError;

    fn try_from(form: TokenForm) -> Result<Self, OAuthError> {
        let required = |value: Option<String>, name: &str| {
            value.filter(|v| !v.is_empty()).ok_or_else(|| OAuthError::InvalidRequest(format!("{name} is required")))
        };
        match form.grant_type.as_str() {
            "authorization_code" => Ok(TokenRequest::AuthorizationCode {
                code: keys::OpaqueSecret::from_presented(required(form.code, "code")?),
                redirect_uri: required(form.redirect_uri, "redirect_uri")?,
                code_verifier: form.code_verifier.filter(|v| !v.is_empty()),
            }),
            "refresh_token" => Ok(TokenRequest::RefreshToken {
                refresh_token: keys::OpaqueSecret::from_presented(required(form.refresh_token, "refresh_token")?),
                scope: scope(form.scope)?,
            }),
            "client_credentials" => Ok(TokenRequest::ClientCredentials {
                scope: scope(form.scope)?,
                resources: form.resource.iter().map(|r| Resource::parse(r)).collect::<Result<_, _>>()?,
            }),
            other => Err(OAuthError::UnsupportedGrantType(format!("grant_type {other:?} is not supported"))),
        }
    }
}

fn scope(value: Option<String>) -> Result<Option<Scope>, OAuthError> {
    value
        .filter(|s| !s.is_empty())
        .map(|s| Scope::parse(&s))
        .transpose()
        .map_err(|_| OAuthError::InvalidScope("scope is malformed".into()))
}

/// RFC 6749 §5.1 (and OIDC Core §3.1.3.3 `id_token`).
#[derive(Debug, Object)]
struct TokenBody {
    access_token: String,
    /// `Bearer`, or `DPoP` when the request carried a DPoP proof and the access token is bound
    /// to its key (RFC 9449 §5).
    token_type: String,
    expires_in: i64,
    #[oai(skip_serializing_if_is_none)]
    id_token: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    refresh_token: Option<String>,
    scope: String,
}

impl From<TokenResponse> for TokenBody {
    fn from(response: TokenResponse) -> Self {
        Self {
            access_token: response.access_token,
            token_type: response.token_type.to_owned(),
            expires_in: response.expires_in,
            id_token: response.id_token,
            refresh_token: response.refresh_token,
            scope: response.scope,
        }
    }
}

#[derive(ApiResponse)]
enum TokenEndpointResponse {
    /// Tokens issued (RFC 6749 §5.1); with server nonces on, the next DPoP nonce to use
    /// (RFC 9449 §8.2).
    #[oai(status = 200)]
    Ok(
        Json<TokenBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
        #[oai(header = "DPoP-Nonce")] Option<String>,
    ),
    /// Too many requests from this address, or from this (authenticated) client: 600 a minute
    /// each by default (`FERRID_RATE_LIMITS`). RFC 6749 has no error code for it; the body is
    /// `temporarily_unavailable` and `Retry-After` says when to retry. Every answer carries the
    /// `RateLimit-*` headers.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64, #[oai(header = "Cache-Control")] String),
}

impl From<Decision> for TokenEndpointResponse {
    fn from(limited: Decision) -> Self {
        Self::TooManyRequests(oauth_refusal(&limited), limited.retry_after_secs(), NO_STORE.to_owned())
    }
}

/// A request refused by a limit, or an RFC 6749 §5.2 error.
enum Refusal {
    Limited(Decision),
    OAuth(OAuthError),
}

impl From<OAuthError> for Refusal {
    fn from(error: OAuthError) -> Self {
        Self::OAuth(error)
    }
}

pub struct TokenApi;

#[OpenApi(tag = "ApiTags::OAuth")]
impl TokenApi {
    /// The token endpoint: exchange an authorization code, a refresh token or the client's own
    /// credentials for tokens.
    ///
    /// RFC 6749 §3.2. Grants: `authorization_code` with the PKCE `code_verifier` (RFC 7636
    /// §4.5), `refresh_token` (rotated on every use; reuse revokes the family, RFC 9700
    /// §4.14.2) and `client_credentials` (RFC 6749 §4.4). Clients authenticate with
    /// `client_secret_basic`, `client_secret_post`, `private_key_jwt` or, when public, `none`.
    ///
    /// A `DPoP` header with a proof (RFC 9449 §4) binds the access token — and a public
    /// client's refresh token — to the proof's key; the answer's `token_type` is then `DPoP`.
    #[oai(path = "/token", method = "post", operation_id = "token")]
    async fn token(
        &self,
        state: Data<&AppState>,
        request: &Request,
        #[oai(name = "Authorization")] authorization: Header<Option<String>>,
        /// A DPoP proof JWT (RFC 9449 §4.2) for `POST` to this endpoint.
        #[oai(name = "DPoP")]
        _dpop: Header<Option<String>>,
        form: OAuthForm<TokenForm>,
    ) -> Result<TokenEndpointResponse, OAuthErrorResponse> {
        if let Err(limited) = count_ip(request, &state, ratelimit::Scope::TokenIp).await {
            return Ok(limited.into());
        }
        let proof = dpop_header(request).map_err(OAuthError::from)?;
        match token(&state, request, authorization.0.as_deref(), proof, form.0).await {
            Ok(response) => {
                let nonce = state.dpop.current_nonce(state.clock.now());
                Ok(TokenEndpointResponse::Ok(Json(response.into()), NO_STORE.to_owned(), "no-cache".to_owned(), nonce))
            }
            Err(Refusal::Limited(limited)) => Ok(limited.into()),
            Err(Refusal::OAuth(error)) => Err(error.into()),
        }
    }
}

#[tracing::instrument(skip_all, fields(grant_type = %form.grant_type))]
async fn token(
    state: &AppState,
    request: &Request,
    authorization: Option<&str>,
    dpop: Option<&str>,
    form: TokenForm,
) -> Result<TokenResponse, Refusal> {
    let credentials = credentials_from_request(
        authorization,
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
        AssertionParams {
            client_assertion_type: form.client_assertion_type.as_deref(),
            client_assertion: form.client_assertion.as_deref(),
        },
    )?;
    let origin = super::request_context::origin_of(request);
    let (claimed, method) = (credentials.client_id().clone(), credentials.method());
    let client = match authenticate_client(credentials, &state.clients, &state.client_assertions).await {
        Ok(client) => client,
        Err(error) => {
            record_client_auth_failure(state, &claimed, method, &origin, &error).await;
            return Err(error.into());
        }
    };
    super::request_context::identify_client(request, client.id.as_str());
    // Counted once authenticated: a client id alone must not let anyone spend a client's budget.
    count(request, state, &[(ratelimit::Scope::TokenClient, &[client.id.as_str()])]).await.map_err(Refusal::Limited)?;
    let grant = TokenRequest::try_from(form)?;
    let proof = match dpop {
        Some(proof) => {
            let uri = format!("{}/token", state.config.issuer.as_str());
            let target = ProofTarget { method: "POST", uri: &uri, access_token: None };
            Some(state.dpop.verify(proof, target, state.clock.now()).await.map_err(OAuthError::from)?)
        }
        None => None,
    };
    Ok(exchange(state, &client, grant, &origin, proof.as_ref()).await?)
}

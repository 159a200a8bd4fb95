//! `POST /revoke` (RFC 7009 §2): authenticate the client as at /token, revoke, and answer 200
//! with an empty body whether or not there was anything to revoke (§2.2).

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Header, payload::Form};

use super::{
    error::{NO_STORE, OAuthErrorResponse},
    request_context::origin_of,
    tags::ApiTags,
};
use crate::{
    app::AppState,
    oauth::{
        client_auth::{AssertionParams, authenticate_client, credentials_from_request},
        error::OAuthError,
        revoke::revoke_token,
        session::RequestOrigin,
    },
};

/// RFC 7009 §2.1.
#[derive(Debug, Object, serde::Deserialize)]
struct RevocationForm {
    /// The token to revoke.
    token: Option<String>,
    /// `access_token` or `refresh_token` (RFC 7009 §2.1); any other value is
    /// `unsupported_token_type`.
    token_type_hint: Option<String>,
    /// `client_secret_post` and public clients (RFC 6749 §2.3.1, RFC 7009 §5).
    client_id: Option<String>,
    client_secret: Option<String>,
    /// `private_key_jwt`: `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
    /// (RFC 7523 §2.2).
    client_assertion_type: Option<String>,
    /// `private_key_jwt`: a JWT signed by the client (RFC 7521 §4.2, OIDC Core §9).
    client_assertion: Option<String>,
}

#[derive(ApiResponse)]
enum RevocationResponse {
    /// Revoked, or nothing to revoke (RFC 7009 §2.2): the body is empty.
    #[oai(status = 200)]
    Ok(#[oai(header = "Cache-Control")] String),
}

pub struct RevocationApi;

#[OpenApi(tag = "ApiTags::OAuth")]
impl RevocationApi {
    /// Token revocation (RFC 7009): end a refresh token's grant, or one access token.
    ///
    /// The caller authenticates as a client and may revoke only its own tokens. Revoking a
    /// refresh token also revokes the access tokens issued from its grant (RFC 7009 §2.1). An
    /// unknown token is answered 200, so the answer reveals nothing (§2.2).
    #[oai(path = "/revoke", method = "post", operation_id = "revoke")]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        request: &Request,
        #[oai(name = "Authorization")] authorization: Header<Option<String>>,
        form: Form<RevocationForm>,
    ) -> Result<RevocationResponse, OAuthErrorResponse> {
        respond(&state, request, authorization.0.as_deref(), form.0, &origin_of(request)).await?;
        Ok(RevocationResponse::Ok(NO_STORE.to_owned()))
    }
}

async fn respond(
    state: &AppState,
    request: &Request,
    authorization: Option<&str>,
    form: RevocationForm,
    origin: &RequestOrigin,
) -> Result<(), OAuthError> {
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
    revoke_token(state, &client, &token, form.token_type_hint.as_deref(), origin).await
}

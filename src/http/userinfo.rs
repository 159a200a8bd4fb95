//! `GET|POST /userinfo` (OIDC Core §5.3) with the bearer token in the `Authorization` header or,
//! for POST, the `access_token` form field (RFC 6750 §2.1–§2.2).

use std::collections::BTreeMap;

use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::Header,
    payload::{Form, Json, PlainText},
};

use super::tags::ApiTags;
use crate::{
    app::AppState,
    oauth::userinfo::{UserInfo, UserInfoError, userinfo},
};

#[derive(ApiResponse)]
enum UserInfoResponse {
    /// The user's claims for the token's scopes; `application/jwt` when the client registered
    /// `userinfo_signed_response_alg`.
    #[oai(status = 200)]
    Claims(Json<BTreeMap<String, serde_json::Value>>, #[oai(header = "Cache-Control")] String),
    /// A signed and/or encrypted UserInfo response (OIDC Core §5.3.2), sent as `application/jwt`.
    #[oai(status = 200, content_type = "application/jwt")]
    Signed(PlainText<String>, #[oai(header = "Cache-Control")] String),
    /// Missing, invalid, expired or revoked token (RFC 6750 §3.1).
    #[oai(status = 401)]
    Unauthorized(#[oai(header = "WWW-Authenticate")] String),
    /// A server error.
    #[oai(status = 500)]
    Internal,
}

#[derive(Debug, Object, serde::Deserialize)]
struct UserInfoForm {
    /// RFC 6750 §2.2 form-encoded bearer token.
    access_token: Option<String>,
}

pub(super) fn bearer(header: Option<&str>) -> Option<&str> {
    let (scheme, token) = header?.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

pub struct UserInfoApi;

#[OpenApi(tag = "ApiTags::OAuth")]
impl UserInfoApi {
    /// The signed-in user's claims (OIDC Core §5.3), for a bearer access token.
    ///
    /// Send the access token as `Authorization: Bearer` (RFC 6750 §2.1). The claims are those
    /// the token's scopes allow; `sub` always matches the ID token's.
    #[oai(path = "/userinfo", method = "get", operation_id = "userinfo")]
    async fn userinfo_get(
        &self,
        state: Data<&AppState>,
        #[oai(name = "Authorization")] authorization: Header<Option<String>>,
    ) -> UserInfoResponse {
        respond(&state, bearer(authorization.0.as_deref())).await
    }

    /// The signed-in user's claims, by POST.
    ///
    /// The same as GET, with the token in the `Authorization` header or in the `access_token`
    /// form field (RFC 6750 §2.2), but not both (§2).
    #[oai(path = "/userinfo", method = "post", operation_id = "userinfo_post")]
    async fn userinfo_post(
        &self,
        state: Data<&AppState>,
        #[oai(name = "Authorization")] authorization: Header<Option<String>>,
        form: Form<UserInfoForm>,
    ) -> UserInfoResponse {
        // RFC 6750 §2: a client MUST NOT use more than one method.
        match (bearer(authorization.0.as_deref()), form.0.access_token.as_deref().filter(|t| !t.is_empty())) {
            (Some(_), Some(_)) => UserInfoResponse::Unauthorized(invalid_request()),
            (Some(token), None) | (None, Some(token)) => respond(&state, Some(token)).await,
            (None, None) => respond(&state, None).await,
        }
    }
}

fn invalid_request() -> String {
    "Bearer realm=\"ferrid\", error=\"invalid_request\"".to_owned()
}

async fn respond(state: &AppState, token: Option<&str>) -> UserInfoResponse {
    let Some(token) = token else {
        // RFC 6750 §3.1: no error code when the request carried no token.
        return UserInfoResponse::Unauthorized("Bearer realm=\"ferrid\"".to_owned());
    };
    match userinfo(state, token).await {
        Ok(UserInfo::Json(claims)) => {
            UserInfoResponse::Claims(Json(claims.into_iter().collect()), "no-store".to_owned())
        }
        Ok(UserInfo::Jwt(jwt)) => UserInfoResponse::Signed(PlainText(jwt), "no-store".to_owned()),
        Err(UserInfoError::InvalidToken) => UserInfoResponse::Unauthorized(
            "Bearer realm=\"ferrid\", error=\"invalid_token\", error_description=\"the access token is invalid\""
                .to_owned(),
        ),
        Err(UserInfoError::Internal(error)) => {
            tracing::error!(error = %format!("{error:#}"), "userinfo failed");
            UserInfoResponse::Internal
        }
    }
}

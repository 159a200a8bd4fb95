//! `GET|POST /userinfo` (OIDC Core §5.3) with the bearer token in the `Authorization` header or,
//! for POST, the `access_token` form field (RFC 6750 §2.1–§2.2) — or a DPoP-bound token as
//! `Authorization: DPoP` with its proof in the `DPoP` header (RFC 9449 §7.1).

use std::collections::BTreeMap;

use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::Header,
    payload::{Form, Json, PlainText},
};

use super::{
    dpop::dpop_header,
    error::{ErrorBody, NO_STORE, temporarily_unavailable},
    tags::ApiTags,
};
use crate::{
    app::AppState,
    oauth::{
        dpop::DpopError,
        userinfo::{PresentedToken, UserInfo, UserInfoError, userinfo},
    },
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
    /// Missing, invalid, expired or revoked token (RFC 6750 §3.1), or a DPoP-bound token
    /// without a valid proof (RFC 9449 §7.1); with `use_dpop_nonce`, the nonce to use (§9).
    #[oai(status = 401)]
    Unauthorized(#[oai(header = "WWW-Authenticate")] String, #[oai(header = "DPoP-Nonce")] Option<String>),
    /// A backing store is unreachable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Cache-Control")] String),
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
    scheme_token(header, "bearer")
}

fn scheme_token<'a>(header: Option<&'a str>, scheme: &str) -> Option<&'a str> {
    let (given, token) = header?.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The token from the `Authorization` header, under the `Bearer` or the `DPoP` scheme.
fn presented<'a>(
    authorization: Option<&'a str>,
    request: &'a Request,
) -> Result<Option<PresentedToken<'a>>, DpopError> {
    if let Some(token) = bearer(authorization) {
        return Ok(Some(PresentedToken::Bearer(token)));
    }
    match scheme_token(authorization, "dpop") {
        Some(token) => Ok(Some(PresentedToken::Dpop { token, proof: dpop_header(request)? })),
        None => Ok(None),
    }
}

pub struct UserInfoApi;

#[OpenApi(tag = "ApiTags::OAuth")]
impl UserInfoApi {
    /// The signed-in user's claims (OIDC Core §5.3), for a bearer access token.
    ///
    /// Send the access token as `Authorization: Bearer` (RFC 6750 §2.1), or a DPoP-bound one
    /// as `Authorization: DPoP` with a proof for this request in the `DPoP` header (RFC 9449
    /// §7.1). The claims are those the token's scopes allow; `sub` always matches the ID
    /// token's.
    #[oai(path = "/userinfo", method = "get", operation_id = "userinfo")]
    async fn userinfo_get(
        &self,
        state: Data<&AppState>,
        request: &Request,
        #[oai(name = "Authorization")] authorization: Header<Option<String>>,
        /// A DPoP proof JWT (RFC 9449 §4.2) with `ath`, for a DPoP-bound access token.
        #[oai(name = "DPoP")]
        _dpop: Header<Option<String>>,
    ) -> UserInfoResponse {
        match presented(authorization.0.as_deref(), request) {
            Ok(token) => respond(&state, token, "GET").await,
            Err(error) => challenge(error.into()),
        }
    }

    /// The signed-in user's claims, by POST.
    ///
    /// The same as GET, with the token in the `Authorization` header or in the `access_token`
    /// form field (RFC 6750 §2.2), but not both (§2).
    #[oai(path = "/userinfo", method = "post", operation_id = "userinfo_post")]
    async fn userinfo_post(
        &self,
        state: Data<&AppState>,
        request: &Request,
        #[oai(name = "Authorization")] authorization: Header<Option<String>>,
        /// A DPoP proof JWT (RFC 9449 §4.2) with `ath`, for a DPoP-bound access token.
        #[oai(name = "DPoP")]
        _dpop: Header<Option<String>>,
        form: Form<UserInfoForm>,
    ) -> UserInfoResponse {
        let header = match presented(authorization.0.as_deref(), request) {
            Ok(token) => token,
            Err(error) => return challenge(error.into()),
        };
        // RFC 6750 §2: a client MUST NOT use more than one method.
        match (header, form.0.access_token.as_deref().filter(|t| !t.is_empty())) {
            (Some(_), Some(_)) => UserInfoResponse::Unauthorized(invalid_request(), None),
            (Some(token), None) => respond(&state, Some(token), "POST").await,
            (None, Some(token)) => respond(&state, Some(PresentedToken::Bearer(token)), "POST").await,
            (None, None) => respond(&state, None, "POST").await,
        }
    }
}

fn invalid_request() -> String {
    "Bearer realm=\"ferrid\", error=\"invalid_request\"".to_owned()
}

/// A 401 under the `DPoP` scheme (RFC 9449 §7.1), naming the algorithms proofs may use.
fn dpop_challenge(error: &str) -> String {
    let algs: Vec<&str> = keys::SigningAlg::ALL.iter().map(|alg| alg.as_str()).collect();
    format!("DPoP algs=\"{}\", error=\"{error}\"", algs.join(" "))
}

fn challenge(error: UserInfoError) -> UserInfoResponse {
    match error {
        UserInfoError::Dpop { error, nonce } => UserInfoResponse::Unauthorized(dpop_challenge(error), nonce),
        UserInfoError::InvalidToken => UserInfoResponse::Unauthorized(
            "Bearer realm=\"ferrid\", error=\"invalid_token\", error_description=\"the access token is invalid\""
                .to_owned(),
            None,
        ),
        UserInfoError::Unavailable => UserInfoResponse::Unavailable(
            temporarily_unavailable("userinfo: a store is unavailable"),
            NO_STORE.to_owned(),
        ),
        UserInfoError::Internal(error) => {
            tracing::error!(error = %format!("{error:#}"), "userinfo failed");
            UserInfoResponse::Internal
        }
    }
}

async fn respond(state: &AppState, token: Option<PresentedToken<'_>>, method: &str) -> UserInfoResponse {
    let Some(token) = token else {
        // RFC 6750 §3.1: no error code when the request carried no token.
        return UserInfoResponse::Unauthorized("Bearer realm=\"ferrid\"".to_owned(), None);
    };
    match userinfo(state, token, method).await {
        Ok(UserInfo::Json(claims)) => {
            UserInfoResponse::Claims(Json(claims.into_iter().collect()), "no-store".to_owned())
        }
        Ok(UserInfo::Jwt(jwt)) => UserInfoResponse::Signed(PlainText(jwt), "no-store".to_owned()),
        // A token presented under the DPoP scheme is refused under it too (RFC 9449 §7.1).
        Err(UserInfoError::InvalidToken) if matches!(token, PresentedToken::Dpop { .. }) => {
            challenge(UserInfoError::Dpop { error: "invalid_token", nonce: None })
        }
        Err(error) => challenge(error),
    }
}

//! The guard of the user's own API (`/api/users/me...`): an `Authorization: Bearer` access token
//! for ferrid issued to a user through one of ferrid's own applications — the first-party login
//! API, a first-party client, or Swagger UI (see `oauth::first_party`). Refusals happen in the
//! extractor, before the body is read; handlers declare them with [`guarded_response!`].
//!
//! [`guarded_response!`]: super::admin_auth::guarded_response

use poem::{IntoResponse, Request, RequestBody};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, registry::Registry};

use super::{
    admin_auth::{BearerDenied, body, guarded_response, presented_bearer, unavailable},
    request_context::origin_of,
    security_schemes,
};
use crate::{
    app::AppState,
    audit::Actor,
    oauth::{
        admin::BearerAuthError,
        first_party::{AccountCaller, authenticate_account_user},
    },
};

const SCHEME: &str = "AccountBearer";

/// The signed-in user calling their own API, and the audit log's view of them.
pub(super) struct AccountAuth {
    pub caller: AccountCaller,
    pub actor: Actor,
}

guarded_response! {
    /// The guard's refusals on their own, to answer from the extractor.
    enum Refused {}
}

async fn authenticate(request: &Request) -> Result<AccountAuth, BearerDenied> {
    let token = presented_bearer(request, "send the access token from /api/auth/login")?;
    let Some(state) = request.data::<AppState>() else { return Err(unavailable("no application state")) };
    match authenticate_account_user(state, token).await {
        Ok(caller) => {
            let actor = caller.actor(origin_of(request));
            Ok(AccountAuth { caller, actor })
        }
        Err(BearerAuthError::InvalidToken) => Err(BearerDenied::Unauthorized(
            body("invalid_token", "the access token is invalid"),
            "Bearer realm=\"ferrid\", error=\"invalid_token\"".to_owned(),
        )),
        Err(BearerAuthError::InsufficientScope) => Err(BearerDenied::Forbidden(
            body("insufficient_scope", "this API takes tokens issued to ferrid's own applications only"),
            "Bearer realm=\"ferrid\", error=\"insufficient_scope\"".to_owned(),
        )),
        Err(BearerAuthError::Internal(cause)) => Err(unavailable(cause)),
    }
}

impl<'a> ApiExtractor<'a> for AccountAuth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            SCHEME,
            security_schemes::bearer(
                "The access token from `POST /api/auth/login` (or from a first-party client's sign-in, or \
                     Swagger's Authorize). Tokens of third-party clients are refused.",
            ),
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![SCHEME]
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match authenticate(request).await {
            Ok(auth) => Ok(auth),
            Err(denied) => Err(poem::Error::from_response(Refused::from(denied).into_response())),
        }
    }
}

//! The account API's guard: ferrid's own session cookie, set by signing in at ferrid (also
//! through Swagger's Authorize, which runs the sign-in in the same browser). [`SignedIn`] also
//! declares the cookie security scheme in the OpenAPI document.

use poem::{Request, RequestBody};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, registry::Registry};

use super::{
    cookies::{self, SESSION_COOKIE},
    security_schemes,
};
use crate::{
    app::AppState,
    oauth::{flow::current_session, session::OpSession},
};

const SCHEME: &str = "FerridSession";

/// The live session of the request's cookie: `Ok(None)` when there is none, `Err` when the
/// store could not be asked. Extracting never fails, so each handler answers in its own
/// documented response type.
pub(super) struct SignedIn(pub Result<Option<OpSession>, String>);

impl<'a> ApiExtractor<'a> for SignedIn {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            SCHEME,
            security_schemes::cookie(
                SESSION_COOKIE,
                "ferrid's session cookie (HttpOnly), set by signing in at ferrid. In Swagger, Authorize with \
                 FerridOAuth signs this browser in, so the cookie is sent from then on.",
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
        let Some(state) = request.data::<AppState>() else { return Ok(Self(Err("no application state".to_owned()))) };
        let session = current_session(state, cookies::read(request, SESSION_COOKIE).as_deref()).await;
        Ok(Self(session.map_err(|e| e.to_string())))
    }
}

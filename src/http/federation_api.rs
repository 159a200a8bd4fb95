//! The JSON side of federation: `POST /api/auth/google` exchanges a Google ID token an app
//! already holds (Google Identity Services on the web, Credential Manager or Sign-In on mobile)
//! for ferrid tokens, exactly as `POST /api/auth/login` issues them (issue 9 item 4); and the
//! signed-in user's linked identities under `/api/users/me/identities`.
//!
//! The exchange is not offered as RFC 8693 token exchange at `/token`: that grant is for clients
//! trading tokens on a user's behalf, while this is a user's sign-in with the first-party app's
//! refresh cookie, so it lives beside the password login and shares its origin checks.

use chrono::{DateTime, Utc};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json, types::Example};

use super::{
    admin_auth::{body, guarded_response},
    auth_api::{AppTokens, app_actor, from_allowed_origin, origin_refused, tokens_response},
    error::{ErrorBody, NO_STORE, temporarily_unavailable},
    federation::{record_failure, record_success},
    request_context::origin_of,
    tags::ApiTags,
    user_auth::AccountAuth,
};
use crate::{
    app::AppState,
    audit::{AuditEvent, kinds},
    federation::{FederatedIdentity, FederationError, federated_amr},
    oauth::first_party,
};

/// The provider id of the Google preset.
const GOOGLE: &str = "google";

#[derive(Object)]
#[oai(example = true)]
struct GoogleLogin {
    /// The ID token Google gave the app, issued to ferrid's Google client id (or, as `azp`, to
    /// one of `FERRID_GOOGLE_AUDIENCES`). Each token is accepted once.
    #[oai(write_only)]
    id_token: String,
}

impl Example for GoogleLogin {
    fn example() -> Self {
        Self {
            id_token: "eyJhbGciOiJSUzI1NiIsImtpZCI6Ii4uLiJ9.eyJpc3MiOiJodHRwczovL2FjY291bnRzLmdvb2dsZS5jb20ifQ.c2ln"
                .to_owned(),
        }
    }
}

#[derive(ApiResponse)]
enum GoogleLoginResponse {
    /// Signed in: the access token, and the refresh token in an HttpOnly cookie.
    #[oai(status = 200)]
    Ok(Json<AppTokens>, #[oai(header = "Set-Cookie")] String, #[oai(header = "Cache-Control")] String),
    /// The ID token does not verify: `invalid_id_token`, `invalid_signature`, `invalid_audience`,
    /// `invalid_issuer`, `token_expired` or `token_replayed`.
    #[oai(status = 401)]
    InvalidToken(Json<ErrorBody>, #[oai(header = "Cache-Control")] String),
    /// `invalid_origin`; `link_required` (an account has this address: sign in with its password
    /// and link Google from the account); `email_not_verified` (the same, and Google has not
    /// verified the address); `email_missing`; `account_disabled`.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>, #[oai(header = "Cache-Control")] String),
    /// `unknown_provider`: Google sign-in is not configured.
    #[oai(status = 404)]
    NotConfigured(Json<ErrorBody>),
    /// `upstream_unavailable` (Google's keys could not be fetched in time) or a store is down.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// One of the user's identities at an upstream provider.
#[derive(Object)]
struct IdentityView {
    /// The id to unlink it with.
    id: String,
    /// The provider's id, e.g. `google`.
    provider: String,
    /// The provider's display name.
    provider_name: String,
    /// The address the provider last reported.
    email: Option<String>,
    created_at: DateTime<Utc>,
    last_used_at: DateTime<Utc>,
}

/// The user's linked identities.
#[derive(Object)]
#[oai(example = true)]
struct IdentityList {
    identities: Vec<IdentityView>,
    /// Whether the account has a password (without one, the last identity cannot be unlinked).
    has_password: bool,
}

impl Example for IdentityList {
    fn example() -> Self {
        let at = DateTime::from_timestamp(1_795_000_000, 0).unwrap_or_default();
        Self {
            identities: vec![IdentityView {
                id: "01935c8e-7a4b-7cc2-9a41-2f1d0c3b9e78".to_owned(),
                provider: GOOGLE.to_owned(),
                provider_name: "Google".to_owned(),
                email: Some("ann@example.com".to_owned()),
                created_at: at,
                last_used_at: at,
            }],
            has_password: true,
        }
    }
}

guarded_response! {
    enum IdentitiesResponse {
        /// The identities, oldest first.
        #[oai(status = 200)]
        Ok(Json<IdentityList>, #[oai(header = "Cache-Control")] String),
    }
}

guarded_response! {
    enum UnlinkResponse {
        /// Unlinked: the identity no longer signs in to this account.
        #[oai(status = 204)]
        Unlinked,
        /// `not_found`: no such identity of this user.
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
        /// `last_sign_in_method`: the account has no password and no other identity.
        #[oai(status = 409)]
        Conflict(Json<ErrorBody>),
    }
}

fn view(state: &AppState, identity: FederatedIdentity) -> IdentityView {
    let provider_name = state
        .federation
        .upstream(&identity.provider)
        .map(|u| u.name.clone())
        .unwrap_or_else(|_| identity.provider.clone());
    IdentityView {
        id: identity.id.to_string(),
        provider: identity.provider,
        provider_name,
        email: identity.email,
        created_at: identity.created_at,
        last_used_at: identity.last_used_at,
    }
}

fn refused(error: &FederationError) -> GoogleLoginResponse {
    let json = Json(body(error.reason(), &error.to_string()));
    match error {
        FederationError::UnknownProvider => GoogleLoginResponse::NotConfigured(json),
        FederationError::LinkRequired { .. }
        | FederationError::MissingEmail
        | FederationError::AccountDisabled
        | FederationError::IdentityInUse => GoogleLoginResponse::Forbidden(json, NO_STORE.to_owned()),
        error if error.is_unavailable() => {
            GoogleLoginResponse::Unavailable(Json(body(error.reason(), "please try again")))
        }
        _ => GoogleLoginResponse::InvalidToken(json, NO_STORE.to_owned()),
    }
}

pub struct FederationApi;

#[OpenApi(tag = "ApiTags::Authentication")]
impl FederationApi {
    /// Sign in with a Google ID token.
    ///
    /// Verifies the token against Google's keys and ferrid's Google client id (`aud`, `azp`,
    /// `iss`, expiry), signs the user in by the linking rules of the login page's "Continue with
    /// Google" (first sign-in creates the account; an existing account is linked only by a
    /// verified address), and answers like `POST /api/auth/login`. Send `X-Requested-With` (or
    /// call from an allowed origin).
    #[oai(path = "/api/auth/google", method = "post", operation_id = "auth_google")]
    async fn google(&self, state: Data<&AppState>, request: &Request, login: Json<GoogleLogin>) -> GoogleLoginResponse {
        if !from_allowed_origin(request, &state) {
            return GoogleLoginResponse::Forbidden(origin_refused(), NO_STORE.to_owned());
        }
        let actor = app_actor(request, None);
        let outcome = async {
            let identity = state.federation.verify_id_token(GOOGLE, &login.0.id_token).await?;
            let (user, resolution) = state.federation.resolve(&state.accounts, &identity).await?;
            Ok::<_, FederationError>((identity, user, resolution))
        };
        let (identity, user, resolution) = match outcome.await {
            Ok(found) => found,
            Err(error) => {
                record_failure(&state, &actor, GOOGLE, &error).await;
                return refused(&error);
            }
        };
        match first_party::sign_in(&state, &user, federated_amr(&identity.amr), &origin_of(request)).await {
            Ok(tokens) => {
                record_success(&state, &actor, user.id, &identity, resolution).await;
                let issued = tokens_response(&state, tokens);
                GoogleLoginResponse::Ok(Json(issued.body), issued.cookie, NO_STORE.to_owned())
            }
            Err(error) => GoogleLoginResponse::Unavailable(temporarily_unavailable(error)),
        }
    }

    /// Your linked sign-in providers.
    ///
    /// The identities at upstream providers (e.g. Google) that sign in to this account. Link one
    /// by visiting `/login/{provider}` in a browser signed in at ferrid.
    #[oai(path = "/api/users/me/identities", method = "get", operation_id = "list_my_identities")]
    async fn list(&self, state: Data<&AppState>, auth: AccountAuth) -> IdentitiesResponse {
        let user = &auth.caller.user;
        match state.federation.identities().list_for_user(user.id).await {
            Ok(identities) => IdentitiesResponse::Ok(
                Json(IdentityList {
                    identities: identities.into_iter().map(|i| view(&state, i)).collect(),
                    has_password: user.has_password,
                }),
                NO_STORE.to_owned(),
            ),
            Err(error) => IdentitiesResponse::Unavailable(temporarily_unavailable(error)),
        }
    }

    /// Unlink a sign-in provider.
    ///
    /// Refused when it is the account's last way to sign in (no password, no other identity).
    #[oai(path = "/api/users/me/identities/:id", method = "delete", operation_id = "unlink_my_identity")]
    async fn unlink(&self, state: Data<&AppState>, auth: AccountAuth, id: Path<String>) -> UnlinkResponse {
        let not_found = || UnlinkResponse::NotFound(Json(body("not_found", "no such identity")));
        let Ok(id) = uuid::Uuid::parse_str(&id.0) else { return not_found() };
        match state.federation.unlink(&auth.caller.user, id).await {
            Ok(identity) => {
                let event = AuditEvent::new(kinds::FEDERATION_UNLINK, &auth.actor)
                    .user(auth.caller.user.id)
                    .target(&identity.provider);
                state.audit.record(event).await;
                UnlinkResponse::Unlinked
            }
            Err(FederationError::NotLinked) => not_found(),
            Err(error @ FederationError::LastSignInMethod) => {
                UnlinkResponse::Conflict(Json(body(error.reason(), &error.to_string())))
            }
            Err(error) => UnlinkResponse::Unavailable(temporarily_unavailable(error)),
        }
    }
}

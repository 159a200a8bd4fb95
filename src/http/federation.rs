//! Sign-in through an upstream OpenID Connect provider in the browser (issue 9 item 2):
//! `GET /login/{provider}` sends the browser to the upstream — for the pending authorization
//! request `?request=…`, or, without one, to link the upstream identity to the account signed in
//! here — and `GET /login/{provider}/callback` comes back, validates, links and continues the
//! original `/authorize` request (consent, then the code to the relying party). Thin: the work
//! is in `federation`.

use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Path, Query},
};
use serde::Deserialize;

use super::{
    authorize::{load_page_context, see_other, sign_in},
    cookies::{self, SESSION_COOKIE},
    pages::{self, Notice, Ui},
    request_context::origin_of,
};
use crate::{
    accounts::{AccountError, UserId},
    app::AppState,
    audit::{Actor, AuditEvent, kinds},
    federation::{CallbackParams, FederationError, Purpose, VerifiedIdentity, federated_amr, linking::Resolution},
    oauth::{flow::current_session, pending::PENDING_LIFETIME},
};

/// Binds a started upstream sign-in to the browser that started it (its value is the `state`).
const STATE_COOKIE: &str = "ferrid_fed_state";

/// Records a failed federated sign-in with its reason (never a token or a code).
pub(super) async fn record_failure(state: &AppState, actor: &Actor, provider: &str, error: &FederationError) {
    if error.is_unavailable() {
        tracing::warn!(%error, provider, "federated sign-in failed");
    }
    let details = serde_json::json!({ "provider": provider, "reason": error.reason() });
    state.audit.record(AuditEvent::new(kinds::FEDERATION_LOGIN, actor).failed().details(details)).await;
}

/// Records a federated sign-in, and the account it created or the identity it linked.
pub(super) async fn record_success(
    state: &AppState,
    actor: &Actor,
    user: UserId,
    identity: &VerifiedIdentity,
    resolution: Resolution,
) {
    let details = serde_json::json!({ "provider": identity.provider, "account": resolution.as_str() });
    let actor = Actor { user: Some(user.to_string()), ..actor.clone() };
    match resolution {
        Resolution::Created => {
            let event = AuditEvent::new(kinds::FEDERATION_USER_CREATE, &actor).user(user);
            state.audit.record(event.details(serde_json::json!({ "provider": identity.provider }))).await;
        }
        Resolution::LinkedByEmail => {
            let event = AuditEvent::new(kinds::FEDERATION_LINK, &actor).user(user).target(&identity.provider);
            state.audit.record(event.details(serde_json::json!({ "by": "verified_email" }))).await;
        }
        Resolution::Linked => {}
    }
    state.audit.record(AuditEvent::new(kinds::FEDERATION_LOGIN, &actor).user(user).details(details)).await;
}

fn page_actor(request: &Request) -> Actor {
    Actor { user: None, client_id: None, origin: origin_of(request) }
}

/// The page for a failed upstream sign-in: what happened and what the user can do.
fn failure_page(ui: &Ui<'_>, state: &AppState, provider: &str, error: &FederationError) -> Response {
    let name = state.federation.upstream(provider).map(|u| u.name.clone()).unwrap_or_else(|_| provider.to_owned());
    let (status, notice) = match error {
        FederationError::UnknownProvider => (StatusCode::NOT_FOUND, Notice::new("unknown_provider")),
        FederationError::UpstreamUnavailable(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, Notice::new("upstream_unavailable"))
        }
        FederationError::StateMismatch | FederationError::InvalidState => {
            (StatusCode::BAD_REQUEST, Notice::new("sign_in_expired"))
        }
        FederationError::Denied(_) => (StatusCode::BAD_REQUEST, Notice::new("upstream_cancelled")),
        FederationError::MissingEmail => (StatusCode::BAD_REQUEST, Notice::new("upstream_no_email")),
        FederationError::LinkRequired { upstream_verified: true } => {
            (StatusCode::CONFLICT, Notice::new("link_required"))
        }
        FederationError::LinkRequired { upstream_verified: false } => {
            (StatusCode::CONFLICT, Notice::new("link_required_unverified"))
        }
        FederationError::IdentityInUse => (StatusCode::CONFLICT, Notice::new("identity_in_use")),
        FederationError::AccountDisabled => (StatusCode::FORBIDDEN, Notice::new("account_disabled")),
        FederationError::Store(_) | FederationError::Internal(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, Notice::new("something_wrong"))
        }
        _ => (StatusCode::BAD_REQUEST, Notice::new("upstream_unverified")),
    };
    pages::error(ui, status, &notice.with("provider", name), Some(error.reason()))
}

async fn failed(state: &AppState, request: &Request, provider: &str, error: FederationError) -> Response {
    record_failure(state, &page_actor(request), provider, &error).await;
    failure_page(&Ui::of(request, &state.config.brand), state, provider, &error)
}

/// `response` setting the state cookie to `value`, or deleting it.
fn with_state_cookie(response: Response, state: &AppState, value: Option<&str>) -> Response {
    let max_age = value.map_or(0, |_| i64::try_from(PENDING_LIFETIME.as_secs()).unwrap_or(600));
    let secure = state.config.issuer.is_https();
    cookies::with_cookie(response, STATE_COOKIE, value.unwrap_or_default(), Some(max_age), secure)
}

#[derive(Deserialize)]
pub struct StartQuery {
    request: Option<String>,
}

/// `GET /login/{provider}`: to the upstream's authorization endpoint.
#[handler]
pub async fn start(
    request: &Request,
    state: Data<&AppState>,
    Path(provider): Path<String>,
    Query(query): Query<StartQuery>,
) -> Response {
    let purpose = match query.request {
        Some(pending_id) => {
            if let Err(response) = load_page_context(request, &state, &pending_id).await {
                return response;
            }
            Purpose::SignIn { request: pending_id }
        }
        None => match current_session(&state, cookies::read(request, SESSION_COOKIE).as_deref()).await {
            Ok(Some(session)) => Purpose::link(session.user_id),
            Ok(None) => {
                let ui = Ui::of(request, &state.config.brand);
                return pages::error(
                    &ui,
                    StatusCode::BAD_REQUEST,
                    &Notice::new("sign_in_first"),
                    Some("login_required"),
                );
            }
            Err(error) => {
                return failed(&state, request, &provider, FederationError::Internal(error.to_string())).await;
            }
        },
    };
    match state.federation.start(&provider, purpose).await {
        Ok(started) => with_state_cookie(see_other(&started.location), &state, Some(&started.state)),
        Err(error) => failed(&state, request, &provider, error).await,
    }
}

/// `GET /login/{provider}/callback`: the upstream's answer (OIDC Core §3.1.2.5 and §3.1.2.6).
#[handler]
pub async fn callback(
    request: &Request,
    state: Data<&AppState>,
    Path(provider): Path<String>,
    Query(params): Query<CallbackParams>,
) -> Response {
    let bound = cookies::read(request, STATE_COOKIE);
    let response = match state.federation.finish(&provider, &params, bound.as_deref()).await {
        Ok((Purpose::SignIn { request: pending_id }, identity)) => {
            sign_in_with(request, &state, &pending_id, &identity).await
        }
        Ok((Purpose::Link { user }, identity)) => link(request, &state, UserId(user), &identity).await,
        Err(error) => failed(&state, request, &provider, error).await,
    };
    with_state_cookie(response, &state, None)
}

async fn sign_in_with(request: &Request, state: &AppState, pending_id: &str, identity: &VerifiedIdentity) -> Response {
    // The pending request is checked before any account is created or linked.
    let mut context = match load_page_context(request, state, pending_id).await {
        Ok(context) => context,
        Err(response) => return response,
    };
    let (user, resolution) = match state.federation.resolve(&state.accounts, identity).await {
        Ok(found) => found,
        Err(error) => return failed(state, request, &identity.provider, error).await,
    };
    let actor = Actor { client_id: Some(context.client.id.as_str().to_owned()), ..page_actor(request) };
    record_success(state, &actor, user.id, identity, resolution).await;
    sign_in(request, state, pending_id, &mut context, user.id, federated_amr(&identity.amr)).await
}

async fn link(request: &Request, state: &AppState, user: UserId, identity: &VerifiedIdentity) -> Response {
    let user = match state.accounts.find(user).await {
        Ok(user) if !user.disabled => user,
        Ok(_) | Err(AccountError::NotFound) => {
            return failed(state, request, &identity.provider, FederationError::InvalidState).await;
        }
        Err(error) => return failed(state, request, &identity.provider, error.into()).await,
    };
    if let Err(error) = state.federation.link(&user, identity).await {
        return failed(state, request, &identity.provider, error).await;
    }
    let actor = Actor { user: Some(user.id.to_string()), ..page_actor(request) };
    let event = AuditEvent::new(kinds::FEDERATION_LINK, &actor).user(user.id).target(&identity.provider);
    state.audit.record(event.details(serde_json::json!({ "by": "account" }))).await;
    let name = state.federation.upstream(&identity.provider).map(|u| u.name.clone()).unwrap_or_default();
    pages::signed_out(&Ui::of(request, &state.config.brand), &Notice::new("upstream_linked").with("provider", name))
}

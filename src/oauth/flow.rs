//! The authorization endpoint's flow (OIDC Core §3.1.2): validate the request, find the
//! browser's session, decide what the user must do next, and finally issue the code. Pages and
//! redirects are described here as outcomes; `http` turns them into responses.

use keys::OpaqueSecret;

use super::{
    AuthorizeError, AuthorizeErrorKind, RegistryError, ResponseMode, admin,
    backchannel_logout::record_session_client,
    build_redirect, client_id_param,
    code::{CodeGrant, issue_code},
    interaction::{NextStep, next_step},
    pending::{PendingAuthorization, finish_pending, save_pending},
    scope::Scope,
    session::OpSession,
    success_params, validate_authorization_request,
};
use crate::{
    accounts::{AccessControlError, UserId},
    app::AppState,
    store::StoreError,
};

/// Why an authorization request ends on an error page; the page says it in the user's language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorPageKind {
    /// The `client_id` is not registered.
    UnknownClient,
    /// The request is invalid and the redirect URI cannot be trusted with the error.
    InvalidRequest,
}

/// What the browser gets next.
#[derive(Debug)]
pub enum FlowOutcome {
    /// The request cannot be answered at the client (unknown client, unregistered redirect URI):
    /// an error page, never a redirect (RFC 6749 §4.1.2.1).
    ErrorPage {
        kind: ErrorPageKind,
        /// The `error_description`, for the application's developer.
        detail: Option<String>,
        code: &'static str,
    },
    /// Back to the client, in the query or as an auto-submitted form (RFC 6749 §4.1.2, OAuth 2.0
    /// Form Post Response Mode).
    Respond {
        location: String,
        redirect_uri: String,
        mode: ResponseMode,
        params: Vec<(&'static str, String)>,
    },
    ShowLogin {
        pending_id: String,
    },
    ShowConsent {
        pending_id: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl From<AccessControlError> for FlowError {
    fn from(error: AccessControlError) -> Self {
        match error {
            AccessControlError::Store(store) => Self::Store(store),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<RegistryError> for FlowError {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::Store(store) => Self::Store(store),
            other => Self::Internal(other.to_string()),
        }
    }
}

/// The live session for a session cookie, if its user still exists and is enabled.
pub async fn current_session(state: &AppState, cookie: Option<&str>) -> Result<Option<OpSession>, FlowError> {
    let Some(cookie) = cookie else { return Ok(None) };
    let digest = OpaqueSecret::from_presented(cookie).digest();
    let Some(session) = state.sessions.find(&digest).await? else { return Ok(None) };
    let now = state.clock.now();
    if !session.is_live(now) {
        return Ok(None);
    }
    match state.accounts.find(session.user_id).await {
        Ok(user) if !user.disabled => {
            if session.last_seen_is_stale(now) {
                state.sessions.touch(&session.id, now).await?;
            }
            Ok(Some(session))
        }
        _ => Ok(None),
    }
}

/// Runs (or resumes) an authorization request.
pub async fn authorize(
    state: &AppState,
    pending: PendingAuthorization,
    pending_id: Option<String>,
    session_cookie: Option<&str>,
) -> Result<FlowOutcome, FlowError> {
    let finish = |outcome: FlowOutcome| async {
        if let Some(id) = &pending_id {
            finish_pending(state.short_lived.as_ref(), id).await?;
        }
        Ok::<_, FlowError>(outcome)
    };
    let client_id = match client_id_param(&pending.params) {
        Ok(id) => id,
        Err(error) => return finish(error_page(&error)).await,
    };
    let client = match state.clients.find(&client_id).await {
        Ok(client) => client,
        Err(RegistryError::NotFound) => {
            return finish(FlowOutcome::ErrorPage {
                kind: ErrorPageKind::UnknownClient,
                detail: None,
                code: "invalid_client",
            })
            .await;
        }
        Err(error) => return Err(error.into()),
    };
    let mut request = match validate_authorization_request(&pending.params, &client) {
        Ok(request) => request,
        Err(error) => return finish(respond_with_error(state, &error)).await,
    };
    let session = current_session(state, session_cookie).await?;
    // Narrowed as soon as the user is known, so the consent decision, the consent page (which
    // narrows the same way) and the code all see only what this user may be granted.
    if let Some(session) = &session {
        request.scope = admin::grantable_scope(&state.access_control, session.user_id, &request.scope).await?;
        if request.scope.is_empty() {
            let error = request.error(AuthorizeErrorKind::AccessDenied, "the user may not be granted this scope");
            return finish(respond_with_error(state, &error)).await;
        }
    }
    let granted = match &session {
        Some(session) => state.consents.granted(session.user_id, &client.id).await?,
        None => None,
    };
    let now = state.clock.now();
    match next_step(&request, &client, session.as_ref(), &pending, granted.as_ref(), now) {
        NextStep::Fail(error) => finish(respond_with_error(state, &error)).await,
        NextStep::Login => Ok(FlowOutcome::ShowLogin { pending_id: ensure_saved(state, pending, pending_id).await? }),
        NextStep::Consent => {
            Ok(FlowOutcome::ShowConsent { pending_id: ensure_saved(state, pending, pending_id).await? })
        }
        NextStep::IssueCode => {
            let Some(session) = session else {
                return Err(FlowError::Internal("a code without a session".to_owned()));
            };
            let grant = CodeGrant {
                client_id: client.id.as_str().to_owned(),
                redirect_uri: request.redirect_uri.as_str().to_owned(),
                user_id: session.user_id.0,
                scope: request.scope.to_string(),
                nonce: request.nonce.clone(),
                code_challenge: request.code_challenge.as_ref().map(|c| c.as_str().to_owned()),
                dpop_jkt: request.dpop_jkt.clone(),
                auth_time: session.auth_time,
                amr: session.amr.clone(),
                sid: session.sid.clone(),
            };
            // Back-Channel Logout: remember who signed in during this session, before the code
            // exists, so that a client holding an ID token with this `sid` is always told. Only
            // clients that can be told are recorded: the others cost no store round trips here.
            if client.metadata.backchannel_logout_uri.is_some() {
                record_session_client(state.short_lived.as_ref(), &session, client.id.as_str(), now).await?;
            }
            let lifetime = state.lifetimes_for(&client).code;
            let code = issue_code(state.short_lived.as_ref(), &grant, lifetime).await?;
            let params = success_params(code.expose(), request.state.as_deref(), &state.config.issuer);
            finish(respond(&request.redirect_uri, request.response_mode, params)).await
        }
    }
}

async fn ensure_saved(
    state: &AppState,
    pending: PendingAuthorization,
    pending_id: Option<String>,
) -> Result<String, FlowError> {
    match pending_id {
        Some(id) => Ok(id),
        None => Ok(save_pending(state.short_lived.as_ref(), &pending).await?),
    }
}

fn error_page(error: &AuthorizeError) -> FlowOutcome {
    FlowOutcome::ErrorPage {
        kind: ErrorPageKind::InvalidRequest,
        detail: Some(error.description.clone()),
        code: error.code(),
    }
}

/// A redirectable error goes back to the client with `error`, `error_description`, `state` and
/// `iss` (RFC 6749 §4.1.2.1, RFC 9207 §2); any other is shown as a page.
fn respond_with_error(state: &AppState, error: &AuthorizeError) -> FlowOutcome {
    match &error.redirect {
        Some(redirect) => {
            respond(&redirect.redirect_uri, redirect.response_mode, error.error_response_params(&state.config.issuer))
        }
        None => error_page(error),
    }
}

fn respond(redirect_uri: &super::RedirectUri, mode: ResponseMode, params: Vec<(&'static str, String)>) -> FlowOutcome {
    FlowOutcome::Respond {
        location: build_redirect(redirect_uri, &params),
        redirect_uri: redirect_uri.as_str().to_owned(),
        mode,
        params,
    }
}

/// The outcome of denying consent: `access_denied` to the client (RFC 6749 §4.1.2.1).
pub async fn deny(
    state: &AppState,
    pending: &PendingAuthorization,
    pending_id: &str,
) -> Result<FlowOutcome, FlowError> {
    finish_pending(state.short_lived.as_ref(), pending_id).await?;
    let client = match client_id_param(&pending.params) {
        Ok(id) => state.clients.find(&id).await?,
        Err(error) => return Ok(error_page(&error)),
    };
    Ok(match validate_authorization_request(&pending.params, &client) {
        Ok(request) => {
            let error = request.error(AuthorizeErrorKind::AccessDenied, "the user denied the request");
            respond_with_error(state, &error)
        }
        Err(error) => respond_with_error(state, &error),
    })
}

/// The scope the consent page shows and remembers: what the pending request asks for, narrowed
/// for `user` exactly as [`authorize`] narrows it, so a user is never asked for (nor remembered
/// as allowing) a scope they cannot be granted.
pub async fn scope_to_consent(
    state: &AppState,
    user: UserId,
    pending: &PendingAuthorization,
) -> Result<Scope, FlowError> {
    let requested =
        pending.params.iter().find(|(k, _)| k == "scope").and_then(|(_, v)| Scope::parse(v).ok()).unwrap_or_default();
    Ok(admin::grantable_scope(&state.access_control, user, &requested).await?)
}

/// The client a pending request is for, for the pages' wording.
pub async fn pending_client(
    state: &AppState,
    pending: &PendingAuthorization,
) -> Result<Option<super::Client>, FlowError> {
    let Ok(id) = client_id_param(&pending.params) else { return Ok(None) };
    match state.clients.find(&id).await {
        Ok(client) => Ok(Some(client)),
        Err(RegistryError::NotFound) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

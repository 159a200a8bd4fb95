//! RP-Initiated Logout 1.0: check where the user may be sent after signing out, and whether
//! the request clearly comes from the relying party (a valid `id_token_hint` for this session)
//! or must be confirmed by the user first (§2, §3).

use chrono::Duration;
use keys::{SigningAlg, Validation};
use serde_json::Value;

use super::{
    ClientId, RedirectUri,
    backchannel_logout::{EndedSignIns, notify_logout},
    build_redirect,
    registry::RegistryError,
    session::OpSession,
};
use crate::{app::AppState, store::StoreError};

/// The parameters of a logout request (§2).
#[derive(Clone, Debug, Default)]
pub struct LogoutRequest {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

/// What to do with a checked logout request.
#[derive(Debug, PartialEq, Eq)]
pub struct LogoutPlan {
    /// Ask the user before signing out (the request may not come from the RP).
    pub confirm: bool,
    /// The client's name, for the confirmation page.
    pub client_name: Option<String>,
    /// Where to go afterwards: the registered post-logout URI with `state` (§3).
    pub redirect: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    /// Shown on a page, never redirected (§3: only registered URIs are redirected to).
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn claim<'a>(claims: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str)
}

pub async fn plan_logout(
    state: &AppState,
    request: &LogoutRequest,
    session: Option<&OpSession>,
) -> Result<LogoutPlan, LogoutError> {
    // §2: the hint may have expired; it only has to be an ID token ferrid issued.
    let hint = match request.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
        None => None,
        Some(token) => {
            let published = state.keys.current();
            let validation =
                Validation { leeway: Duration::days(3650), ..Validation::new(&SigningAlg::ALL, state.clock.now()) };
            let claims = published
                .ring
                .verify_jwt(token, &validation)
                .map_err(|_| LogoutError::Invalid("The id_token_hint is not an ID token issued here."))?;
            if claim(&claims, "iss") != Some(state.config.issuer.as_str()) {
                return Err(LogoutError::Invalid("The id_token_hint was issued by another provider."));
            }
            Some(claims)
        }
    };
    let hinted_client = hint.as_ref().and_then(|c| claim(c, "aud")).map(str::to_owned);
    let client_id = match (request.client_id.as_deref().filter(|c| !c.is_empty()), hinted_client.as_deref()) {
        (Some(param), Some(hinted)) if param != hinted => {
            return Err(LogoutError::Invalid("client_id does not match the id_token_hint."));
        }
        (Some(id), _) | (None, Some(id)) => Some(id.to_owned()),
        (None, None) => None,
    };
    let client = match client_id.as_deref().and_then(ClientId::parse) {
        None => None,
        Some(id) => match state.clients.find(&id).await {
            Ok(client) => Some(client),
            Err(RegistryError::NotFound) => return Err(LogoutError::Invalid("The application is not registered.")),
            Err(error) => return Err(LogoutError::Internal(error.into())),
        },
    };
    let redirect = match request.post_logout_redirect_uri.as_deref().filter(|u| !u.is_empty()) {
        None => None,
        Some(uri) => {
            let Some(client) = &client else {
                return Err(LogoutError::Invalid("post_logout_redirect_uri needs client_id or id_token_hint."));
            };
            if !client.metadata.post_logout_redirect_uris.iter().any(|registered| registered.as_str() == uri) {
                return Err(LogoutError::Invalid("post_logout_redirect_uri is not registered for this application."));
            }
            let uri =
                RedirectUri::parse(uri).map_err(|_| LogoutError::Invalid("post_logout_redirect_uri is invalid."))?;
            let params: Vec<(&str, String)> = request.state.iter().map(|s| ("state", s.clone())).collect();
            Some(build_redirect(&uri, &params))
        }
    };
    // Clearly from the RP: a valid hint for the session being ended (or no session left).
    let from_rp = hint.as_ref().is_some_and(|claims| match session {
        None => true,
        Some(session) => claim(claims, "sid") == Some(session.sid.as_str()),
    });
    Ok(LogoutPlan { confirm: !from_rp && session.is_some(), client_name: client.map(|c| c.metadata.name), redirect })
}

/// Ends the OP session and tells the clients signed in during it over the back channel
/// (Back-Channel Logout 1.0 §2.5), without waiting for them.
pub async fn end_session(state: &AppState, session: &OpSession) -> Result<(), StoreError> {
    state.sessions.end(&session.id, state.clock.now()).await?;
    notify_logout(state, session.user_id, EndedSignIns { sids: vec![session.sid.clone()], families: Vec::new() });
    Ok(())
}

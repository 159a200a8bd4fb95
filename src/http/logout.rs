//! `GET|POST /logout` — RP-Initiated Logout 1.0: end the OP session, then return to the
//! client's registered post-logout URI with its `state`, or show "signed out".

use poem::{
    Body, Request, Response, handler,
    http::{StatusCode, header},
    web::Data,
};

use super::{
    cookies::{self, SESSION_COOKIE, csrf_token, csrf_valid, with_csrf_cookie},
    pages::{self, Notice, Ui},
    request_context::origin_of,
};
use crate::{
    app::AppState,
    audit::{Actor, AuditEvent, kinds},
    oauth::{
        flow::current_session,
        logout::{LogoutError, LogoutRequest, end_session, plan_logout},
    },
};

fn parameters(encoded: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(encoded).into_owned().collect()
}

fn param(params: &[(String, String)], name: &str) -> Option<String> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

#[handler]
pub async fn logout_get(request: &Request, state: Data<&AppState>) -> Response {
    let params = parameters(request.uri().query().unwrap_or_default().as_bytes());
    logout(request, &state, &params, false).await
}

#[handler]
pub async fn logout_post(request: &Request, state: Data<&AppState>, body: Body) -> Response {
    match body.into_bytes_limit(super::MAX_BODY_BYTES).await {
        Ok(bytes) => logout(request, &state, &parameters(&bytes), true).await,
        Err(_) => {
            let ui = Ui::of(request, &state.config.brand);
            pages::error(&ui, StatusCode::BAD_REQUEST, &Notice::new("bad_request"), None)
        }
    }
}

async fn logout(request: &Request, state: &AppState, params: &[(String, String)], posted: bool) -> Response {
    let ui = Ui::of(request, &state.config.brand);
    let logout_request = LogoutRequest {
        id_token_hint: param(params, "id_token_hint"),
        client_id: param(params, "client_id"),
        post_logout_redirect_uri: param(params, "post_logout_redirect_uri"),
        state: param(params, "state"),
    };
    let session = match current_session(state, cookies::read(request, SESSION_COOKIE).as_deref()).await {
        Ok(session) => session,
        Err(error) => return failure(&ui, &error.to_string()),
    };
    let plan = match plan_logout(state, &logout_request, session.as_ref()).await {
        Ok(plan) => plan,
        Err(LogoutError::Invalid(detail)) => {
            let notice = Notice::new("invalid_logout");
            return pages::error_with_detail(&ui, StatusCode::BAD_REQUEST, &notice, detail, "invalid_request");
        }
        Err(LogoutError::Internal(error)) => return failure(&ui, &format!("{error:#}")),
    };
    let answer =
        param(params, "confirm").filter(|_| posted && param(params, "csrf").is_some_and(|c| csrf_valid(request, &c)));
    if answer.as_deref() == Some("no") {
        return pages::signed_out(&ui, &Notice::new("still_signed_in"));
    }
    if plan.confirm && answer.as_deref() != Some("yes") {
        let (csrf, new_csrf) = csrf_token(request);
        let hidden: Vec<(&str, String)> = ["id_token_hint", "client_id", "post_logout_redirect_uri", "state"]
            .into_iter()
            .filter_map(|name| param(params, name).map(|value| (name, value)))
            .collect();
        let page = pages::logout_confirmation(&ui, plan.client_name.as_deref(), &csrf, &hidden);
        let page = pages::allow_form_redirects(page, plan.redirect.as_deref());
        return with_csrf_cookie(page, &csrf, new_csrf, state.config.issuer.is_https());
    }
    if let Some(session) = &session {
        if let Err(error) = end_session(state, session).await {
            return failure(&ui, &error.to_string());
        }
        let user = session.user_id;
        let actor = Actor { user: Some(user.to_string()), client_id: None, origin: origin_of(request) };
        let mut event = AuditEvent::new(kinds::SESSION_LOGOUT, &actor).user(user);
        // The client that asked (RP-Initiated Logout §2), when it said; never the hint itself.
        if let Some(client) = logout_request.client_id.as_deref() {
            event = event.client(client);
        }
        state.audit.record(event.details(serde_json::json!({ "sid": session.sid }))).await;
    }
    let response = match plan.redirect {
        Some(location) => Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(header::LOCATION, location)
            .header(header::CACHE_CONTROL, "no-store")
            .finish(),
        None => pages::signed_out(&ui, &Notice::new("signed_out")),
    };
    cookies::with_cookie(response, SESSION_COOKIE, "", Some(0), state.config.issuer.is_https())
}

fn failure(ui: &Ui<'_>, cause: &str) -> Response {
    tracing::error!(cause, "logout failed");
    pages::unavailable(ui, StatusCode::INTERNAL_SERVER_ERROR)
}

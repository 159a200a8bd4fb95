//! The browser side of the authorization code flow: `/authorize` (GET and POST, OIDC Core
//! §3.1.2.1), the login and consent pages, and `/authorize/resume` which continues a pending
//! request after either. Handlers only translate; the flow lives in `oauth::flow`.

use poem::{
    Body, Request, Response, handler,
    http::{StatusCode, header},
    web::{Data, Form, Query},
};
use serde::Deserialize;

use super::{
    cookies::{self, SESSION_COOKIE, csrf_token, csrf_valid, with_csrf_cookie},
    pages::{self, Notice, Ui},
    rate_limit::{count_sign_in, page_refusal},
    second_step,
};
use crate::{
    accounts::{
        Password, PasswordCheck, UserId,
        mfa::{PendingSecondStep, Resume},
    },
    app::AppState,
    audit::{SignInAttempt, SignInChannel, SignInFailure},
    oauth::{
        Client, ResponseMode,
        consent::scope_description,
        flow::{self, ErrorPageKind, FlowError, FlowOutcome, current_session},
        parse_parameters,
        pending::{PendingAuthorization, find_pending, update_pending},
        scope::Scope,
        session::{OpSession, SESSION_LIFETIME},
    },
};

#[handler]
pub async fn authorize_get(request: &Request, state: Data<&AppState>) -> Response {
    let params = parse_parameters(request.uri().query().unwrap_or_default().as_bytes());
    start(request, &state, params).await
}

#[handler]
pub async fn authorize_post(request: &Request, state: Data<&AppState>, body: Body) -> Response {
    match body.into_bytes_limit(super::MAX_BODY_BYTES).await {
        Ok(bytes) => start(request, &state, parse_parameters(&bytes)).await,
        Err(_) => {
            let ui = Ui::of(request, &state.config.brand);
            pages::error(&ui, StatusCode::BAD_REQUEST, &Notice::new("bad_request"), Some("invalid_request"))
        }
    }
}

async fn start(request: &Request, state: &AppState, params: Vec<(String, String)>) -> Response {
    let ui = Ui::of_authorization(request, &state.config.brand, &params);
    let pending = PendingAuthorization { params, ..PendingAuthorization::default() };
    let client_id = claimed_client(&pending);
    let outcome = flow::authorize(state, pending, None, cookies::read(request, SESSION_COOKIE).as_deref()).await;
    identify_known_client(request, client_id.as_deref(), &outcome);
    respond(&ui, state, outcome)
}

/// The `client_id` parameter of an authorization request, before the flow checks it.
fn claimed_client(pending: &PendingAuthorization) -> Option<String> {
    pending.params.iter().find(|(name, _)| name == "client_id").map(|(_, value)| value.clone())
}

/// Names the client in the access log once the flow accepted it as registered (an error page
/// means the client or its redirect URI is unknown, so the claimed id would be anyone's text).
fn identify_known_client(request: &Request, client_id: Option<&str>, outcome: &Result<FlowOutcome, FlowError>) {
    if let (Some(client_id), Ok(outcome)) = (client_id, outcome)
        && !matches!(outcome, FlowOutcome::ErrorPage { .. })
    {
        super::request_context::identify_client(request, client_id);
    }
}

#[derive(Deserialize)]
pub struct PendingQuery {
    request: String,
}

#[handler]
pub async fn resume(request: &Request, state: Data<&AppState>, Query(query): Query<PendingQuery>) -> Response {
    let ui = Ui::of(request, &state.config.brand);
    let pending = match find_pending(state.short_lived.as_ref(), &query.request).await {
        Ok(Some(pending)) => pending,
        Ok(None) => return expired(&ui),
        Err(error) => return respond(&ui, &state, Err(error.into())),
    };
    let ui = Ui::of_authorization(request, &state.config.brand, &pending.params);
    let cookie = cookies::read(request, SESSION_COOKIE);
    let client_id = claimed_client(&pending);
    let outcome = flow::authorize(&state, pending, Some(query.request), cookie.as_deref()).await;
    identify_known_client(request, client_id.as_deref(), &outcome);
    respond(&ui, &state, outcome)
}

fn respond(ui: &Ui<'_>, state: &AppState, outcome: Result<FlowOutcome, FlowError>) -> Response {
    match outcome {
        Ok(FlowOutcome::ErrorPage { kind, detail, code }) => {
            let notice = match kind {
                ErrorPageKind::UnknownClient => Notice::new("unknown_client"),
                ErrorPageKind::InvalidRequest => Notice::new("invalid_authorization"),
            };
            match detail {
                Some(detail) => pages::error_with_detail(ui, StatusCode::BAD_REQUEST, &notice, &detail, code),
                None => pages::error(ui, StatusCode::BAD_REQUEST, &notice, Some(code)),
            }
        }
        Ok(FlowOutcome::Respond { location, mode: ResponseMode::Query, .. }) => see_other(&location),
        Ok(FlowOutcome::Respond { redirect_uri, mode: ResponseMode::FormPost, params, .. }) => {
            pages::form_post(ui, &redirect_uri, &params, &origin_of(&redirect_uri))
        }
        Ok(FlowOutcome::ShowLogin { pending_id }) => see_other(&format!("/login?request={pending_id}")),
        Ok(FlowOutcome::ShowConsent { pending_id }) => see_other(&format!("/consent?request={pending_id}")),
        Err(error) => {
            tracing::error!(%error, issuer = %state.config.issuer, "authorization failed");
            let status = match error {
                FlowError::Store(crate::store::StoreError::Unavailable { .. }) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            pages::unavailable(ui, status)
        }
    }
}

/// The scheme, host and port of a redirect URI: what CSP `form-action` must allow for form_post.
fn origin_of(uri: &str) -> String {
    url::Url::parse(uri).map(|u| u.origin().ascii_serialization()).unwrap_or_else(|_| "'none'".to_owned())
}

pub(super) fn see_other(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .header(header::CACHE_CONTROL, "no-store")
        .finish()
}

pub(super) fn expired(ui: &Ui<'_>) -> Response {
    pages::error(ui, StatusCode::BAD_REQUEST, &Notice::new("sign_in_expired"), Some("invalid_request"))
}

pub(super) struct PageContext {
    pending: PendingAuthorization,
    pub client: Client,
}

impl PageContext {
    /// `page`, whose form leads (through ferrid's redirects) back to this request's client.
    pub(super) fn leading_to_client(&self, page: Response) -> Response {
        pages::allow_form_redirects(page, self.client.metadata.redirect_uris.iter().map(|uri| uri.as_str()))
    }

    /// How the pages of this request speak: its `ui_locales` first (OIDC Core §3.1.2.1).
    pub(super) fn ui<'a>(&self, request: &Request, state: &'a AppState) -> Ui<'a> {
        Ui::of_authorization(request, &state.config.brand, &self.pending.params)
    }
}

/// The pending request `pending_id` and its client, or the page saying it is gone.
pub(super) async fn load_page_context(
    request: &Request,
    state: &AppState,
    pending_id: &str,
) -> Result<PageContext, Response> {
    let ui = Ui::of(request, &state.config.brand);
    let pending = match find_pending(state.short_lived.as_ref(), pending_id).await {
        Ok(Some(pending)) => pending,
        Ok(None) => return Err(expired(&ui)),
        Err(error) => return Err(respond(&ui, state, Err(error.into()))),
    };
    match flow::pending_client(state, &pending).await {
        Ok(Some(client)) => Ok(PageContext { pending, client }),
        Ok(None) => Err(expired(&ui)),
        Err(error) => Err(respond(&ui, state, Err(error))),
    }
}

fn login_hint(pending: &PendingAuthorization) -> String {
    pending.params.iter().find(|(k, _)| k == "login_hint").map(|(_, v)| v.clone()).unwrap_or_default()
}

/// The login page's "Continue with …" buttons, one per configured upstream provider.
fn upstream_links(state: &AppState) -> Vec<pages::UpstreamLink<'_>> {
    state.federation.upstreams().iter().map(|u| pages::UpstreamLink { id: &u.id, name: &u.name }).collect()
}

#[handler]
pub async fn login_page(request: &Request, state: Data<&AppState>, Query(query): Query<PendingQuery>) -> Response {
    let context = match load_page_context(request, &state, &query.request).await {
        Ok(context) => context,
        Err(response) => return response,
    };
    let ui = context.ui(request, &state);
    let signed_in_as = match current_session(&state, cookies::read(request, SESSION_COOKIE).as_deref()).await {
        Ok(Some(session)) => state.accounts.find(session.user_id).await.ok().map(|u| u.email.to_string()),
        _ => None,
    };
    let email = signed_in_as.clone().unwrap_or_else(|| login_hint(&context.pending));
    let (csrf, new_csrf) = csrf_token(request);
    let page = pages::LoginPage {
        request: &query.request,
        csrf: &csrf,
        client_name: &context.client.metadata.name,
        email: &email,
        signed_in_as: signed_in_as.as_deref(),
        error: None,
        upstreams: upstream_links(&state),
    };
    let page = context.leading_to_client(pages::login(&ui, &page, StatusCode::OK));
    with_csrf_cookie(page, &csrf, new_csrf, state.config.issuer.is_https())
}

#[derive(Deserialize)]
pub struct LoginForm {
    request: String,
    csrf: String,
    email: String,
    password: String,
}

#[handler]
pub async fn login_submit(request: &Request, state: Data<&AppState>, Form(form): Form<LoginForm>) -> Response {
    if !csrf_valid(request, &form.csrf) {
        return pages::csrf_rejected(&Ui::of(request, &state.config.brand));
    }
    let mut context = match load_page_context(request, &state, &form.request).await {
        Ok(context) => context,
        Err(response) => return response,
    };
    let ui = context.ui(request, &state);
    if let Err(limited) = count_sign_in(request, &state, &form.email).await {
        record_sign_in(request, &state, &context, None, Err(SignInFailure::RateLimited)).await;
        return page_refusal(&ui, &limited);
    }
    let check = match state.accounts.check_password(&form.email, Password::new(form.password)).await {
        Ok(check) => check,
        Err(error) => {
            tracing::error!(%error, "sign-in failed");
            return pages::unavailable(&ui, StatusCode::SERVICE_UNAVAILABLE);
        }
    };
    let user = match check {
        PasswordCheck::Accepted(user) => user,
        refused => {
            let (reason, user) = SignInFailure::of(&refused).unwrap_or((SignInFailure::UnknownOrWrongPassword, None));
            record_sign_in(request, &state, &context, user, Err(reason)).await;
            let (error, status) = match reason {
                SignInFailure::Unverified => (ui.text("login.unverified", &[]), StatusCode::FORBIDDEN),
                _ => (ui.text("login.wrong_password", &[]), StatusCode::UNAUTHORIZED),
            };
            let page = pages::LoginPage {
                request: &form.request,
                csrf: &form.csrf,
                client_name: &context.client.metadata.name,
                email: &form.email,
                signed_in_as: None,
                error: Some(&error),
                upstreams: upstream_links(&state),
            };
            return context.leading_to_client(pages::login(&ui, &page, status));
        }
    };
    let amr = vec!["pwd".to_owned()];
    let pending = PendingSecondStep::new(user.id, amr.clone(), Resume::Authorize { request: form.request.clone() });
    match state.second_factors.challenge_after_password(pending).await {
        Ok(Some(token)) => return second_step::show(&ui, &form.request, &form.csrf, &context, &token),
        Ok(None) => {}
        Err(error) => return second_step::failed(&ui, &error),
    }
    sign_in(request, &state, &form.request, &mut context, user.id, amr).await
}

/// A sign-in attempt on the login page, for the client of the pending request.
pub(super) async fn record_sign_in(
    request: &Request,
    state: &AppState,
    context: &PageContext,
    user: Option<UserId>,
    result: Result<(), SignInFailure>,
) {
    let origin = super::request_context::origin_of(request);
    let client_id = context.client.id.as_str().to_owned();
    let attempt = SignInAttempt { channel: SignInChannel::LoginPage, client_id, user, origin, result };
    state.audit.sign_in(attempt).await;
}

/// Starts the OP session for `user` who authenticated with `amr` and continues the pending
/// request (with `fresh_login_sid`, so `prompt=login` and `max_age` see this sign-in).
pub(super) async fn sign_in(
    request: &Request,
    state: &AppState,
    pending_id: &str,
    context: &mut PageContext,
    user: UserId,
    amr: Vec<String>,
) -> Response {
    let ui = context.ui(request, state);
    let (cookie, session) = OpSession::start(user, amr, state.clock.now());
    let origin = super::request_context::origin_of(request);
    if let Err(error) = state.sessions.insert(&session, &origin).await {
        return respond(&ui, state, Err(error.into()));
    }
    record_sign_in(request, state, context, Some(user), Ok(())).await;
    context.pending.fresh_login_sid = Some(session.sid.clone());
    if let Err(error) = update_pending(state.short_lived.as_ref(), pending_id, &context.pending).await {
        return respond(&ui, state, Err(error.into()));
    }
    let response = see_other(&format!("/authorize/resume?request={pending_id}"));
    let max_age = Some(SESSION_LIFETIME.num_seconds());
    cookies::with_cookie(response, SESSION_COOKIE, cookie.expose(), max_age, state.config.issuer.is_https())
}

#[handler]
pub async fn consent_page(request: &Request, state: Data<&AppState>, Query(query): Query<PendingQuery>) -> Response {
    let context = match load_page_context(request, &state, &query.request).await {
        Ok(context) => context,
        Err(response) => return response,
    };
    let ui = context.ui(request, &state);
    let user = match current_session(&state, cookies::read(request, SESSION_COOKIE).as_deref()).await {
        Ok(Some(session)) => state.accounts.find(session.user_id).await.ok(),
        _ => None,
    };
    let Some(user) = user else {
        return see_other(&format!("/login?request={}", query.request));
    };
    let scope = match flow::scope_to_consent(&state, user.id, &context.pending).await {
        Ok(scope) => scope,
        Err(error) => return respond(&ui, &state, Err(error)),
    };
    let (csrf, new_csrf) = csrf_token(request);
    let email = user.email.to_string();
    let page = pages::ConsentPage {
        request: &query.request,
        csrf: &csrf,
        client_name: &context.client.metadata.name,
        user_email: &email,
        scopes: scope.iter().map(scope_description).collect(),
    };
    with_csrf_cookie(
        context.leading_to_client(pages::consent(&ui, &page)),
        &csrf,
        new_csrf,
        state.config.issuer.is_https(),
    )
}

#[derive(Deserialize)]
pub struct ConsentForm {
    request: String,
    csrf: String,
    decision: String,
}

#[handler]
pub async fn consent_submit(request: &Request, state: Data<&AppState>, Form(form): Form<ConsentForm>) -> Response {
    if !csrf_valid(request, &form.csrf) {
        return pages::csrf_rejected(&Ui::of(request, &state.config.brand));
    }
    let mut context = match load_page_context(request, &state, &form.request).await {
        Ok(context) => context,
        Err(response) => return response,
    };
    let ui = context.ui(request, &state);
    let session = match current_session(&state, cookies::read(request, SESSION_COOKIE).as_deref()).await {
        Ok(Some(session)) => session,
        Ok(None) => return see_other(&format!("/login?request={}", form.request)),
        Err(error) => return respond(&ui, &state, Err(error)),
    };
    if form.decision != "allow" {
        return respond(&ui, &state, flow::deny(&state, &context.pending, &form.request).await);
    }
    let client = &context.client;
    let scope = match flow::scope_to_consent(&state, session.user_id, &context.pending).await {
        Ok(scope) => scope,
        Err(error) => return respond(&ui, &state, Err(error)),
    };
    let now = state.clock.now();
    let granted = match state.consents.granted(session.user_id, &client.id).await {
        Ok(granted) => granted,
        Err(error) => return respond(&ui, &state, Err(error.into())),
    };
    // Remember the union, so consenting to one scope does not forget another.
    let remembered = match granted {
        Some(granted) if scope.is_empty() => granted,
        Some(granted) => Scope::parse(&format!("{granted} {scope}")).unwrap_or(scope),
        None => scope,
    };
    if let Err(error) = state.consents.grant(session.user_id, &client.id, &remembered, now).await {
        return respond(&ui, &state, Err(error.into()));
    }
    context.pending.consented = true;
    if let Err(error) = update_pending(state.short_lived.as_ref(), &form.request, &context.pending).await {
        return respond(&ui, &state, Err(error.into()));
    }
    see_other(&format!("/authorize/resume?request={}", form.request))
}

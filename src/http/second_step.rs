//! The login page's second step for users with two-step verification: after a correct password
//! the page asks for a TOTP code (RFC 6238) or a recovery code; only then is the OP session
//! created, with `amr` `["pwd","otp"]` (RFC 8176 §2). A plain form POST, CSRF-protected like the
//! login form, so it works without JavaScript.

use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Form},
};
use serde::Deserialize;

use super::{
    authorize::{PageContext, expired, load_page_context, record_sign_in, see_other, sign_in},
    cookies::csrf_valid,
    pages::{self, SecondStepPage, Ui},
    request_context::origin_of,
};
use crate::{
    accounts::{
        MfaError, SecondFactorAnswer, UserId,
        mfa::{ChallengeOutcome, Resume},
    },
    app::AppState,
    audit::{Actor, AuditEvent, SignInFailure, kinds},
};

/// The code form for the challenge the password step opened.
pub(super) fn show(
    ui: &Ui<'_>,
    pending_id: &str,
    csrf: &str,
    context: &PageContext,
    token: &keys::OpaqueSecret,
) -> Response {
    let page = SecondStepPage {
        request: pending_id,
        csrf,
        mfa_token: token.expose(),
        client_name: &context.client.metadata.name,
        error: None,
    };
    context.leading_to_client(pages::second_step(ui, &page, StatusCode::OK))
}

#[derive(Deserialize)]
pub struct SecondStepForm {
    request: String,
    csrf: String,
    mfa_token: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    recovery_code: Option<String>,
}

#[handler]
pub async fn submit(request: &Request, state: Data<&AppState>, Form(form): Form<SecondStepForm>) -> Response {
    if !csrf_valid(request, &form.csrf) {
        return pages::csrf_rejected(&Ui::of(request, &state.config.brand));
    }
    let mut context = match load_page_context(request, &state, &form.request).await {
        Ok(context) => context,
        Err(response) => return response,
    };
    let ui = context.ui(request, &state);
    let client_name = context.client.metadata.name.clone();
    let client_id = context.client.id.as_str().to_owned();
    let again = |error: String, status: StatusCode| {
        let page = SecondStepPage {
            request: &form.request,
            csrf: &form.csrf,
            mfa_token: &form.mfa_token,
            client_name: &client_name,
            error: Some(&error),
        };
        context.leading_to_client(pages::second_step(&ui, &page, status))
    };
    let Some(answer) = SecondFactorAnswer::from_fields(form.code.as_deref(), form.recovery_code.as_deref()) else {
        return again(ui.text("mfa.missing", &[]), StatusCode::BAD_REQUEST);
    };
    // A challenge answers only for the request it was opened for.
    let resume = Resume::Authorize { request: form.request.clone() };
    let outcome = match state.second_factors.answer_challenge(&form.mfa_token, &resume, &answer).await {
        Ok(outcome) => outcome,
        Err(error) => return failed(&ui, &error),
    };
    let origin = origin_of(request);
    let audit = |user: UserId| {
        let actor = Actor { user: Some(user.to_string()), client_id: None, origin: origin.clone() };
        AuditEvent::new(kinds::MFA_VERIFY, &actor).user(user).client(client_id.clone())
    };
    match outcome {
        ChallengeOutcome::Passed { pending, factor } => {
            let event = audit(pending.user()).details(serde_json::json!({ "factor": factor.as_str() }));
            state.audit.record(event).await;
            let amr = pending.amr_with_otp();
            sign_in(request, &state, &form.request, &mut context, pending.user(), amr).await
        }
        ChallengeOutcome::Wrong { pending, .. } => {
            state.audit.record(audit(pending.user()).failed()).await;
            record_sign_in(request, &state, &context, Some(pending.user()), Err(SignInFailure::MfaFailed)).await;
            again(ui.text("mfa.wrong", &[]), StatusCode::UNAUTHORIZED)
        }
        ChallengeOutcome::Exhausted { pending } => {
            let event = audit(pending.user()).failed().details(serde_json::json!({ "reason": "too many attempts" }));
            state.audit.record(event).await;
            record_sign_in(request, &state, &context, Some(pending.user()), Err(SignInFailure::MfaFailed)).await;
            start_over(&ui, &form.request)
        }
        ChallengeOutcome::Expired => start_over(&ui, &form.request),
    }
}

/// Back to the password: the challenge is gone (expired, exhausted or used).
fn start_over(ui: &Ui<'_>, pending_id: &str) -> Response {
    if pending_id.is_empty() {
        return expired(ui);
    }
    see_other(&format!("/login?request={pending_id}"))
}

pub(super) fn failed(ui: &Ui<'_>, error: &MfaError) -> Response {
    tracing::error!(%error, "two-step verification failed");
    let status = match error {
        MfaError::Store(crate::store::StoreError::Unavailable { .. }) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    pages::unavailable(ui, status)
}

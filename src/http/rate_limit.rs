//! Rate limits at the HTTP edge (issue 8 item 1): handlers count a request against its scopes
//! with [`count`], and [`RateLimitHeaders`] puts the binding decision on the response —
//! `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and `RateLimit-Policy`
//! (draft-ietf-httpapi-ratelimit-headers), plus `Retry-After` (RFC 9110 §10.2.3) on a 429 —
//! on successful answers of limited routes as much as on refusals. Each route answers a refusal
//! in its own error shape: [`api_refusal`] on `/api`, [`oauth_refusal`] on the OAuth endpoints,
//! [`page_refusal`] on pages.

use std::sync::{Arc, Mutex};

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, Result,
    http::{HeaderValue, StatusCode},
};
use poem_openapi::payload::Json;

use super::{error::ErrorBody, pages, request_context::origin_of};
use crate::{
    app::AppState,
    ratelimit::{Decision, Scope, email_subject},
};

/// Where a handler leaves its decision for the middleware (interior mutability: handlers see
/// the request by shared reference).
#[derive(Clone, Default)]
struct Slot(Arc<Mutex<Option<Decision>>>);

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Decision>> {
        // Each critical section assigns one `Option`: a poisoned lock still holds a valid value.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub(super) struct RateLimitHeaders;

impl<E: Endpoint> Middleware<E> for RateLimitHeaders {
    type Output = RateLimitHeadersEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RateLimitHeadersEndpoint { inner }
    }
}

pub(super) struct RateLimitHeadersEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for RateLimitHeadersEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut request: Request) -> Result<Self::Output> {
        let slot = Slot::default();
        request.extensions_mut().insert(slot.clone());
        // An error that is a response (an API's declared error answer) gets the headers; other
        // errors go on untouched, for the request context to shape.
        let mut response = match self.inner.call(request).await {
            Ok(output) => output.into_response(),
            Err(error) if error.is_from_response() => error.into_response(),
            Err(error) => return Err(error),
        };
        let decision = *slot.lock();
        if let Some(decision) = decision {
            let headers = response.headers_mut();
            let mut set = |name: &'static str, value: String| {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            };
            set("ratelimit-limit", decision.limit.to_string());
            set("ratelimit-remaining", decision.remaining.to_string());
            set("ratelimit-reset", decision.reset_secs().to_string());
            set("ratelimit-policy", format!("{};w={}", decision.limit, decision.window.as_secs()));
            if !decision.allowed {
                set("retry-after", decision.retry_after_secs().to_string());
            }
        }
        Ok(response)
    }
}

/// The address a request is counted by: the client's, after trusted proxies (see `forwarded`).
pub(super) fn client_ip(request: &Request) -> String {
    origin_of(request).ip.unwrap_or_else(|| "unknown".to_owned())
}

/// Counts the request against `hits` and leaves the binding decision (with any earlier one of
/// the same request) for the headers; `Err` with the decision when refused.
pub(super) async fn count(request: &Request, state: &AppState, hits: &[(Scope, &[&str])]) -> Result<(), Decision> {
    let decision = state.rate_limits.check(hits).await;
    let binding = match request.extensions().get::<Slot>() {
        Some(slot) => {
            let mut stored = slot.lock();
            let binding = stored.map_or(decision, |earlier| earlier.binding(decision));
            *stored = Some(binding);
            binding
        }
        None => decision,
    };
    if binding.allowed { Ok(()) } else { Err(binding) }
}

/// A password sign-in (page or API): per IP, and per IP and address.
pub(super) async fn count_sign_in(request: &Request, state: &AppState, email: &str) -> Result<(), Decision> {
    let ip = client_ip(request);
    let email = email_subject(email);
    count(request, state, &[(Scope::LoginIp, &[&ip]), (Scope::LoginIpEmail, &[&ip, &email])]).await
}

/// Counts the request against one scope keyed by the client's IP.
pub(super) async fn count_ip(request: &Request, state: &AppState, scope: Scope) -> Result<(), Decision> {
    count(request, state, &[(scope, &[&client_ip(request)])]).await
}

fn wait_text(decision: &Decision) -> String {
    format!("too many requests; retry after {} seconds", decision.retry_after_secs())
}

/// The 429 body of the first-party API.
pub(super) fn api_refusal(decision: &Decision) -> Json<ErrorBody> {
    Json(ErrorBody {
        error: "too_many_requests".to_owned(),
        error_description: Some(wait_text(decision)),
        request_id: None,
    })
}

/// The 429 body of an OAuth endpoint. RFC 6749 §5.2 has no code for it; `temporarily_unavailable`
/// (registered for the authorization endpoint, RFC 6749 §4.1.2.1) says "retry later" to every
/// client library, and `Retry-After` says when.
pub(super) fn oauth_refusal(decision: &Decision) -> Json<ErrorBody> {
    Json(ErrorBody {
        error: "temporarily_unavailable".to_owned(),
        error_description: Some(wait_text(decision)),
        request_id: None,
    })
}

/// The 429 page.
pub(super) fn page_refusal(ui: &pages::Ui<'_>, decision: &Decision) -> Response {
    let notice = pages::Notice::new("too_many_attempts").with("seconds", decision.retry_after_secs().to_string());
    pages::error(ui, StatusCode::TOO_MANY_REQUESTS, &notice, Some("too_many_requests"))
}

//! The per-request deadline (`FERRID_REQUEST_TIMEOUT_SECS`): a request whose handler — reading
//! the body included, so a client trickling its body is cut off too — runs longer is abandoned
//! and answered 503 `temporarily_unavailable` (the request id is added by `request_context`).
//! Abandoning drops the handler: what it already committed stays, a transaction in flight rolls
//! back.

use std::time::Duration;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

use super::error::timed_out;

pub(super) struct Deadline(pub Duration);

impl<E: Endpoint> Middleware<E> for Deadline {
    type Output = DeadlineEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        DeadlineEndpoint { inner, limit: self.0 }
    }
}

pub(super) struct DeadlineEndpoint<E> {
    inner: E,
    limit: Duration,
}

impl<E: Endpoint> Endpoint for DeadlineEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        match tokio::time::timeout(self.limit, self.inner.call(req)).await {
            Ok(outcome) => outcome.map(IntoResponse::into_response),
            Err(_) => Ok(timed_out()),
        }
    }
}

//! Outermost middleware: gives every request an id (echoing a well-formed `X-Request-Id` from
//! a proxy, else a fresh UUID), runs it in a tracing span carrying that id, logs one line per
//! request (method, path, status, latency — never the query string, which may hold codes), turns
//! any framework error or panic into the JSON error shape, makes every 5xx body carry the id and
//! nothing internal, and returns the id in the response.

use std::{panic::AssertUnwindSafe, sync::Arc, time::Instant};

use futures_util::FutureExt;
use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, Result,
    http::{HeaderValue, header},
};
use tracing::Instrument;

use super::{
    error::{framework_error_response, identify_server_error, server_error},
    pages::Ui,
};
use crate::{branding::Branding, locale::Locale};

pub(super) const REQUEST_ID_HEADER: &str = "x-request-id";

pub(super) struct RequestContext {
    /// For the error page of a 5xx that had none.
    pub brand: Arc<Branding>,
}

impl<E: Endpoint> Middleware<E> for RequestContext {
    type Output = RequestContextEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestContextEndpoint { inner, brand: self.brand.clone() }
    }
}

pub(super) struct RequestContextEndpoint<E> {
    inner: E,
    brand: Arc<Branding>,
}

fn acceptable_incoming_id(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl<E: Endpoint> Endpoint for RequestContextEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let id = req
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| acceptable_incoming_id(v))
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let locale = Locale::negotiate(None, req.header(header::ACCEPT_LANGUAGE));
        let span = tracing::info_span!(
            "request",
            request_id = %id,
            method = %req.method(),
            path = %req.uri().path(),
        );
        async move {
            let started = Instant::now();
            let outcome = AssertUnwindSafe(self.inner.call(req)).catch_unwind().await;
            let mut response = match outcome {
                Ok(Ok(output)) => output.into_response(),
                Ok(Err(error)) if error.is_from_response() => error.into_response(),
                Ok(Err(error)) => framework_error_response(error, &id),
                Err(_panic) => {
                    tracing::error!("handler panicked");
                    server_error(&id)
                }
            };
            if response.status().is_server_error() {
                let ui = Ui { locale, brand: &self.brand };
                response = identify_server_error(response, &id, &ui).await;
            }
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            tracing::info!(
                status = response.status().as_u16(),
                latency_ms = started.elapsed().as_secs_f64() * 1000.0,
                "served"
            );
            Ok(response)
        }
        .instrument(span)
        .await
    }
}

/// Where `request` came from: the peer address and the user agent, for the user's session and
/// application lists. (Behind a proxy the peer is the proxy; forwarded headers are not trusted.)
pub fn origin_of(request: &poem::Request) -> crate::oauth::session::RequestOrigin {
    crate::oauth::session::RequestOrigin {
        ip: request.remote_addr().as_socket_addr().map(|a| a.ip().to_string()),
        user_agent: request
            .headers()
            .get(poem::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|agent| agent.chars().take(512).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::acceptable_incoming_id;

    #[test]
    fn only_short_token_like_ids_are_echoed() {
        assert!(acceptable_incoming_id("b7a0c2de-1f7c-4d7e-9d5a-0c7d8b1d9e11"));
        assert!(!acceptable_incoming_id(""));
        assert!(!acceptable_incoming_id("a b"));
        assert!(!acceptable_incoming_id("x\r\nSet-Cookie: y"));
        assert!(!acceptable_incoming_id(&"a".repeat(65)));
    }
}

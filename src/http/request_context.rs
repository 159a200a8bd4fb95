//! Outermost middleware: gives every request an id (echoing a well-formed `X-Request-Id` from
//! a proxy, else a fresh UUID) and its client address (see `forwarded`), runs it in a tracing
//! span carrying the id, turns any framework error or panic into the JSON error shape, makes
//! every 5xx body carry the id and nothing internal, and returns the id in the response. Once
//! answered, a request is counted in the HTTP metrics and logged in one access-log line: the
//! matched route template, never the raw URI (its query may hold codes or tokens), and never a
//! header (Authorization holds credentials).

use std::{
    net::IpAddr,
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex},
    time::Instant,
};

use futures_util::FutureExt;
use poem::{
    Endpoint, IntoResponse, Middleware, PathPattern, Request, Response, Result,
    http::{HeaderValue, header},
};
use tracing::Instrument;

use super::{
    error::{framework_error_response, identify_server_error, server_error},
    pages::Ui,
};
use crate::{
    branding::Branding,
    forwarded::{TrustedProxies, client_address},
    locale::Locale,
    metrics::Metrics,
};

pub(super) const REQUEST_ID_HEADER: &str = "x-request-id";

pub(super) struct RequestContext {
    pub trusted_proxies: TrustedProxies,
    pub metrics: Arc<Metrics>,
    /// For the error page of a 5xx that had none.
    pub brand: Arc<Branding>,
}

impl<E: Endpoint> Middleware<E> for RequestContext {
    type Output = RequestContextEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestContextEndpoint {
            inner,
            trusted_proxies: self.trusted_proxies.clone(),
            metrics: self.metrics.clone(),
            brand: self.brand.clone(),
        }
    }
}

pub(super) struct RequestContextEndpoint<E> {
    inner: E,
    trusted_proxies: TrustedProxies,
    metrics: Arc<Metrics>,
    brand: Arc<Branding>,
}

/// The address the request came from, after trusted proxies (a request extension).
#[derive(Clone, Copy, Debug)]
struct ClientAddress(IpAddr);

/// The client a handler identified, for the access-log line (handlers see the request by shared
/// reference, hence the interior mutability).
#[derive(Clone, Default)]
struct IdentifiedClient(Arc<Mutex<Option<String>>>);

impl IdentifiedClient {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        // Each critical section assigns one `Option`: a poisoned lock still holds a valid value.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Names the client a request acts for (authenticated at /token, /introspect and /revoke, or
/// the registered client of an /authorize request) in the request's access-log line.
pub(super) fn identify_client(request: &Request, client_id: &str) {
    if let Some(slot) = request.extensions().get::<IdentifiedClient>() {
        *slot.lock() = Some(client_id.to_owned());
    }
}

impl<E> RequestContextEndpoint<E> {
    fn client_address(&self, request: &Request) -> Option<IpAddr> {
        let peer = request.remote_addr().as_socket_addr()?.ip();
        let header = request.headers().get_all(self.trusted_proxies.header().name());
        Some(client_address(peer, header.iter().filter_map(|value| value.to_str().ok()), &self.trusted_proxies))
    }
}

fn acceptable_incoming_id(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl<E: Endpoint> Endpoint for RequestContextEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let id = req
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| acceptable_incoming_id(v))
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let peer = req.remote_addr().as_socket_addr().map(|address| address.ip());
        let client_ip = self.client_address(&req);
        if let Some(address) = client_ip {
            req.extensions_mut().insert(ClientAddress(address));
        }
        let client = IdentifiedClient::default();
        req.extensions_mut().insert(client.clone());
        let locale = Locale::negotiate(None, req.header(header::ACCEPT_LANGUAGE));
        let method = req.method().clone();
        let span = tracing::info_span!("request", request_id = %id, method = %method);
        async move {
            let started = Instant::now();
            let outcome = AssertUnwindSafe(self.inner.call(req)).catch_unwind().await;
            // The router leaves the matched route template on the response or the error.
            let mut route = None;
            let mut response = match outcome {
                Ok(Ok(output)) => output.into_response(),
                Ok(Err(error)) => {
                    route = error.data::<PathPattern>().map(|pattern| pattern.0.clone());
                    if error.is_from_response() { error.into_response() } else { framework_error_response(error, &id) }
                }
                Err(_panic) => {
                    tracing::error!("handler panicked");
                    server_error(&id)
                }
            };
            // A path no route matched is left with the empty pattern of the API's nest at "/".
            route = route
                .or_else(|| response.data::<PathPattern>().map(|pattern| pattern.0.clone()))
                .filter(|pattern| !pattern.is_empty());
            if response.status().is_server_error() {
                let ui = Ui { locale, brand: &self.brand };
                response = identify_server_error(response, &id, &ui).await;
            }
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            let took = started.elapsed();
            let status = response.status().as_u16();
            self.metrics.http_request(route.as_deref(), method.as_str(), status, took);
            let client_id = client.lock().take();
            tracing::info!(
                target: "ferrid::access",
                request_id = %id,
                method = %method,
                route = route.as_deref().unwrap_or(crate::metrics::UNMATCHED_ROUTE),
                status,
                latency_ms = took.as_secs_f64() * 1000.0,
                client_id,
                client_ip = client_ip.map(tracing::field::display),
                peer = peer.map(tracing::field::display),
                "served"
            );
            Ok(response)
        }
        .instrument(span)
        .await
    }
}

/// Where `request` came from: the client address (the TCP peer, or what a trusted proxy says, see
/// `forwarded`) and the user agent, for rate limits, audit records and the user's sessions.
pub fn origin_of(request: &poem::Request) -> crate::oauth::session::RequestOrigin {
    let address = request
        .extensions()
        .get::<ClientAddress>()
        .map(|address| address.0)
        .or_else(|| request.remote_addr().as_socket_addr().map(|a| a.ip()));
    crate::oauth::session::RequestOrigin {
        ip: address.map(|address| address.to_string()),
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

//! Security headers on every response, HTML or not: `X-Content-Type-Options: nosniff` (no MIME
//! sniffing of JSON into script), `Referrer-Policy: no-referrer` (URLs carrying codes or tokens
//! never leak to third parties), a `Content-Security-Policy` of `default-src 'none';
//! frame-ancestors 'none'` unless the response set its own (pages set one with a nonce, Swagger
//! its own), `X-Frame-Options: DENY` for old browsers, and `Strict-Transport-Security` when the
//! issuer is https (RFC 6797 §7.2: sent only over secure transport, which an https issuer is).

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, Result,
    http::{HeaderName, HeaderValue, header},
};

/// The policy of every response that did not choose one: it loads nothing and may not be framed.
const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// One year, subdomains included: the usual preload-grade policy.
const HSTS: &str = "max-age=31536000; includeSubDomains";

pub(super) struct SecurityHeaders {
    /// Whether to send `Strict-Transport-Security` (the issuer is https).
    pub hsts: bool,
}

impl<E: Endpoint> Middleware<E> for SecurityHeaders {
    type Output = SecurityHeadersEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        SecurityHeadersEndpoint { inner, hsts: self.hsts }
    }
}

pub(super) struct SecurityHeadersEndpoint<E> {
    inner: E,
    hsts: bool,
}

impl<E: Endpoint> Endpoint for SecurityHeadersEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let mut response = match self.inner.call(req).await {
            Ok(output) => output.into_response(),
            Err(error) => error.into_response(),
        };
        let headers = response.headers_mut();
        let mut default = |name: HeaderName, value: &'static str| {
            headers.entry(name).or_insert(HeaderValue::from_static(value));
        };
        default(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        default(header::REFERRER_POLICY, "no-referrer");
        default(header::CONTENT_SECURITY_POLICY, DEFAULT_CSP);
        default(header::X_FRAME_OPTIONS, "DENY");
        if self.hsts {
            default(header::STRICT_TRANSPORT_SECURITY, HSTS);
        }
        Ok(response)
    }
}

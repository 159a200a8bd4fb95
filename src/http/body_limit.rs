//! Caps request bodies. A declared `Content-Length` over the cap is refused before anything is
//! read; a chunked body is read up to the cap and refused beyond it. Unlike poem's `SizeLimit`,
//! requests without a body (GET) need no `Content-Length`.

use poem::{
    Body, Endpoint, Error, Middleware, Request, Result,
    http::{HeaderValue, StatusCode, header},
};

use super::error::{ErrorBody, json};

pub(super) struct BodyLimit(pub usize);

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint { inner, max: self.0 }
    }
}

pub(super) struct BodyLimitEndpoint<E> {
    inner: E,
    max: usize,
}

/// 413 in the error shape, closing the connection: the unread rest of the body must not be taken
/// for the next request on it.
fn too_large() -> Error {
    let body = ErrorBody {
        error: "request_too_large".to_owned(),
        error_description: Some("the request body is too large".to_owned()),
        request_id: None,
    };
    let mut response = json(StatusCode::PAYLOAD_TOO_LARGE, &body);
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    Error::from_response(response)
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let declared =
            req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        match declared {
            Some(length) if length > self.max as u64 => return Err(too_large()),
            Some(_) => {}
            None if req.headers().contains_key(header::TRANSFER_ENCODING) => {
                let body = req.take_body().into_bytes_limit(self.max).await.map_err(|_| too_large())?;
                req.set_body(Body::from_bytes(body));
            }
            None => {}
        }
        self.inner.call(req).await
    }
}

//! The one place where errors become HTTP responses: an RFC 6749 §5.2-style JSON body
//! (`error`, `error_description`) with `Cache-Control: no-store`. Server errors expose nothing
//! but the request id; their cause goes to the log.

use poem::{
    Response,
    http::{StatusCode, header},
};
use poem_openapi::{ApiResponse, Object, payload::Json};
use serde::Serialize;

use super::pages::Ui;

#[derive(Debug, Serialize, Object)]
pub struct ErrorBody {
    /// A machine-readable error code.
    pub error: String,
    /// A human-readable explanation (never present on server errors).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub error_description: Option<String>,
    /// The request id to quote when reporting a server error.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub request_id: Option<String>,
}

/// `Cache-Control` of every answer that carries a token, a secret or personal data.
pub(super) const NO_STORE: &str = "no-store";

/// A backing store failed: logged here with its cause, answered 503 with nothing internal.
pub(super) fn temporarily_unavailable(cause: impl std::fmt::Display) -> Json<ErrorBody> {
    tracing::error!(%cause, "request failed: a backing store is unavailable");
    Json(ErrorBody {
        error: "temporarily_unavailable".to_owned(),
        error_description: Some("please try again".to_owned()),
        request_id: None,
    })
}

/// Every OAuth endpoint's error response (RFC 6749 §5.2): 400 with the error code, 401 with
/// `WWW-Authenticate` for `invalid_client`, 503 when a store is unreachable, 500 with nothing
/// but the request id — always `Cache-Control: no-store`. The one mapping of `OAuthError`.
#[derive(ApiResponse)]
pub enum OAuthErrorResponse {
    /// RFC 6749 §5.2 error; with `use_dpop_nonce`, the nonce to use (RFC 9449 §8).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>, #[oai(header = "Cache-Control")] String, #[oai(header = "DPoP-Nonce")] Option<String>),
    /// Client authentication failed (`invalid_client`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>, #[oai(header = "WWW-Authenticate")] String, #[oai(header = "Cache-Control")] String),
    /// A backing store is unreachable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Cache-Control")] String),
    /// A server error; the response's X-Request-Id identifies it in the logs.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>, #[oai(header = "Cache-Control")] String),
}

impl From<crate::oauth::OAuthError> for OAuthErrorResponse {
    fn from(error: crate::oauth::OAuthError) -> Self {
        if let crate::oauth::OAuthError::Internal(cause) = &error {
            tracing::error!(error = %format!("{cause:#}"), "request failed");
        }
        let body = Json(ErrorBody::from(&error));
        let nonce = error.dpop_nonce().map(str::to_owned);
        match error.status() {
            401 => Self::Unauthorized(body, "Basic realm=\"ferrid\"".to_owned(), NO_STORE.to_owned()),
            503 => Self::Unavailable(body, NO_STORE.to_owned()),
            500 => Self::Internal(body, NO_STORE.to_owned()),
            _ => Self::BadRequest(body, NO_STORE.to_owned(), nonce),
        }
    }
}

impl From<&crate::oauth::OAuthError> for ErrorBody {
    /// RFC 6749 §5.2; a server error keeps its cause for the log and shows nothing.
    fn from(error: &crate::oauth::OAuthError) -> Self {
        Self {
            error: error.code().to_owned(),
            error_description: error.description().map(str::to_owned),
            request_id: None,
        }
    }
}

/// Maps a framework error (no route, bad parameter, body too large, …) to the JSON shape.
pub(super) fn framework_error_response(error: poem::Error, request_id: &str) -> Response {
    let status = error.status();
    if status.is_server_error() {
        tracing::error!(error = %error, "request failed");
        return server_error(request_id);
    }
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "request_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::NOT_ACCEPTABLE => "not_acceptable",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        _ => "invalid_request",
    };
    let description = match status {
        StatusCode::NOT_FOUND => "no such resource".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => "this method is not allowed on this resource".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large".to_owned(),
        _ => error.to_string(),
    };
    json(status, &ErrorBody { error: code.to_owned(), error_description: Some(description), request_id: None })
}

/// Makes a 5xx answer say nothing internal and carry the request id, whoever produced it: an
/// error body (`{"error": …}`) gets `request_id` (and a 500 loses any description); an HTML 500
/// becomes the generic error page with the id, while another 5xx page (a 503 saying what is
/// unavailable) keeps its text and gains the id. Other bodies (e.g. /ready's report) are kept.
pub(super) async fn identify_server_error(mut response: Response, request_id: &str, ui: &Ui<'_>) -> Response {
    let status = response.status();
    let content_type = response.content_type().unwrap_or_default().to_ascii_lowercase();
    if content_type.starts_with("text/html") {
        if status != StatusCode::INTERNAL_SERVER_ERROR {
            let page = response.take_body().into_string().await.unwrap_or_default();
            // Every page template closes one <main>; the id (a UUID or a checked token) needs no escaping.
            if let Some(end) = page.rfind("</main>") {
                let line = format!("<p class=\"muted\">{}</p>\n", ui.text("error.request_id", &[("id", request_id)]));
                response.headers_mut().remove(header::CONTENT_LENGTH);
                response.set_body(format!("{}{line}{}", &page[..end], &page[end..]));
                return response;
            }
        }
        return super::pages::server_error(ui, status, request_id);
    }
    if !content_type.starts_with("application/json") {
        return response;
    }
    let bytes = match response.take_body().into_vec().await {
        Ok(bytes) => bytes,
        Err(_) => return server_error(request_id),
    };
    let mut fields = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(fields)) if fields.get("error").is_some_and(serde_json::Value::is_string) => {
            fields
        }
        _ => {
            response.set_body(bytes);
            return response;
        }
    };
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        fields.insert("error".to_owned(), "server_error".into());
        fields.remove("error_description");
    }
    fields.insert("request_id".to_owned(), request_id.into());
    let body = serde_json::to_vec(&fields).unwrap_or_else(|_| br#"{"error":"server_error"}"#.to_vec());
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response.set_body(body);
    response
}

/// The answer to a request that ran past `FERRID_REQUEST_TIMEOUT_SECS`: 503, retry later.
pub(super) fn timed_out() -> Response {
    tracing::warn!("request timed out");
    json(
        StatusCode::SERVICE_UNAVAILABLE,
        &ErrorBody {
            error: "temporarily_unavailable".to_owned(),
            error_description: Some("the request took too long; please try again".to_owned()),
            request_id: None,
        },
    )
}

/// A 500 that reveals nothing but the request id.
pub(super) fn server_error(request_id: &str) -> Response {
    json(
        StatusCode::INTERNAL_SERVER_ERROR,
        &ErrorBody {
            error: "server_error".to_owned(),
            error_description: None,
            request_id: Some(request_id.to_owned()),
        },
    )
}

/// `body` as a JSON response with `status` and `Cache-Control: no-store`.
pub(super) fn json(status: StatusCode, body: &ErrorBody) -> Response {
    // Serialising a struct of strings cannot fail; fall back to a fixed body regardless.
    let body = serde_json::to_vec(body).unwrap_or_else(|_| br#"{"error":"server_error"}"#.to_vec());
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(body)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::{branding::Branding, http::pages, locale::Locale};

    static BRAND: std::sync::LazyLock<Branding> = std::sync::LazyLock::new(Branding::default);

    fn ui() -> Ui<'static> {
        Ui { locale: Locale::En, brand: &BRAND }
    }

    async fn body_of(mut response: Response) -> Vec<u8> {
        response.take_body().into_vec().await.unwrap()
    }

    fn leaky(status: StatusCode) -> Response {
        let description = Some("connection refused by 10.0.0.5:5432".to_owned());
        json(status, &ErrorBody { error: "db_down".to_owned(), error_description: description, request_id: None })
    }

    #[tokio::test]
    async fn a_500_shows_nothing_but_its_request_id() {
        let response = identify_server_error(leaky(StatusCode::INTERNAL_SERVER_ERROR), "req-1", &ui()).await;
        let body: Value = serde_json::from_slice(&body_of(response).await).unwrap();
        assert_eq!(body, json!({ "error": "server_error", "request_id": "req-1" }));
    }

    #[tokio::test]
    async fn a_503_keeps_its_advice_and_gains_the_request_id() {
        let response = identify_server_error(
            json(StatusCode::SERVICE_UNAVAILABLE, &temporarily_unavailable("x").0),
            "req-3",
            &ui(),
        )
        .await;
        let body: Value = serde_json::from_slice(&body_of(response).await).unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
        assert_eq!(body["request_id"], "req-3");
    }

    #[tokio::test]
    async fn an_html_500_becomes_the_generic_page_with_the_request_id() {
        let notice = pages::Notice::new("invalid_authorization");
        let page = pages::error_with_detail(&ui(), StatusCode::INTERNAL_SERVER_ERROR, &notice, "stack trace here", "x");
        let response = identify_server_error(page, "req-4", &ui()).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let html = String::from_utf8(body_of(response).await).unwrap();
        assert!(html.contains("req-4") && !html.contains("stack trace here"));
    }

    #[tokio::test]
    async fn an_html_503_keeps_its_message_and_gains_the_request_id() {
        let notice = pages::Notice::new("upstream_unavailable").with("provider", "Google");
        let page = pages::error(&ui(), StatusCode::SERVICE_UNAVAILABLE, &notice, None);
        let response = identify_server_error(page, "req-6", &ui()).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let html = String::from_utf8(body_of(response).await).unwrap();
        assert!(html.contains("Google is not answering") && html.contains("Request id: req-6</p>\n</main>"));
    }

    #[tokio::test]
    async fn other_bodies_are_kept() {
        let report = Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .content_type("application/json")
            .body(r#"{"status":"unavailable"}"#);
        let response = identify_server_error(report, "req-5", &ui()).await;
        assert_eq!(body_of(response).await, br#"{"status":"unavailable"}"#);
    }
}

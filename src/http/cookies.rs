//! The browser cookies ferrid sets: the OP session and the CSRF token. Both are HttpOnly,
//! SameSite=Lax (sent on top-level navigations back from an RP, not on cross-site POSTs), and
//! Secure unless the issuer is plain http on loopback (development).

use poem::{Request, Response, http::header};
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "ferrid_session";
pub const CSRF_COOKIE: &str = "ferrid_csrf";

/// The value of cookie `name` in the request, if any.
pub fn read(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .get_all(poem::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A `Set-Cookie` value; `max_age` `None` makes a session cookie, `Some(0)` deletes it.
pub fn set(name: &str, value: &str, max_age: Option<i64>, secure: bool) -> String {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(max_age) = max_age {
        cookie.push_str(&format!("; Max-Age={max_age}"));
    }
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// The browser's CSRF cookie value, or a new one to set (double-submit: the form echoes it,
/// and a cross-site page can neither read it nor, with SameSite=Lax, send it on a POST).
pub fn csrf_token(request: &Request) -> (String, bool) {
    match read(request, CSRF_COOKIE).filter(|v| v.len() >= 32) {
        Some(value) => (value, false),
        None => (keys::random_id(32), true),
    }
}

pub fn csrf_valid(request: &Request, submitted: &str) -> bool {
    read(request, CSRF_COOKIE)
        .is_some_and(|cookie| cookie.len() >= 32 && bool::from(cookie.as_bytes().ct_eq(submitted.as_bytes())))
}

pub fn with_csrf_cookie(response: Response, token: &str, is_new: bool, secure: bool) -> Response {
    if is_new { with_cookie(response, CSRF_COOKIE, token, None, secure) } else { response }
}

/// `response` with one more cookie, made by [`set`].
pub fn with_cookie(mut response: Response, name: &str, value: &str, max_age: Option<i64>, secure: bool) -> Response {
    if let Ok(value) = set(name, value, max_age, secure).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

//! The browser cookies ferrid sets: the OP session and the CSRF token. Both are HttpOnly,
//! SameSite=Lax (sent on top-level navigations back from an RP, not on cross-site POSTs), and
//! Secure unless the issuer is plain http on loopback (development).

use poem::Request;

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

//! A table of hostile inputs (issue 8 item 7), each answered with a clear 4xx and the RFC-style
//! body (DESIGN §7.4: a 5xx is a bug): oversized parameters, invalid UTF-8 in query and form,
//! duplicate parameters (RFC 6749 §3.1: "MUST NOT be included more than once"), CR/LF in
//! redirect_uri and state, open-redirect attempts (RFC 9700 §4.1: exact matching), SQL
//! metacharacters, and forged JWTs — `alg: none` and HS256 keyed with the public key (RFC 8725
//! §2.1, §3.1) — at userinfo, introspection, client authentication and `id_token_hint`.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ferrid::oauth::ClientType;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::{
    helpers::{Backend, TestApp, spawn_app},
    oidc::{REDIRECT, create_client, create_user},
};

on_every_backend!(hostile_inputs_get_a_clear_4xx);

/// How a case is sent.
enum Send {
    /// GET with this raw query string (already encoded, possibly invalid on purpose).
    Get(&'static str, String),
    /// POST of this raw urlencoded body, as the confidential client (HTTP Basic) or anonymously.
    Form { path: &'static str, body: Vec<u8>, as_client: bool },
    /// POST of this JSON body.
    Json(&'static str, Value),
    /// GET with this bearer token.
    Bearer(&'static str, String),
}

/// What the answer must be.
#[derive(Clone, Copy)]
struct Expect {
    status: StatusCode,
    /// The `error` code of a JSON body, of `WWW-Authenticate` (RFC 6750 §3) or of the redirect
    /// back to the client; `None` for an HTML page.
    error: Option<&'static str>,
}

/// RFC 6749 §4.1.2.1: once the redirect URI is known good, errors go back to the client.
const fn redirect_error(error: &'static str) -> Expect {
    Expect { status: StatusCode::SEE_OTHER, error: Some(error) }
}

const fn json_error(status: StatusCode, error: &'static str) -> Expect {
    Expect { status, error: Some(error) }
}

const fn page(status: StatusCode) -> Expect {
    Expect { status, error: None }
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A JWT with `header` and `claims`, signed HS256 with `key` (or unsigned for `alg: none`).
fn forged(header: &Value, claims: &Value, key: Option<&[u8]>) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let signature = key.map_or_else(String::new, |key| {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
        URL_SAFE_NO_PAD.encode(ring::hmac::sign(&key, input.as_bytes()).as_ref())
    });
    format!("{input}.{signature}")
}

/// `authorize` query parameters for the registered client, with `changes` replacing or adding.
fn authorize_query(client_id: &str, changes: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "xyz"),
        ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in changes {
        match pairs.iter_mut().find(|(n, _)| n == name) {
            Some(pair) => pair.1 = value,
            None => pairs.push((name, value)),
        }
    }
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

async fn send(app: &TestApp, client: &(String, Option<String>), how: &Send) -> reqwest::Response {
    let request = match how {
        Send::Get(path, query) => app.http.get(format!("{}?{query}", app.url(path))),
        Send::Form { path, body, as_client } => {
            let request = app
                .http
                .post(app.url(path))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body.clone());
            if *as_client { request.basic_auth(&client.0, client.1.as_deref()) } else { request }
        }
        Send::Json(path, body) => app.http.post(app.url(path)).header("X-Requested-With", "fetch").json(body),
        Send::Bearer(path, token) => app.http.get(app.url(path)).bearer_auth(token),
    };
    request.send().await.unwrap()
}

async fn hostile_inputs_get_a_clear_4xx(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "ann@example.com").await;
    let client = create_client(&app, ClientType::Confidential).await;
    let id = client.0.clone();
    let issuer = app.address.clone();

    // Forged tokens: claims that would be valid if the signature were.
    let jwks: Value = app.get("/jwks").await.json().await.unwrap();
    let rsa = jwks["keys"].as_array().unwrap().iter().find(|k| k["kty"] == "RSA").unwrap().clone();
    let now = app.state.clock.now().timestamp();
    let access_claims = json!({
        "iss": issuer, "sub": "00000000-0000-0000-0000-000000000001", "aud": issuer, "client_id": id,
        "scope": "openid", "iat": now, "exp": now + 600, "jti": "forged-1",
    });
    let assertion_claims = json!({
        "iss": id, "sub": id, "aud": format!("{issuer}/token"), "iat": now, "exp": now + 60, "jti": "forged-2",
    });
    let id_token_claims = json!({ "iss": issuer, "sub": "someone", "aud": id, "iat": now, "exp": now + 600 });
    let none = json!({ "alg": "none", "typ": "at+jwt", "kid": rsa["kid"] });
    let hs256 = json!({ "alg": "HS256", "typ": "at+jwt", "kid": rsa["kid"] });
    // The public key as an attacker would use it for the HMAC key: the JWK text and the modulus.
    let public_key_text = rsa.to_string();
    let modulus = URL_SAFE_NO_PAD.decode(rsa["n"].as_str().unwrap()).unwrap();
    let forged_access = [
        forged(&none, &access_claims, None),
        forged(&hs256, &access_claims, Some(public_key_text.as_bytes())),
        forged(&hs256, &access_claims, Some(&modulus)),
    ];
    let forged_assertion = [
        forged(&json!({ "alg": "none" }), &assertion_claims, None),
        forged(&json!({ "alg": "HS256", "kid": rsa["kid"] }), &assertion_claims, Some(public_key_text.as_bytes())),
    ];
    let forged_id_token = [
        forged(&json!({ "alg": "none" }), &id_token_claims, None),
        forged(&json!({ "alg": "HS256", "kid": rsa["kid"] }), &id_token_claims, Some(&modulus)),
    ];

    let long = "a".repeat(20_000);
    let form = |path: &'static str, body: &str| Send::Form { path, body: body.as_bytes().to_vec(), as_client: true };
    let raw_form = |path: &'static str, body: &[u8]| Send::Form { path, body: body.to_vec(), as_client: true };
    let authorize = |changes: &[(&str, &str)]| Send::Get("/authorize", authorize_query(&id, changes));
    let bad_request = |error| json_error(StatusCode::BAD_REQUEST, error);
    let invalid_client = json_error(StatusCode::UNAUTHORIZED, "invalid_client");

    let mut cases: Vec<(&str, Send, Expect)> = vec![
        // Oversized parameters.
        ("oversized state at /authorize", authorize(&[("state", &long)]), redirect_error("invalid_request")),
        (
            "oversized code at /token",
            form("/token", &format!("grant_type=authorization_code&code={long}&redirect_uri=x")),
            bad_request("invalid_grant"),
        ),
        (
            "oversized scope at /token",
            form("/token", &format!("grant_type=refresh_token&refresh_token=x&scope={long}")),
            bad_request("invalid_grant"),
        ),
        (
            "oversized email at the login API",
            Send::Json("/api/auth/login", json!({ "email": long, "password": long })),
            json_error(StatusCode::UNAUTHORIZED, "invalid_credentials"),
        ),
        // Invalid UTF-8.
        (
            "invalid UTF-8 in the /authorize query",
            Send::Get("/authorize", format!("client_id={id}&redirect_uri=%FF%FE&response_type=code")),
            page(StatusCode::BAD_REQUEST),
        ),
        (
            "invalid UTF-8 (escaped) in a form",
            form("/token", "grant_type=%FF%FE"),
            bad_request("unsupported_grant_type"),
        ),
        (
            "invalid UTF-8 (raw bytes) in a form",
            raw_form("/token", b"grant_type=client_credentials&scope=\xff\xfe"),
            bad_request("invalid_scope"),
        ),
        (
            "invalid UTF-8 in /revoke",
            raw_form("/revoke", b"token=\xff\xfe&token_type_hint=\xc3\x28"),
            bad_request("unsupported_token_type"),
        ),
        // Duplicate parameters (RFC 6749 §3.1, §3.2).
        (
            "duplicate grant_type at /token",
            form("/token", "grant_type=client_credentials&grant_type=authorization_code"),
            bad_request("invalid_request"),
        ),
        ("duplicate token at /revoke", form("/revoke", "token=a&token=b"), bad_request("invalid_request")),
        ("duplicate token at /introspect", form("/introspect", "token=a&token=b"), bad_request("invalid_request")),
        (
            "duplicate client_id at /authorize",
            Send::Get("/authorize", format!("{}&client_id={id}", authorize_query(&id, &[]))),
            page(StatusCode::BAD_REQUEST),
        ),
        // Header injection.
        (
            "CR/LF in redirect_uri",
            authorize(&[("redirect_uri", "http://127.0.0.1:9/callback\r\nSet-Cookie: a=b")]),
            page(StatusCode::BAD_REQUEST),
        ),
        ("CR/LF in state", authorize(&[("state", "xyz\r\nSet-Cookie: a=b")]), redirect_error("invalid_request")),
        // Open redirects: only the exact registered URI (RFC 9700 §4.1.3).
        (
            "unregistered redirect_uri",
            authorize(&[("redirect_uri", "https://evil.example/callback")]),
            page(StatusCode::BAD_REQUEST),
        ),
        (
            "userinfo part in redirect_uri",
            authorize(&[("redirect_uri", "http://127.0.0.1:9@evil.example/callback")]),
            page(StatusCode::BAD_REQUEST),
        ),
        (
            "backslash in redirect_uri",
            authorize(&[("redirect_uri", "http://127.0.0.1:9\\@evil.example/callback")]),
            page(StatusCode::BAD_REQUEST),
        ),
        ("another port", authorize(&[("redirect_uri", "http://127.0.0.1:10/callback")]), page(StatusCode::BAD_REQUEST)),
        (
            "another path",
            authorize(&[("redirect_uri", "http://127.0.0.1:9/callback/../evil")]),
            page(StatusCode::BAD_REQUEST),
        ),
        (
            "a longer path",
            authorize(&[("redirect_uri", "http://127.0.0.1:9/callbackx")]),
            page(StatusCode::BAD_REQUEST),
        ),
        // SQL metacharacters reach only bound parameters.
        (
            "SQL in client_id",
            Send::Form {
                path: "/token",
                body: b"grant_type=client_credentials&client_id=%27%20OR%20%271%27%3D%271&client_secret=x".to_vec(),
                as_client: false,
            },
            invalid_client,
        ),
        (
            "SQL in the login API",
            Send::Json("/api/auth/login", json!({ "email": "' OR 1=1 --@example.com", "password": "' OR '1'='1" })),
            json_error(StatusCode::UNAUTHORIZED, "invalid_credentials"),
        ),
        (
            "SQL in a refresh token",
            form("/token", "grant_type=refresh_token&refresh_token=%27%3B%20DROP%20TABLE%20users%3B%20--"),
            bad_request("invalid_grant"),
        ),
        ("SQL in client_id at /authorize", authorize(&[("client_id", "' OR '1'='1")]), page(StatusCode::BAD_REQUEST)),
    ];
    for token in &forged_access {
        cases.push((
            "forged access token at /userinfo",
            Send::Bearer("/userinfo", token.clone()),
            json_error(StatusCode::UNAUTHORIZED, "invalid_token"),
        ));
        cases.push((
            "forged access token at /api/users/me",
            Send::Bearer("/api/users/me", token.clone()),
            json_error(StatusCode::UNAUTHORIZED, "invalid_token"),
        ));
    }
    for assertion in &forged_assertion {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &id)
            .append_pair("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            .append_pair("client_assertion", assertion)
            .finish();
        cases.push((
            "forged client assertion",
            Send::Form { path: "/token", body: body.into_bytes(), as_client: false },
            invalid_client,
        ));
    }
    for hint in &forged_id_token {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("id_token_hint", hint)
            .append_pair("post_logout_redirect_uri", REDIRECT)
            .finish();
        cases.push(("forged id_token_hint at /logout", Send::Get("/logout", query), page(StatusCode::BAD_REQUEST)));
    }

    let mut failures = Vec::new();
    for (name, how, expect) in &cases {
        let response = send(&app, &client, how).await;
        let status = response.status();
        let injected =
            response.headers().get_all(header::SET_COOKIE).iter().any(|c| c.to_str().unwrap_or("").starts_with("a="));
        let location = response.headers().get(header::LOCATION).map(|l| l.to_str().unwrap_or("").to_owned());
        let challenge = response.headers().get(header::WWW_AUTHENTICATE).map(|c| c.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        // Only an error redirect to the registered URI may leave ferrid, never with a bad state.
        let redirected = location
            .as_deref()
            .and_then(|l| l.strip_prefix(&format!("{REDIRECT}?")))
            .map(|query| url::form_urlencoded::parse(query.as_bytes()).into_owned().collect::<Vec<(String, String)>>());
        let error = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|body| body["error"].as_str().map(str::to_owned))
            .or_else(|| {
                challenge
                    .as_deref()
                    .and_then(|c| c.split("error=\"").nth(1))
                    .and_then(|e| e.split('"').next())
                    .map(str::to_owned)
            })
            .or_else(|| redirected.as_ref().and_then(|p| p.iter().find(|(k, _)| k == "error")).map(|(_, v)| v.clone()));
        let bad_state = redirected.as_ref().is_some_and(|p| p.iter().any(|(k, v)| k == "state" && v != "xyz"));
        let stray_location = location.is_some() && redirected.is_none();
        let ok =
            status == expect.status && error.as_deref() == expect.error && !injected && !stray_location && !bad_state;
        if !ok {
            failures.push(format!(
                "{name}: {status} {error:?} location={location:?} injected={injected} (expected {} {:?}) {}",
                expect.status,
                expect.error,
                text.chars().take(200).collect::<String>()
            ));
        }
    }
    // Introspection of a forged token is not an error: it is simply inactive (RFC 7662 §2.2).
    for token in &forged_access {
        let body = format!("token={token}");
        let response = send(&app, &client, &form("/introspect", &body)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.json::<Value>().await.unwrap(), json!({ "active": false }));
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

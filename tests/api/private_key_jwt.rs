//! `private_key_jwt` client authentication (RFC 7523 §2.2, §3; OIDC Core §9): assertions
//! verified against the client's inline `jwks` or its `jwks_uri`, each `jti` accepted once.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ferrid::oauth::{ClientMetadata, ClientType, GrantType, TokenEndpointAuthMethod};
use keys::{KeyAlg, PrivateKey, SigningAlg};
use poem::{
    EndpointExt, Route, Server,
    listener::{Acceptor, Listener, TcpListener},
    web::Data,
};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[allow(clippy::disallowed_methods)] // the client signs assertions with real time
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn key(alg: SigningAlg) -> PrivateKey {
    PrivateKey::generate(KeyAlg::Signing(alg)).unwrap()
}

fn jwks(keys: &[&PrivateKey]) -> Value {
    let keys: Vec<Value> = keys.iter().map(|k| serde_json::from_str(&k.public_jwk().to_json()).unwrap()).collect();
    json!({ "keys": keys })
}

async fn register(app: &TestApp, configure: impl FnOnce(&mut ClientMetadata)) -> String {
    let mut metadata = ClientMetadata::new("Assertion client", ClientType::Confidential);
    metadata.grant_types = vec![GrantType::ClientCredentials];
    metadata.token_endpoint_auth_method = TokenEndpointAuthMethod::PrivateKeyJwt;
    configure(&mut metadata);
    let (client, _) = app.state.clients.register(metadata).await.unwrap();
    client.id.as_str().to_owned()
}

/// The claims a well-behaved client sends (RFC 7523 §3), audience the token endpoint (OIDC Core §9).
fn claims(app: &TestApp, client_id: &str) -> Map<String, Value> {
    let t = now();
    let jti = uuid::Uuid::new_v4().to_string();
    let claims =
        json!({"iss": client_id, "sub": client_id, "aud": app.url("/token"), "iat": t, "exp": t + 60, "jti": jti});
    claims.as_object().unwrap().clone()
}

fn sign(key: &PrivateKey, claims: &Map<String, Value>) -> String {
    keys::sign_jwt(&key.signing_key().unwrap(), None, claims).unwrap()
}

async fn post(app: &TestApp, path: &str, assertion: &str, extra: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut form = vec![("client_assertion_type", JWT_BEARER), ("client_assertion", assertion)];
    form.extend_from_slice(extra);
    if path == "/token" && !extra.iter().any(|(k, _)| *k == "grant_type") {
        form.push(("grant_type", "client_credentials"));
    }
    let response = app.http.post(app.url(path)).form(&form).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn token(app: &TestApp, assertion: &str) -> StatusCode {
    let (status, body) = post(app, "/token", assertion, &[]).await;
    if status != StatusCode::OK {
        assert_eq!(body["error"], "invalid_client", "{body}");
    }
    status
}

type Edit = dyn Fn(&mut Map<String, Value>);

async fn inline_jwks_assertions_rfc_7523_3(backend: Backend) {
    let app = spawn_app(backend).await;
    let (rsa, ec) = (key(SigningAlg::RS256), key(SigningAlg::ES256));
    let id = register(&app, |m| m.jwks = Some(jwks(&[&rsa, &ec]))).await;

    // RS256 and ES256 assertions authenticate the client (OIDC Core §9).
    let (status, body) = post(&app, "/token", &sign(&rsa, &claims(&app, &id)), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access_token = body["access_token"].as_str().unwrap().to_owned();
    let replayed = sign(&ec, &claims(&app, &id));
    assert_eq!(token(&app, &replayed).await, StatusCode::OK);
    // RFC 7523 §3 item 7: a jti is accepted once (in Redis, across nodes, on that backend).
    assert_eq!(token(&app, &replayed).await, StatusCode::UNAUTHORIZED);
    // The issuer is an accepted audience too (RFC 7523 §3 item 3).
    let mut to_issuer = claims(&app, &id);
    to_issuer.insert("aud".into(), json!(app.address));
    assert_eq!(token(&app, &sign(&ec, &to_issuer)).await, StatusCode::OK);

    // /introspect and /revoke take the same assertions.
    let (status, body) = post(&app, "/introspect", &sign(&ec, &claims(&app, &id)), &[("token", &access_token)]).await;
    assert_eq!((status, body["active"].clone()), (StatusCode::OK, json!(true)), "{body}");
    let (status, _) = post(&app, "/revoke", &sign(&rsa, &claims(&app, &id)), &[("token", &access_token)]).await;
    assert_eq!(status, StatusCode::OK);

    // Every failure is the same invalid_client (RFC 6749 §5.2).
    let t = now();
    let bad: Vec<(&str, Box<Edit>)> = vec![
        ("wrong aud", Box::new(|c| drop(c.insert("aud".into(), json!("https://elsewhere.example/token"))))),
        ("expired", Box::new(move |c| drop(c.insert("exp".into(), json!(t - 120))))),
        ("exp too far ahead", Box::new(move |c| drop(c.insert("exp".into(), json!(t + 3600))))),
        ("no exp", Box::new(|c| drop(c.remove("exp")))),
        ("no jti", Box::new(|c| drop(c.remove("jti")))),
        ("iss other than sub", Box::new(|c| drop(c.insert("iss".into(), json!("someone-else"))))),
        ("nbf ahead", Box::new(move |c| drop(c.insert("nbf".into(), json!(t + 600))))),
    ];
    for (case, edit) in &bad {
        let mut c = claims(&app, &id);
        edit(&mut c);
        assert_eq!(token(&app, &sign(&rsa, &c)).await, StatusCode::UNAUTHORIZED, "{case}");
    }
    // A key the client did not register, alg none and HMAC (RFC 8725 §3.1) are refused.
    let stranger = key(SigningAlg::ES256);
    assert_eq!(token(&app, &sign(&stranger, &claims(&app, &id))).await, StatusCode::UNAUTHORIZED);
    let payload = URL_SAFE_NO_PAD.encode(Value::Object(claims(&app, &id)).to_string());
    for header in [r#"{"alg":"none"}"#, r#"{"alg":"HS256","typ":"JWT"}"#] {
        let forged = format!("{}.{payload}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode("sig"));
        assert_eq!(token(&app, &forged).await, StatusCode::UNAUTHORIZED, "{header}");
    }
    let unsigned = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
    assert_eq!(token(&app, &unsigned).await, StatusCode::UNAUTHORIZED);

    // One method per request (RFC 6749 §2.3): an assertion with a secret is invalid_request.
    let fresh = sign(&rsa, &claims(&app, &id));
    let (status, body) = post(&app, "/token", &fresh, &[("client_secret", "x"), ("client_id", &id)]).await;
    assert_eq!((status, body["error"].clone()), (StatusCode::BAD_REQUEST, json!("invalid_request")));
    app.stop().await;
}

on_every_backend!(inline_jwks_assertions_rfc_7523_3);

/// A client's `jwks_uri` on 127.0.0.1: serves whatever set it currently holds, counting requests.
#[derive(Clone)]
struct JwksServer {
    jwks: Arc<Mutex<Value>>,
    hits: Arc<AtomicUsize>,
}

#[poem::handler]
fn serve(server: Data<&JwksServer>) -> poem::web::Json<Value> {
    server.hits.fetch_add(1, Ordering::SeqCst);
    poem::web::Json(server.jwks.lock().unwrap().clone())
}

impl JwksServer {
    async fn start(jwks: Value) -> (Self, String) {
        let server = Self { jwks: Arc::new(Mutex::new(jwks)), hits: Arc::default() };
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
        let uri = format!("http://{}/jwks", acceptor.local_addr()[0].as_socket_addr().unwrap());
        let route = Route::new().at("/jwks", poem::get(serve)).data(server.clone());
        tokio::spawn(Server::new_with_acceptor(acceptor).run(route));
        (server, uri)
    }
}

// RFC 7523 §3 / OIDC Core §10.1.1: keys from jwks_uri, refetched when the client rotates its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_uri_keys_and_rotation_oidc_core_10_1_1() {
    let app = spawn_app_with(Backend::Embedded, &[("FERRID_JWKS_URI_ALLOW_PRIVATE", "true")]).await;
    let old = key(SigningAlg::ES256);
    let (server, uri) = JwksServer::start(jwks(&[&old])).await;
    let id = register(&app, |m| m.jwks_uri = Some(url::Url::parse(&uri).unwrap())).await;

    assert_eq!(token(&app, &sign(&old, &claims(&app, &id))).await, StatusCode::OK);
    assert_eq!(token(&app, &sign(&old, &claims(&app, &id))).await, StatusCode::OK);
    assert_eq!(server.hits.load(Ordering::SeqCst), 1, "the set is cached");

    // The client rotates: the new kid is missing from the cache, so ferrid fetches once more.
    let new = key(SigningAlg::RS256);
    *server.jwks.lock().unwrap() = jwks(&[&new]);
    assert_eq!(token(&app, &sign(&new, &claims(&app, &id))).await, StatusCode::OK);
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
    // The retired key no longer verifies, and unknown kids do not trigger a fetch each time.
    assert_eq!(token(&app, &sign(&old, &claims(&app, &id))).await, StatusCode::UNAUTHORIZED);
    assert_eq!(token(&app, &sign(&key(SigningAlg::ES256), &claims(&app, &id))).await, StatusCode::UNAUTHORIZED);
    assert_eq!(server.hits.load(Ordering::SeqCst), 2, "refetches are rate limited");
    app.stop().await;
}

// SSRF: by default a jwks_uri on a loopback address is never requested.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_jwks_uri_is_refused_by_default() {
    let app = spawn_app(Backend::Embedded).await;
    let client_key = key(SigningAlg::ES256);
    let (server, uri) = JwksServer::start(jwks(&[&client_key])).await;
    let https = uri.replacen("http://", "https://", 1);
    for uri in [uri, https] {
        let id = register(&app, |m| m.jwks_uri = Some(url::Url::parse(&uri).unwrap())).await;
        assert_eq!(token(&app, &sign(&client_key, &claims(&app, &id))).await, StatusCode::UNAUTHORIZED, "{uri}");
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 0);
    app.stop().await;
}

// RFC 7591 §2 / OIDC Discovery §3: advertised, and a client registers itself with its jwks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamically_registered_client_authenticates_with_its_jwks_rfc_7591_2() {
    let app = spawn_app(Backend::Embedded).await;
    let discovery: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    for field in [
        "token_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    ] {
        assert!(discovery[field].as_array().unwrap().contains(&json!("private_key_jwt")), "{field}");
    }
    assert_eq!(
        discovery["token_endpoint_auth_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256", "EdDSA"])
    );

    let client_key = key(SigningAlg::EdDSA);
    let registration = json!({
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": ["client_credentials"],
        "jwks": jwks(&[&client_key]),
    });
    let response = app.http.post(app.url("/register")).json(&registration).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_endpoint_auth_method"], "private_key_jwt");
    assert!(body.get("client_secret").is_none(), "its keys are its credentials: {body}");
    let id = body["client_id"].as_str().unwrap();
    assert_eq!(token(&app, &sign(&client_key, &claims(&app, id))).await, StatusCode::OK);

    // Without keys the registration is refused (RFC 7591 §3.2.2).
    let keyless = json!({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"]});
    let response = app.http.post(app.url("/register")).json(&keyless).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}

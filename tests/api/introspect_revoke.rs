//! Token introspection (RFC 7662), revocation (RFC 7009) and the client_credentials grant
//! (RFC 6749 §4.4 with RFC 8707 resource indicators), each test citing the section it follows.

use std::sync::Arc;

use ferrid::{
    clock::{Clock, SystemClock},
    oauth::{
        ClientMetadata, ClientType, FamilyId, GrantType,
        access_token::verify_issued_access_token,
        revocation::{access_token_jti, is_revoked, revoke_family},
    },
};
use reqwest::{StatusCode, header::HeaderMap};
use serde_json::{Value, json};

use crate::{
    browser::Browser,
    helpers::{Backend, TestApp, TestResources, spawn_app, start_app},
    oidc::{PASSWORD, REDIRECT, authorize_url, create_client, create_user},
};

on_every_backend!(
    introspection_reports_own_active_tokens_and_nothing_after_revocation,
    revoking_a_refresh_token_revokes_its_family_and_access_tokens,
    client_credentials_issues_an_access_token_for_the_client_itself
);

/// A confidential client and tokens (access, refresh, ID) from a real authorization code flow.
struct Issued {
    client_id: String,
    secret: String,
    access_token: String,
    refresh_token: String,
}

async fn sign_in(app: &TestApp) -> Issued {
    create_user(app, "ann@example.com").await;
    let (client_id, secret) = create_client(app, ClientType::Confidential).await;
    let secret = secret.unwrap();
    let (url, verifier) = authorize_url(app, &client_id, "openid email offline_access", &[]);
    let code = Browser::new(&app.address).sign_in(&url, "ann@example.com", PASSWORD).await.code();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, _, body) = post(app, "/token", (&client_id, &secret), &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    Issued {
        access_token: body["access_token"].as_str().unwrap().to_owned(),
        refresh_token: body["refresh_token"].as_str().unwrap().to_owned(),
        client_id,
        secret,
    }
}

/// POSTs a form with HTTP Basic client authentication; the body as JSON (`Null` when empty).
async fn post(
    app: &TestApp,
    path: &str,
    client: (&str, &str),
    form: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Value) {
    let response = app.http.post(app.url(path)).basic_auth(client.0, Some(client.1)).form(form).send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let text = response.text().await.unwrap();
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
    (status, headers, body)
}

async fn introspect(app: &TestApp, issued: &Issued, token: &str) -> Value {
    let (status, headers, body) =
        post(app, "/introspect", (&issued.client_id, &issued.secret), &[("token", token)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store", "RFC 7662 §2.2 responses carry tokens' metadata");
    body
}

async fn revoke(app: &TestApp, issued: &Issued, form: &[(&str, &str)]) {
    let (status, headers, body) = post(app, "/revoke", (&issued.client_id, &issued.secret), form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, Value::Null, "RFC 7009 §2.2: the content of the response body is ignored; we send none");
    assert_eq!(headers["cache-control"], "no-store");
}

async fn userinfo_status(app: &TestApp, access_token: &str) -> StatusCode {
    app.http.get(app.url("/userinfo")).bearer_auth(access_token).send().await.unwrap().status()
}

fn inactive() -> Value {
    json!({ "active": false })
}

// RFC 7662 §2.2 (the response), RFC 7009 §2.1 (revocation) and §2.2 (inactive is all it says).
async fn introspection_reports_own_active_tokens_and_nothing_after_revocation(backend: Backend) {
    let app = spawn_app(backend).await;
    let issued = sign_in(&app).await;

    let body = introspect(&app, &issued, &issued.access_token).await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["client_id"], issued.client_id.as_str());
    assert_eq!(body["scope"], "openid email offline_access");
    assert_eq!(body["iss"], app.address.as_str());
    assert_eq!(body["aud"], app.address.as_str());
    assert!(body["sub"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(body["jti"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(body["exp"].as_i64().unwrap() > body["iat"].as_i64().unwrap());
    let subject = body["sub"].clone();

    // A refresh token, found even under the wrong hint (RFC 7662 §2.1).
    let form = [("token", issued.refresh_token.as_str()), ("token_type_hint", "access_token")];
    let (_, _, body) = post(&app, "/introspect", (&issued.client_id, &issued.secret), &form).await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["token_type"], "refresh_token");
    assert_eq!(body["sub"], subject);
    assert_eq!(body["client_id"], issued.client_id.as_str());
    assert!(body.get("jti").is_none());

    // RFC 7009 §2.1: revoke the access token; then the refresh token.
    revoke(&app, &issued, &[("token", &issued.access_token), ("token_type_hint", "access_token")]).await;
    assert_eq!(introspect(&app, &issued, &issued.access_token).await, inactive());
    assert_eq!(userinfo_status(&app, &issued.access_token).await, StatusCode::UNAUTHORIZED);
    revoke(&app, &issued, &[("token", &issued.refresh_token)]).await;
    assert_eq!(introspect(&app, &issued, &issued.refresh_token).await, inactive());
    // Already revoked: still 200 (RFC 7009 §2.2).
    revoke(&app, &issued, &[("token", &issued.refresh_token), ("token_type_hint", "refresh_token")]).await;
    app.stop().await;
}

// RFC 7009 §2.1: "the authorization server SHOULD also invalidate all access tokens based on the
// same authorization grant" — here the one from the code and the one from a refresh.
async fn revoking_a_refresh_token_revokes_its_family_and_access_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let issued = sign_in(&app).await;
    let client = (issued.client_id.as_str(), issued.secret.as_str());
    let (status, _, refreshed) =
        post(&app, "/token", client, &[("grant_type", "refresh_token"), ("refresh_token", &issued.refresh_token)])
            .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let second_access = refreshed["access_token"].as_str().unwrap();
    let newest_refresh = refreshed["refresh_token"].as_str().unwrap();
    for token in [issued.access_token.as_str(), second_access] {
        assert_eq!(userinfo_status(&app, token).await, StatusCode::OK);
    }

    // The client revokes the newest refresh token of the family.
    revoke(&app, &issued, &[("token", newest_refresh), ("token_type_hint", "refresh_token")]).await;
    for token in [issued.access_token.as_str(), second_access, newest_refresh, &issued.refresh_token] {
        assert_eq!(introspect(&app, &issued, token).await, inactive(), "{token}");
    }
    for token in [issued.access_token.as_str(), second_access] {
        assert_eq!(userinfo_status(&app, token).await, StatusCode::UNAUTHORIZED, "RFC 6750 §3.1");
    }
    let (_, _, body) =
        post(&app, "/token", client, &[("grant_type", "refresh_token"), ("refresh_token", newest_refresh)]).await;
    assert_eq!(body["error"], "invalid_grant");
    app.stop().await;
}

/// Every access token minted from a family names it in its `jti`, and revoking the family marks
/// it before revoking its rows: a token minted by a refresh that rotated just before the
/// revocation is refused as well as the older ones, however late it is minted (RFC 7009 §2.1).
/// Tokens of other families, and tokens without one, are not.
#[tokio::test]
async fn a_revocation_racing_a_refresh_still_revokes_its_new_access_token_rfc_7009_2_1() {
    let app = spawn_app(Backend::Embedded).await;
    let (store, repo) = (app.state.short_lived.as_ref(), &app.state.refresh_tokens);
    let (family, other) = (FamilyId::generate(), FamilyId::generate());
    let now = app.state.clock.now();
    let minted_before = access_token_jti(Some(&family));
    assert!(!is_revoked(store, &minted_before, "someone", now).await.unwrap());

    revoke_family(repo, store, &family, now, app.state.longest_access_token()).await.unwrap();
    let minted_after = access_token_jti(Some(&family));
    for jti in [&minted_before, &minted_after] {
        assert!(is_revoked(store, jti, "someone", now).await.unwrap(), "{jti}");
    }
    for jti in [access_token_jti(Some(&other)), access_token_jti(None)] {
        assert!(!is_revoked(store, &jti, "someone", now).await.unwrap(), "{jti}");
    }
    app.stop().await;
}

#[tokio::test]
async fn refresh_token_reuse_also_revokes_the_access_tokens_rfc_9700_4_14_2() {
    let app = spawn_app(Backend::Embedded).await;
    let issued = sign_in(&app).await;
    let client = (issued.client_id.as_str(), issued.secret.as_str());
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", issued.refresh_token.as_str())];
    let (_, _, refreshed) = post(&app, "/token", client, &refresh).await;
    let second_access = refreshed["access_token"].as_str().unwrap();
    // Replaying the rotated token revokes the family, and with it both access tokens.
    let (_, _, body) = post(&app, "/token", client, &refresh).await;
    assert_eq!(body["error"], "invalid_grant");
    for token in [issued.access_token.as_str(), second_access] {
        assert_eq!(userinfo_status(&app, token).await, StatusCode::UNAUTHORIZED);
    }
    app.stop().await;
}

// RFC 7009 §2.1 + DESIGN §4 (nodes hold no state another node needs): a revocation on one node
// holds on every node. The embedded store is per process, so this runs on PostgreSQL + Redis only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_access_token_is_refused_by_another_node_rfc_7009_2_1() {
    if !crate::helpers::external_backend_configured() {
        eprintln!("skipped: set FERRID_TEST_DATABASE_URL and FERRID_TEST_REDIS_URL to run on PostgreSQL + Redis");
        return;
    }
    let resources = TestResources::create(Backend::External).await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let node_a = start_app(resources.share(), &[], clock.clone()).await.unwrap();
    // Both nodes serve one issuer, as behind a load balancer.
    let node_b = start_app(resources, &[("FERRID_ISSUER", node_a.address.as_str())], clock).await.unwrap();
    let issued = sign_in(&node_a).await;
    assert_eq!(userinfo_status(&node_b, &issued.access_token).await, StatusCode::OK);

    revoke(&node_a, &issued, &[("token", &issued.access_token)]).await;
    assert_eq!(userinfo_status(&node_b, &issued.access_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(introspect(&node_b, &issued, &issued.access_token).await, inactive());
    node_a.stop().await;
    node_b.stop().await;
}

#[tokio::test]
async fn introspection_tells_nothing_about_other_clients_tokens_or_garbage_rfc_7662_2_2() {
    let app = spawn_app(Backend::Embedded).await;
    let issued = sign_in(&app).await;
    let (other_id, other_secret) = create_client(&app, ClientType::Confidential).await;
    let other = Issued {
        client_id: other_id,
        secret: other_secret.unwrap(),
        access_token: String::new(),
        refresh_token: String::new(),
    };
    // DESIGN §5: a client may introspect its own tokens only; another's is exactly inactive.
    for token in [&issued.access_token, &issued.refresh_token] {
        assert_eq!(introspect(&app, &other, token).await, inactive());
    }
    for garbage in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."] {
        assert_eq!(introspect(&app, &issued, garbage).await, inactive(), "{garbage}");
    }
    // An unknown hint is only a hint (RFC 7662 §2.1).
    let form = [("token", issued.access_token.as_str()), ("token_type_hint", "id_token")];
    let (_, _, body) = post(&app, "/introspect", (&issued.client_id, &issued.secret), &form).await;
    assert_eq!(body["active"], true);

    // RFC 7662 §2.1 requires client authentication: 401 invalid_client (RFC 6749 §5.2).
    let (status, headers, body) =
        post(&app, "/introspect", (&issued.client_id, "wrong"), &[("token", &issued.access_token)]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    assert!(headers.contains_key("www-authenticate"));
    let response = app.http.post(app.url("/introspect")).form(&[("token", "x")]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A public client proves nothing by `none` (RFC 7662 §4).
    let (public_id, _) = create_client(&app, ClientType::Public).await;
    let form = [("token", issued.access_token.as_str()), ("client_id", public_id.as_str())];
    let response = app.http.post(app.url("/introspect")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A missing token is invalid_request (RFC 7662 §2.1: token is REQUIRED).
    let (status, _, body) = post(&app, "/introspect", (&issued.client_id, &issued.secret), &[]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
    app.stop().await;
}

#[tokio::test]
async fn revocation_answers_200_and_leaves_other_clients_tokens_alone_rfc_7009_2_2() {
    let app = spawn_app(Backend::Embedded).await;
    let issued = sign_in(&app).await;
    let (other_id, other_secret) = create_client(&app, ClientType::Confidential).await;
    let other = Issued {
        client_id: other_id,
        secret: other_secret.unwrap(),
        access_token: String::new(),
        refresh_token: String::new(),
    };
    // RFC 7009 §2.1: the token was not issued to the requesting client: 200, and no effect.
    revoke(&app, &other, &[("token", &issued.access_token)]).await;
    revoke(&app, &other, &[("token", &issued.refresh_token)]).await;
    assert_eq!(introspect(&app, &issued, &issued.access_token).await["active"], true);
    assert_eq!(introspect(&app, &issued, &issued.refresh_token).await["active"], true);
    assert_eq!(userinfo_status(&app, &issued.access_token).await, StatusCode::OK);

    // §2.2: an invalid token is no error.
    revoke(&app, &issued, &[("token", "no-such-token")]).await;
    revoke(&app, &issued, &[("token", "a.b.c"), ("token_type_hint", "access_token")]).await;

    // §2.2.1: an unregistered hint is unsupported_token_type.
    let form = [("token", issued.access_token.as_str()), ("token_type_hint", "id_token")];
    let (status, _, body) = post(&app, "/revoke", (&issued.client_id, &issued.secret), &form).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unsupported_token_type")));
    // Client authentication failed: 401 (RFC 6749 §5.2).
    let (status, _, body) =
        post(&app, "/revoke", (&issued.client_id, "wrong"), &[("token", &issued.access_token)]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    assert_eq!(userinfo_status(&app, &issued.access_token).await, StatusCode::OK, "nothing was revoked");
    app.stop().await;
}

/// Registers a client_credentials client; returns its id and secret.
async fn service_client(app: &TestApp, allowed_scopes: &[&str]) -> (String, String) {
    let mut metadata = ClientMetadata::new("Service", ClientType::Confidential);
    metadata.grant_types = vec![GrantType::ClientCredentials];
    metadata.allowed_scopes = allowed_scopes.iter().map(|s| (*s).to_owned()).collect();
    let (client, secret) = app.state.clients.register(metadata).await.unwrap();
    (client.id.as_str().to_owned(), secret.unwrap().expose().to_owned())
}

/// The JWT's payload, decoded without verification (the verification is done separately).
fn payload(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

// RFC 6749 §4.4.2–§4.4.3, RFC 9068 §2.2 (sub is the client), RFC 8707 §2 (resource → aud).
async fn client_credentials_issues_an_access_token_for_the_client_itself(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client_id, secret) = service_client(&app, &["openid", "profile", "email"]).await;
    let form = [("grant_type", "client_credentials"), ("scope", "profile"), ("resource", "https://api.example.com/v1")];
    let (status, headers, body) = post(&app, "/token", (&client_id, &secret), &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "profile");
    // §4.4.3: "A refresh token SHOULD NOT be included"; no user, so no ID token either.
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none(), "{body}");
    let token = body["access_token"].as_str().unwrap();
    let published = app.state.keys.current();
    let verifier = app.state.access_token_verifier(&published);
    let grant = verify_issued_access_token(verifier, token, app.state.clock.now()).await.unwrap();
    assert_eq!((grant.subject.as_str(), grant.client_id.as_str()), (client_id.as_str(), client_id.as_str()));
    assert_eq!(grant.audience, ["https://api.example.com/v1"]);
    assert_eq!(payload(token)["aud"], "https://api.example.com/v1");
    assert!(payload(token).get("auth_time").is_none());
    // Not for ferrid's own audience: userinfo refuses it (RFC 9068 §4).
    assert_eq!(userinfo_status(&app, token).await, StatusCode::UNAUTHORIZED);

    // Without resource and scope: ferrid's default audience, and all allowed non-user scopes.
    let (_, _, body) = post(&app, "/token", (&client_id, &secret), &[("grant_type", "client_credentials")]).await;
    assert_eq!(body["scope"], "profile email", "{body}");
    assert_eq!(payload(body["access_token"].as_str().unwrap())["aud"], app.address.as_str());
    app.stop().await;
}

#[tokio::test]
async fn client_credentials_errors_rfc_6749_5_2_and_rfc_8707_2() {
    let app = spawn_app(Backend::Embedded).await;
    let (client_id, secret) = service_client(&app, &["openid", "profile", "offline_access"]).await;
    let client = (client_id.as_str(), secret.as_str());
    let error = |body: Value| body["error"].as_str().unwrap_or_default().to_owned();

    for scope in ["openid", "profile offline_access", "email"] {
        let (status, _, body) =
            post(&app, "/token", client, &[("grant_type", "client_credentials"), ("scope", scope)]).await;
        assert_eq!((status, error(body)), (StatusCode::BAD_REQUEST, "invalid_scope".to_owned()), "{scope}");
    }
    for resource in ["api", "/relative", "https://api.example.com/#fragment"] {
        let form = [("grant_type", "client_credentials"), ("resource", resource)];
        let (status, _, body) = post(&app, "/token", client, &form).await;
        assert_eq!((status, error(body)), (StatusCode::BAD_REQUEST, "invalid_target".to_owned()), "{resource}");
    }
    // RFC 8707 §2: `resource` may repeat, and every value must be valid; the token's `aud` lists
    // them all. Any other parameter repeated is invalid_request (RFC 6749 §3.2).
    let two = [
        ("grant_type", "client_credentials"),
        ("resource", "https://api.example.com"),
        ("resource", "https://files.example.com"),
    ];
    let (status, _, body) = post(&app, "/token", client, &two).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        payload(body["access_token"].as_str().unwrap())["aud"],
        json!(["https://api.example.com", "https://files.example.com"])
    );
    let one_bad = [("grant_type", "client_credentials"), ("resource", "https://api.example.com"), ("resource", "api")];
    let (status, _, body) = post(&app, "/token", client, &one_bad).await;
    assert_eq!((status, error(body)), (StatusCode::BAD_REQUEST, "invalid_target".to_owned()));
    let repeated = [("grant_type", "client_credentials"), ("scope", "profile"), ("scope", "profile")];
    let (status, _, body) = post(&app, "/token", client, &repeated).await;
    assert_eq!((status, error(body)), (StatusCode::BAD_REQUEST, "invalid_request".to_owned()));

    // A confidential client not registered for the grant (RFC 6749 §5.2 unauthorized_client).
    let (code_client, code_secret) = create_client(&app, ClientType::Confidential).await;
    let (status, _, body) =
        post(&app, "/token", (&code_client, &code_secret.unwrap()), &[("grant_type", "client_credentials")]).await;
    assert_eq!((status, error(body)), (StatusCode::BAD_REQUEST, "unauthorized_client".to_owned()));
    // A public client may never use it (RFC 6749 §4.4).
    let (public_id, _) = create_client(&app, ClientType::Public).await;
    let form = [("grant_type", "client_credentials"), ("client_id", public_id.as_str())];
    let response = app.http.post(app.url("/token")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error(response.json().await.unwrap()), "unauthorized_client");
    app.stop().await;
}

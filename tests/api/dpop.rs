//! DPoP (RFC 9449): proofs at the token endpoint bind access tokens (`cnf.jkt`, §6) and a public
//! client's refresh tokens (§5) to the client's key; /userinfo takes a bound token only under the
//! `DPoP` scheme with a proof by that key (§7); every check of §4.3 refuses a proof; `dpop_jkt`
//! binds the code (§10); server nonces (§8, §9) round-trip.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ferrid::oauth::{ClientMetadata, ClientType, GrantType, RedirectUri};
use keys::{KeyAlg, PrivateKey, SigningAlg};
use reqwest::{StatusCode, header};
use serde_json::{Map, Value, json};

use crate::{
    browser::Browser,
    helpers::{Backend, TestApp, spawn_app, spawn_app_with},
    oidc::{PASSWORD, REDIRECT, authorize_url, create_user},
};

on_every_backend!(
    a_proof_binds_the_access_and_refresh_tokens_rfc_9449_5,
    every_proof_check_refuses_a_bad_proof_rfc_9449_4_3,
    a_client_registered_for_dpop_must_send_proofs_rfc_9449_5_2,
    dpop_jkt_binds_the_code_to_a_key_rfc_9449_10,
    server_nonces_round_trip_rfc_9449_8_and_9,
    an_opaque_token_keeps_its_binding_in_the_database_rfc_9449_6,
);

#[allow(clippy::disallowed_methods)] // the client signs proofs with real time
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn key(alg: SigningAlg) -> PrivateKey {
    PrivateKey::generate(KeyAlg::Signing(alg)).unwrap()
}

fn thumbprint(key: &PrivateKey) -> String {
    key.public_jwk().thumbprint().unwrap()
}

/// A well-formed proof (RFC 9449 §4.2) for `htm` `htu`, edited by `edit`.
fn proof(key: &PrivateKey, htm: &str, htu: &str, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
    let mut claims = json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": htm, "htu": htu, "iat": now()})
        .as_object()
        .unwrap()
        .clone();
    edit(&mut claims);
    keys::sign_jwt_with_jwk(&key.signing_key().unwrap(), "dpop+jwt", &claims).unwrap()
}

/// A proof for `access_token` at /userinfo (`ath`, §4.2).
fn resource_proof(app: &TestApp, key: &PrivateKey, access_token: &str) -> String {
    let ath = ferrid::oauth::dpop::access_token_hash(access_token);
    proof(key, "GET", &app.url("/userinfo"), |c| drop(c.insert("ath".into(), json!(ath))))
}

/// A hand-made JWS whose signature is never reached: for headers that must be refused first.
fn forged(header: Value, claims: Value) -> String {
    let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.{}", part(header), part(claims), URL_SAFE_NO_PAD.encode("signature"))
}

fn payload(jwt: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

struct Rp {
    id: String,
    secret: Option<String>,
}

async fn register(app: &TestApp, client_type: ClientType, configure: impl FnOnce(&mut ClientMetadata)) -> Rp {
    let mut metadata = ClientMetadata::new("DPoP RP", client_type);
    metadata.redirect_uris.push(RedirectUri::parse(REDIRECT).unwrap());
    metadata.grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
    metadata.first_party = true;
    configure(&mut metadata);
    let (client, secret) = app.state.clients.register(metadata).await.unwrap();
    Rp { id: client.id.as_str().to_owned(), secret: secret.map(|s| s.expose().to_owned()) }
}

/// A confidential client that uses the client_credentials grant only.
async fn service_client(app: &TestApp) -> Rp {
    register(app, ClientType::Confidential, |m| {
        m.grant_types = vec![GrantType::ClientCredentials];
        m.redirect_uris.clear();
        m.allowed_scopes = vec!["profile".into()];
    })
    .await
}

/// POST /token as `rp`, with the proof if any; the status, the body and the `DPoP-Nonce` header.
async fn token(
    app: &TestApp,
    rp: &Rp,
    dpop: Option<&str>,
    form: &[(&str, &str)],
) -> (StatusCode, Value, Option<String>) {
    let mut form = form.to_vec();
    let mut request = app.http.post(app.url("/token"));
    match &rp.secret {
        Some(secret) => request = request.basic_auth(&rp.id, Some(secret)),
        None => form.push(("client_id", &rp.id)),
    }
    if let Some(dpop) = dpop {
        request = request.header("DPoP", dpop);
    }
    let response = request.form(&form).send().await.unwrap();
    let nonce = response.headers().get("dpop-nonce").map(|v| v.to_str().unwrap().to_owned());
    (response.status(), response.json().await.unwrap_or(Value::Null), nonce)
}

/// A code for Ann (with `extra` authorization parameters) and its PKCE verifier.
async fn code(app: &TestApp, rp: &Rp, extra: &[(&str, &str)]) -> (String, String) {
    let (url, verifier) = authorize_url(app, &rp.id, "openid offline_access", extra);
    (Browser::new(&app.address).sign_in(&url, "ann@example.com", PASSWORD).await.code(), verifier)
}

async fn redeem(
    app: &TestApp,
    rp: &Rp,
    dpop: Option<&str>,
    (code, verifier): &(String, String),
) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, body, _) = token(app, rp, dpop, &form).await;
    (status, body)
}

async fn refresh(app: &TestApp, rp: &Rp, dpop: Option<&str>, refresh_token: &str) -> (StatusCode, Value) {
    let (status, body, _) =
        token(app, rp, dpop, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await;
    (status, body)
}

/// GET /userinfo with `authorization` and the proof if any: the status and `WWW-Authenticate`.
async fn userinfo(app: &TestApp, authorization: &str, dpop: Option<&str>) -> (StatusCode, String, Option<String>) {
    let mut request = app.http.get(app.url("/userinfo")).header(header::AUTHORIZATION, authorization);
    if let Some(dpop) = dpop {
        request = request.header("DPoP", dpop);
    }
    let response = request.send().await.unwrap();
    let challenge = response.headers().get(header::WWW_AUTHENTICATE).map_or("", |v| v.to_str().unwrap()).to_owned();
    let nonce = response.headers().get("dpop-nonce").map(|v| v.to_str().unwrap().to_owned());
    (response.status(), challenge, nonce)
}

async fn a_proof_binds_the_access_and_refresh_tokens_rfc_9449_5(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "ann@example.com").await;
    let rp = register(&app, ClientType::Public, |_| {}).await;
    let es256 = key(SigningAlg::ES256);
    let token_url = app.url("/token");

    // §5: the access token is bound (`cnf.jkt`, §6.1) and typed DPoP.
    let (status, body) =
        redeem(&app, &rp, Some(&proof(&es256, "POST", &token_url, |_| {})), &code(&app, &rp, &[]).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(payload(&access)["cnf"]["jkt"], thumbprint(&es256));

    // §7.1: with the DPoP scheme and a proof carrying `ath`, /userinfo answers.
    let (status, challenge, _) =
        userinfo(&app, &format!("DPoP {access}"), Some(&resource_proof(&app, &es256, &access))).await;
    assert_eq!(status, StatusCode::OK, "{challenge}");
    // §7.2: the same token as a bearer token is refused, with a DPoP challenge.
    let (status, challenge, _) = userinfo(&app, &format!("Bearer {access}"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.starts_with("DPoP ") && challenge.contains("error=\"invalid_token\""), "{challenge}");
    // §4.3 item 12: a proof whose `ath` is for another token, or none at all, is refused.
    let (status, challenge, _) =
        userinfo(&app, &format!("DPoP {access}"), Some(&resource_proof(&app, &es256, "another-token"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("error=\"invalid_dpop_proof\""), "{challenge}");
    let (status, challenge, _) = userinfo(&app, &format!("DPoP {access}"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    // §7.1: a proof by another key does not make the token usable.
    let other = key(SigningAlg::EdDSA);
    let (status, _, _) = userinfo(&app, &format!("DPoP {access}"), Some(&resource_proof(&app, &other, &access))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // §5: the public client's refresh token is bound too: no proof, or another key's, is refused
    // and leaves the token usable; a proof by the same key refreshes.
    let refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = refresh(&app, &rp, None, &refresh_token).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")), "{body}");
    let (status, body) = refresh(&app, &rp, Some(&proof(&other, "POST", &token_url, |_| {})), &refresh_token).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")), "{body}");
    let (status, body) = refresh(&app, &rp, Some(&proof(&es256, "POST", &token_url, |_| {})), &refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(payload(body["access_token"].as_str().unwrap())["cnf"]["jkt"], thumbprint(&es256));

    // Discovery advertises the proof algorithms (§5.1).
    let discovery: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    let algs = discovery["dpop_signing_alg_values_supported"].as_array().unwrap();
    assert!(algs.contains(&json!("ES256")) && algs.contains(&json!("EdDSA")) && algs.contains(&json!("RS256")));
}

async fn every_proof_check_refuses_a_bad_proof_rfc_9449_4_3(backend: Backend) {
    let app = spawn_app(backend).await;
    let rp = service_client(&app).await;
    let rsa = key(SigningAlg::RS256);
    let token_url = app.url("/token");
    let grant = [("grant_type", "client_credentials")];
    let refused = |(status, body, _): (StatusCode, Value, Option<String>)| {
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")), "{body}");
    };

    // A good RSA proof binds the client_credentials token; introspection shows the binding (§6.2).
    let good = proof(&rsa, "POST", &token_url, |_| {});
    let (status, body, _) = token(&app, &rp, Some(&good), &grant).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let access = body["access_token"].as_str().unwrap().to_owned();
    let introspect = app.http.post(app.url("/introspect")).basic_auth(&rp.id, rp.secret.as_deref());
    let introspection: Value =
        introspect.form(&[("token", access.as_str())]).send().await.unwrap().json().await.unwrap();
    assert_eq!(introspection["active"], true, "{introspection}");
    assert_eq!(introspection["token_type"], "DPoP");
    assert_eq!(introspection["cnf"]["jkt"], thumbprint(&rsa));

    // Item 10: query and fragment are ignored in htu.
    let (status, body, _) =
        token(&app, &rp, Some(&proof(&rsa, "POST", &format!("{token_url}?x=1#top"), |_| {})), &grant).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // §11.1: a proof is accepted once (its jti is remembered).
    refused(token(&app, &rp, Some(&good), &grant).await);
    // Item 9: htm; item 10: htu; item 11: iat too old or too far ahead, or missing.
    refused(token(&app, &rp, Some(&proof(&rsa, "GET", &token_url, |_| {})), &grant).await);
    refused(token(&app, &rp, Some(&proof(&rsa, "POST", &app.url("/userinfo"), |_| {})), &grant).await);
    let t = now();
    refused(
        token(
            &app,
            &rp,
            Some(&proof(&rsa, "POST", &token_url, |c| drop(c.insert("iat".into(), json!(t - 300))))),
            &grant,
        )
        .await,
    );
    refused(
        token(
            &app,
            &rp,
            Some(&proof(&rsa, "POST", &token_url, |c| drop(c.insert("iat".into(), json!(t + 300))))),
            &grant,
        )
        .await,
    );
    refused(token(&app, &rp, Some(&proof(&rsa, "POST", &token_url, |c| drop(c.remove("iat")))), &grant).await);
    // Item 3: jti is required.
    refused(token(&app, &rp, Some(&proof(&rsa, "POST", &token_url, |c| drop(c.remove("jti")))), &grant).await);
    // Item 4: typ must be dpop+jwt.
    let claims = json!({"jti": "t1", "htm": "POST", "htu": token_url, "iat": now()});
    let plain_jwt = keys::sign_jwt_with_jwk(&rsa.signing_key().unwrap(), "JWT", claims.as_object().unwrap()).unwrap();
    refused(token(&app, &rp, Some(&plain_jwt), &grant).await);
    // Item 5: no `none`, no symmetric algorithm (RFC 8725 §3.1).
    let jwk: Value = serde_json::from_str(&rsa.public_jwk().to_json()).unwrap();
    for alg in ["none", "HS256"] {
        refused(
            token(&app, &rp, Some(&forged(json!({"typ": "dpop+jwt", "alg": alg, "jwk": jwk}), claims.clone())), &grant)
                .await,
        );
    }
    // Item 7: a jwk with private members is refused.
    let mut private = jwk.clone();
    private["d"] = json!("AAAA");
    refused(
        token(
            &app,
            &rp,
            Some(&forged(json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": private}), claims.clone())),
            &grant,
        )
        .await,
    );
    // Item 6: a signature by another key than the header's.
    let other = key(SigningAlg::RS256);
    let swapped = {
        let by_other = proof(&other, "POST", &token_url, |_| {});
        let (_, rest) = by_other.split_once('.').unwrap();
        let header = json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk});
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
    };
    refused(token(&app, &rp, Some(&swapped), &grant).await);
    // Items 1–2: one header holding a JWT.
    refused(token(&app, &rp, Some("not a jwt"), &grant).await);
    let response = app
        .http
        .post(app.url("/token"))
        .basic_auth(&rp.id, rp.secret.as_deref())
        .header("DPoP", proof(&rsa, "POST", &token_url, |_| {}))
        .header("DPoP", proof(&rsa, "POST", &token_url, |_| {}))
        .form(&grant)
        .send()
        .await
        .unwrap();
    refused((response.status(), response.json().await.unwrap(), None));

    // Without a proof, the same client gets a plain bearer token.
    let (status, body, _) = token(&app, &rp, None, &grant).await;
    assert_eq!((status, body["token_type"].as_str()), (StatusCode::OK, Some("Bearer")), "{body}");
}

async fn a_client_registered_for_dpop_must_send_proofs_rfc_9449_5_2(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "ann@example.com").await;
    let rp = register(&app, ClientType::Public, |m| m.dpop_bound_access_tokens = true).await;
    let code = code(&app, &rp, &[]).await;
    let (status, body) = redeem(&app, &rp, None, &code).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")), "{body}");

    let eddsa = key(SigningAlg::EdDSA);
    let code = self::code(&app, &rp, &[]).await;
    let (status, body) = redeem(&app, &rp, Some(&proof(&eddsa, "POST", &app.url("/token"), |_| {})), &code).await;
    assert_eq!((status, body["token_type"].as_str()), (StatusCode::OK, Some("DPoP")), "{body}");

    // Dynamic registration (RFC 7591) takes and returns the metadata (§5.2).
    let metadata =
        json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", "dpop_bound_access_tokens": true});
    let response = app.http.post(app.url("/register")).json(&metadata).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let registered: Value = response.json().await.unwrap();
    assert_eq!(registered["dpop_bound_access_tokens"], true, "{registered}");
}

async fn dpop_jkt_binds_the_code_to_a_key_rfc_9449_10(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "ann@example.com").await;
    let rp = register(&app, ClientType::Public, |_| {}).await;
    let (bound, other) = (key(SigningAlg::ES256), key(SigningAlg::ES256));
    let jkt = thumbprint(&bound);
    let token_url = app.url("/token");

    let code_for_jkt = code(&app, &rp, &[("dpop_jkt", &jkt)]).await;
    let (status, body) = redeem(&app, &rp, Some(&proof(&other, "POST", &token_url, |_| {})), &code_for_jkt).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")), "{body}");
    let code_for_jkt = code(&app, &rp, &[("dpop_jkt", &jkt)]).await;
    let (status, body) = redeem(&app, &rp, None, &code_for_jkt).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")), "{body}");
    let code_for_jkt = code(&app, &rp, &[("dpop_jkt", &jkt)]).await;
    let (status, body) = redeem(&app, &rp, Some(&proof(&bound, "POST", &token_url, |_| {})), &code_for_jkt).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(payload(body["access_token"].as_str().unwrap())["cnf"]["jkt"], jkt);

    // A malformed dpop_jkt is an invalid_request sent back to the client.
    let (url, _) = authorize_url(&app, &rp.id, "openid", &[("dpop_jkt", "short")]);
    let landing = Browser::new(&app.address).follow(url).await;
    assert_eq!(landing.param("error").as_deref(), Some("invalid_request"), "{landing:?}");
}

async fn server_nonces_round_trip_rfc_9449_8_and_9(backend: Backend) {
    let app = spawn_app_with(backend, &[("FERRID_DPOP_NONCE", "true")]).await;
    let rp = service_client(&app).await;
    let es256 = key(SigningAlg::ES256);
    let token_url = app.url("/token");
    let grant = [("grant_type", "client_credentials")];

    // §8: without a nonce, `use_dpop_nonce` and the nonce to use in `DPoP-Nonce`.
    let (status, body, nonce) = token(&app, &rp, Some(&proof(&es256, "POST", &token_url, |_| {})), &grant).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("use_dpop_nonce")), "{body}");
    let nonce = nonce.expect("a DPoP-Nonce header");
    // A made-up nonce is no better.
    let (status, body, _) = token(
        &app,
        &rp,
        Some(&proof(&es256, "POST", &token_url, |c| drop(c.insert("nonce".into(), json!("1.abc"))))),
        &grant,
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("use_dpop_nonce")), "{body}");
    // With the nonce, the token is issued, and the next nonce comes along (§8.2).
    let with_nonce = |n: &str| {
        let n = n.to_owned();
        proof(&es256, "POST", &token_url, move |c| drop(c.insert("nonce".into(), json!(n))))
    };
    let (status, body, next) = token(&app, &rp, Some(&with_nonce(&nonce)), &grant).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(next.is_some());

    // §9: a resource answers a proof without a nonce with a DPoP challenge and a nonce. (The
    // client_credentials token has no openid scope; the proof is judged before the claims.)
    let access = body["access_token"].as_str().unwrap();
    let (status, challenge, resource_nonce) =
        userinfo(&app, &format!("DPoP {access}"), Some(&resource_proof(&app, &es256, access))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.starts_with("DPoP ") && challenge.contains("error=\"use_dpop_nonce\""), "{challenge}");
    assert!(resource_nonce.is_some());
}

async fn an_opaque_token_keeps_its_binding_in_the_database_rfc_9449_6(backend: Backend) {
    let app = spawn_app(backend).await;
    let rp = register(&app, ClientType::Confidential, |m| {
        m.grant_types = vec![GrantType::ClientCredentials];
        m.redirect_uris.clear();
        m.allowed_scopes = vec!["profile".into()];
        m.access_token_format = ferrid::oauth::AccessTokenFormat::Opaque;
    })
    .await;
    let es256 = key(SigningAlg::ES256);
    let proof = proof(&es256, "POST", &app.url("/token"), |_| {});
    let (status, body, _) = token(&app, &rp, Some(&proof), &[("grant_type", "client_credentials")]).await;
    assert_eq!((status, body["token_type"].as_str()), (StatusCode::OK, Some("DPoP")), "{body}");
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(access.split('.').count(), 1, "opaque");

    // §6.2: introspection reads the binding back from the stored record.
    let introspect = app.http.post(app.url("/introspect")).basic_auth(&rp.id, rp.secret.as_deref());
    let introspection: Value = introspect.form(&[("token", access)]).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (introspection["token_type"].as_str(), introspection["cnf"]["jkt"].as_str()),
        (Some("DPoP"), Some(thumbprint(&es256).as_str()))
    );
    // §7.2: and a resource refuses it as a bearer token.
    let (status, challenge, _) = userinfo(&app, &format!("Bearer {access}"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.starts_with("DPoP "), "{challenge}");
}

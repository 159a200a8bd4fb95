//! Dynamic client registration (RFC 7591) and its management protocol (RFC 7592), with the
//! operator's registration policy.

use ferrid::audit::AuditQuery;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};

on_every_backend!(registration_validates_metadata_rfc_7591_2, a_registration_is_managed_with_its_token_rfc_7592);

async fn register(app: &TestApp, metadata: Value, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = app.http.post(app.url("/register")).json(&metadata);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.json().await.unwrap_or(Value::Null))
}

async fn registration_validates_metadata_rfc_7591_2(backend: Backend) {
    let app = spawn_app(backend).await;
    let discovery: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    assert_eq!(discovery["registration_endpoint"], format!("{}/register", app.address), "open on a loopback issuer");

    // RFC 7591 §3.2.1: the client, its credentials and its metadata, with §2's defaults.
    let (status, client) =
        register(&app, json!({"redirect_uris": ["https://app.example/cb"], "client_name": "Photos"}), None).await;
    assert_eq!(status, StatusCode::CREATED, "{client}");
    assert!(client["client_secret"].as_str().unwrap().len() >= 43);
    assert_eq!(client["client_secret_expires_at"], 0);
    assert!(client["registration_access_token"].as_str().unwrap().len() >= 43);
    let id = client["client_id"].as_str().unwrap();
    assert_eq!(client["registration_client_uri"], format!("{}/register/{id}", app.address));
    assert_eq!(client["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(client["grant_types"], json!(["authorization_code"]));
    assert_eq!(client["response_types"], json!(["code"]));
    assert_eq!(client["client_name"], "Photos");

    // A native app (RFC 8252 §7.3: any port on loopback) registers as a public client.
    let native = json!({"redirect_uris": ["http://127.0.0.1:53123/cb"], "token_endpoint_auth_method": "none"});
    let (status, body) = register(&app, native, None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body.get("client_secret").is_none(), "public clients get no secret");

    // A service registers for client_credentials and uses its credentials at once.
    let service = json!({"grant_types": ["client_credentials"], "scope": "profile"});
    let (status, body) = register(&app, service, None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["response_types"], json!([]));
    let token = app
        .http
        .post(app.url("/token"))
        .basic_auth(body["client_id"].as_str().unwrap(), body["client_secret"].as_str())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK);

    // RFC 7591 §3.2.2: what is wrong, and with which error code.
    let key = json!({"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "use": "enc", "alg": "ECDH-ES"});
    let bad = [
        (json!({"redirect_uris": ["https://app.example/cb#x"]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["http://app.example/cb"]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["/relative"]}), "invalid_redirect_uri"),
        (json!({}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "jwks": {"keys": [key]}, "jwks_uri": "https://a.example/jwks"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "id_token_signed_response_alg": "HS256"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "id_token_signed_response_alg": "none"}),
            "invalid_client_metadata",
        ),
        (json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}), "invalid_client_metadata"),
        (json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]}), "invalid_client_metadata"),
        (json!({"grant_types": ["client_credentials"], "response_types": ["code"]}), "invalid_client_metadata"),
        (json!({"redirect_uris": ["https://a.example/cb"], "scope": "openid ferrid:admin"}), "invalid_client_metadata"),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "backchannel_logout_uri": "http://rp.example/bc"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "id_token_encrypted_response_alg": "RSA-OAEP-256"}),
            "invalid_client_metadata",
        ),
    ];
    for (metadata, error) in bad {
        let (status, body) = register(&app, metadata.clone(), None).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some(error)), "{metadata} → {body}");
        assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()));
    }
    app.stop().await;
}

async fn a_registration_is_managed_with_its_token_rfc_7592(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, client) = register(
        &app,
        json!({"redirect_uris": ["https://app.example/cb"], "grant_types": ["authorization_code", "refresh_token"]}),
        None,
    )
    .await;
    let (id, secret) = (client["client_id"].as_str().unwrap(), client["client_secret"].as_str().unwrap());
    let token = client["registration_access_token"].as_str().unwrap();
    let uri = client["registration_client_uri"].as_str().unwrap();

    // §2.1 read: the metadata, never the secret or the token again.
    let read = app.http.get(uri).bearer_auth(token).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(read.headers()["cache-control"], "no-store");
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["redirect_uris"], client["redirect_uris"]);
    assert!(read.get("client_secret").is_none() && read.get("registration_access_token").is_none());
    // A wrong token and an unknown client look the same (§2.1, RFC 6750 §3.1).
    for (url, bearer) in [(uri.to_owned(), "wrong"), (app.url("/register/0123456789abcdef"), token)] {
        let response = app.http.get(url).bearer_auth(bearer).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    }
    assert_eq!(app.http.get(uri).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    // §2.2 update: the complete new metadata, naming the client; a wrong secret is refused.
    let update = json!({"client_id": id, "client_secret": secret, "redirect_uris": ["https://app.example/new"], "client_name": "Renamed"});
    let response = app.http.put(uri).bearer_auth(token).json(&update).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["redirect_uris"], json!(["https://app.example/new"]));
    assert_eq!(updated["client_name"], "Renamed");
    assert_eq!(updated["grant_types"], json!(["authorization_code"]), "omitted metadata takes the defaults");
    for wrong in [
        json!({"client_id": "someone-else", "redirect_uris": ["https://a.example/cb"]}),
        json!({"client_id": id, "client_secret": "nope", "redirect_uris": ["https://a.example/cb"]}),
    ] {
        let response = app.http.put(uri).bearer_auth(token).json(&wrong).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{wrong}");
    }
    let bad = json!({"client_id": id, "redirect_uris": ["https://app.example/cb#frag"]});
    let response = app.http.put(uri).bearer_auth(token).json(&bad).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // The secret still works after the update.
    let introspect = app
        .http
        .post(app.url("/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(introspect.status(), StatusCode::OK);

    // §2.3 delete: gone, with its credentials.
    let deleted = app.http.delete(uri).bearer_auth(token).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.http.get(uri).bearer_auth(token).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let introspect = app
        .http
        .post(app.url("/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(introspect.status(), StatusCode::UNAUTHORIZED);

    // Each change is in the audit log, made by the client itself.
    let query = AuditQuery { client_id: Some(id.to_owned()), limit: 10, ..Default::default() };
    let records = app.state.audit.query(&query).await.unwrap();
    let kinds: Vec<&str> = records.iter().map(|r| r.event.kind.as_str()).collect();
    assert_eq!(kinds, ["client.registration.delete", "client.registration.update", "client.register"]);
    assert!(records.iter().all(|r| r.event.actor.client_id.as_deref() == Some(id) && r.event.actor.user.is_none()));
    app.stop().await;
}

#[tokio::test]
async fn the_operator_decides_who_may_register() {
    let initial = "an-initial-access-token-of-32-chars-or-more";
    let app = spawn_app_with(Backend::Embedded, &[("FERRID_REGISTRATION_TOKEN", initial)]).await;
    let metadata = json!({"redirect_uris": ["https://app.example/cb"]});
    // RFC 7591 §3: the initial access token is a Bearer token (RFC 6750).
    let (status, body) = register(&app, metadata.clone(), None).await;
    assert_eq!((status, body["error"].clone()), (StatusCode::UNAUTHORIZED, json!("invalid_token")));
    assert_eq!(register(&app, metadata.clone(), Some("wrong")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(register(&app, metadata.clone(), Some(initial)).await.0, StatusCode::CREATED);
    app.stop().await;

    let app = spawn_app_with(Backend::Embedded, &[("FERRID_REGISTRATION", "off")]).await;
    assert_eq!(register(&app, metadata, None).await.0, StatusCode::FORBIDDEN);
    let discovery: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    assert!(discovery.get("registration_endpoint").is_none(), "discovery lists only what works");
    app.stop().await;
}

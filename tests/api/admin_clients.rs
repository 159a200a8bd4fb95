//! `/api/admin/clients`: create, read, page, replace, rotate the secret of and delete clients;
//! metadata validated as RFC 7591 registration validates it, and every change audited.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    admin_sessions::{service_token, sign_in},
    helpers::{Backend, TestApp, spawn_app},
    oidc::{REDIRECT, create_user},
};

on_every_backend!(
    an_administrator_manages_a_client_from_creation_to_deletion,
    invalid_metadata_is_refused_with_rfc_7591_3_2_2_codes,
    secrets_rotate_only_for_secret_clients_and_unknown_clients_are_404,
    the_built_in_swagger_client_is_managed_like_any_other,
);

/// An admin API request with `token`: the status and the JSON body (null when there is none).
pub(crate) async fn call(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let request = app.http.request(method.parse().unwrap(), app.url(path)).bearer_auth(token);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn audited(app: &TestApp, token: &str, kind: &str, client_id: &str) -> Value {
    let (status, page) =
        call(app, token, "GET", &format!("/api/admin/audit?kind={kind}&client_id={client_id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "one {kind} record for {client_id}: {page}");
    items[0].clone()
}

async fn token_status(app: &TestApp, client_id: &str, secret: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response =
        app.http.post(app.url("/token")).basic_auth(client_id, Some(secret)).form(form).send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

const CLIENT_CREDENTIALS: &[(&str, &str)] = &[("grant_type", "client_credentials"), ("scope", "email")];

async fn an_administrator_manages_a_client_from_creation_to_deletion(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = service_token(&app).await;
    let body = json!({
        "client_name": "Billing",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "scope": "openid offline_access email ferrid:admin",
        "first_party": true,
        "access_token_lifetime": 600,
        "refresh_origin_policy": "notify",
        "id_token_on_refresh": false,
    });
    let (status, created) = call(&app, &token, "POST", "/api/admin/clients", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(created["scope"], "openid offline_access email ferrid:admin", "an administrator may grant ferrid:admin");
    assert_eq!(created["first_party"], true);
    assert_eq!(created["access_token_lifetime"], 600);
    assert_eq!(created["refresh_origin_policy"], "notify", "the suspicious-refresh policy is an admin setting");
    assert_eq!(created["dpop_bound_access_tokens"], false);
    assert_eq!(created["id_token_on_refresh"], false, "OIDC Core §12.2: the ID token may be left out of refreshes");
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    assert!(created.get("registration_client_uri").is_none(), "not managed through RFC 7592");
    let record = audited(&app, &token, "admin.client.create", &id).await;
    assert!(!record.to_string().contains(&secret), "the audit log never holds the secret");

    let (status, read) = call(&app, &token, "GET", &format!("/api/admin/clients/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["client_name"], "Billing");
    assert!(read.get("client_secret").is_none(), "the secret is shown only once");

    // Keyset paging: limit=2 over the service client, Billing and three more is three pages.
    for name in ["A", "B", "C"] {
        let body = json!({"client_name": name, "redirect_uris": [REDIRECT]});
        assert_eq!(call(&app, &token, "POST", "/api/admin/clients", Some(body)).await.0, StatusCode::CREATED);
    }
    let (mut seen, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/admin/clients?limit=2&cursor={cursor}"),
            None => "/api/admin/clients?limit=2".to_owned(),
        };
        let (status, page) = call(&app, &token, "GET", &path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(!items.is_empty() && items.len() <= 2, "{page}");
        seen.extend(items.iter().map(|c| c["client_id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, seen.len().div_ceil(2), "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "ordered by client_id: {seen:?}");
    assert!(seen.contains(&id) && seen.iter().any(|c| c == "ferrid-app") && pages >= 3, "{seen:?}");
    for bad in ["limit=0", "limit=201", "cursor=not%20an%20id"] {
        let (status, error) = call(&app, &token, "GET", &format!("/api/admin/clients?{bad}"), None).await;
        assert_eq!((status, error["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{bad}");
    }

    // A user's refresh token, to see it die with the client.
    create_user(&app, "ann@example.com").await;
    let credentials = (id.clone(), Some(secret.clone()));
    let (_, user_tokens) = sign_in(&app, &credentials, "ann@example.com", "openid offline_access").await;

    // Full replacement: omitted settings return to their defaults; the secret is kept.
    let body = json!({
        "client_name": "Billing v2",
        "redirect_uris": [REDIRECT, "https://billing.example/cb"],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "scope": "openid offline_access email",
    });
    let (status, replaced) = call(&app, &token, "PUT", &format!("/api/admin/clients/{id}"), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["client_name"], "Billing v2");
    assert_eq!(replaced["first_party"], false);
    assert!(replaced.get("access_token_lifetime").is_none() && replaced.get("client_secret").is_none());
    let fields = audited(&app, &token, "admin.client.update", &id).await["details"]["fields"].clone();
    for field in ["client_name", "redirect_uris", "scope", "first_party", "access_token_lifetime"] {
        assert!(fields.as_array().unwrap().iter().any(|f| f == field), "{field} not in {fields}");
    }
    assert_eq!(token_status(&app, &id, &secret, CLIENT_CREDENTIALS).await.0, StatusCode::OK, "secret kept");

    // Rotation: the old secret is refused at once (RFC 6749 §5.2 invalid_client), the new works.
    let (status, rotated) = call(&app, &token, "POST", &format!("/api/admin/clients/{id}/secret"), None).await;
    assert_eq!(status, StatusCode::OK);
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    let (status, refused) = token_status(&app, &id, &secret, CLIENT_CREDENTIALS).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    assert_eq!(token_status(&app, &id, &new_secret, CLIENT_CREDENTIALS).await.0, StatusCode::OK);
    let record = audited(&app, &token, "admin.client.rotate_secret", &id).await;
    assert!(!record.to_string().contains(&new_secret));

    // Deletion: gone, and its tokens with it (RFC 7592 §2.3 semantics).
    let access_token = user_tokens["access_token"].as_str().unwrap();
    let userinfo = || app.http.get(app.url("/userinfo")).bearer_auth(access_token).send();
    assert_eq!(userinfo().await.unwrap().status(), StatusCode::OK);
    let (status, _) = call(&app, &token, "DELETE", &format!("/api/admin/clients/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(call(&app, &token, "GET", &format!("/api/admin/clients/{id}"), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(call(&app, &token, "DELETE", &format!("/api/admin/clients/{id}"), None).await.0, StatusCode::NOT_FOUND);
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", user_tokens["refresh_token"].as_str().unwrap())];
    assert!(token_status(&app, &id, &new_secret, &refresh).await.0.is_client_error());
    let digest = keys::OpaqueSecret::from_presented(refresh[1].1.to_owned()).digest();
    assert!(app.state.refresh_tokens.find(&digest).await.unwrap().is_none(), "the family went with the client");
    assert_eq!(userinfo().await.unwrap().status(), StatusCode::UNAUTHORIZED, "its access tokens stop working");
    let record = audited(&app, &token, "admin.client.delete", &id).await;
    assert_eq!(record["details"]["client_name"], "Billing v2");
    app.stop().await;
}

async fn invalid_metadata_is_refused_with_rfc_7591_3_2_2_codes(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = service_token(&app).await;
    let key = json!({"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "use": "sig"});
    let cases = [
        (json!({"redirect_uris": ["/relative/cb"]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["https://app.example/cb#fragment"]}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [key]}, "jwks_uri": "https://app.example/jwks"}),
            "invalid_client_metadata",
        ),
        (json!({"redirect_uris": [REDIRECT], "jwks_uri": "not a url"}), "invalid_client_metadata"),
        (json!({"redirect_uris": [REDIRECT], "access_token_format": "paseto"}), "invalid_client_metadata"),
        (json!({"redirect_uris": [REDIRECT], "code_lifetime": 3600}), "invalid_client_metadata"),
    ];
    for (body, code) in cases {
        let (status, error) = call(&app, &token, "POST", "/api/admin/clients", Some(body.clone())).await;
        assert_eq!((status, error["error"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{body}");
    }
    // Replacement is validated the same way, and leaves the client as it was.
    let (_, created) =
        call(&app, &token, "POST", "/api/admin/clients", Some(json!({"redirect_uris": [REDIRECT]}))).await;
    let id = created["client_id"].as_str().unwrap();
    let bad = json!({"redirect_uris": ["https://app.example/cb#f"]});
    let (status, error) = call(&app, &token, "PUT", &format!("/api/admin/clients/{id}"), Some(bad)).await;
    assert_eq!((status, error["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_redirect_uri")));
    let (_, read) = call(&app, &token, "GET", &format!("/api/admin/clients/{id}"), None).await;
    assert_eq!(read["redirect_uris"], json!([REDIRECT]));
    // A private_key_jwt client is created with its keys and no secret.
    let body = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": "https://app.example/jwks"});
    let (status, created) = call(&app, &token, "POST", "/api/admin/clients", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created.get("client_secret").is_none());
    assert_eq!(created["jwks_uri"], "https://app.example/jwks");
    app.stop().await;
}

async fn secrets_rotate_only_for_secret_clients_and_unknown_clients_are_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = service_token(&app).await;
    let public = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"});
    let (_, created) = call(&app, &token, "POST", "/api/admin/clients", Some(public)).await;
    let id = created["client_id"].as_str().unwrap();
    assert!(created.get("client_secret").is_none());
    let (status, error) = call(&app, &token, "POST", &format!("/api/admin/clients/{id}/secret"), None).await;
    assert_eq!((status, error["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));

    let body = json!({"redirect_uris": [REDIRECT]});
    for unknown in ["0123456789abcdef0123456789abcdef", "not%20an%20id"] {
        for (method, path, body) in [
            ("GET", format!("/api/admin/clients/{unknown}"), None),
            ("PUT", format!("/api/admin/clients/{unknown}"), Some(body.clone())),
            ("DELETE", format!("/api/admin/clients/{unknown}"), None),
            ("POST", format!("/api/admin/clients/{unknown}/secret"), None),
        ] {
            let (status, error) = call(&app, &token, method, &path, body).await;
            assert_eq!(
                (status, error["error"].as_str()),
                (StatusCode::NOT_FOUND, Some("not_found")),
                "{method} {path}"
            );
        }
    }
    app.stop().await;
}

async fn the_built_in_swagger_client_is_managed_like_any_other(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = service_token(&app).await;
    let (status, swagger) = call(&app, &token, "GET", "/api/admin/clients/ferrid-swagger", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(swagger["token_endpoint_auth_method"], "none");
    let (status, _) = call(&app, &token, "POST", "/api/admin/clients/ferrid-swagger/secret", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a public client has no secret");
    let (status, _) = call(&app, &token, "DELETE", "/api/admin/clients/ferrid-swagger", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Nothing else depends on it: the page still loads and the admin API still answers.
    assert_eq!(app.get("/swagger").await.status(), StatusCode::OK);
    assert_eq!(call(&app, &token, "GET", "/api/admin/clients", None).await.0, StatusCode::OK);
    app.stop().await;
}

//! The admin API for roles, groups and permissions: create, list with keyset paging, read,
//! rename and describe, delete (with their links), and the links to users and between groups and
//! permissions, which feed the `roles` scope's claims. Every change is audited.

use ferrid::{accounts::UserId, oauth::GrantType};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    admin_sessions::{register, service_token, sign_in, user_id},
    admin_users::{audited, call},
    helpers::{Backend, spawn_app},
    oidc::create_user,
};

on_every_backend!(
    roles_groups_and_permissions_are_created_listed_renamed_and_deleted,
    assignments_make_up_a_users_authorization_and_go_with_deletions,
);

async fn roles_groups_and_permissions_are_created_listed_renamed_and_deleted(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = service_token(&app).await;
    for (kind, plural) in [("role", "roles"), ("group", "groups"), ("permission", "permissions")] {
        let base = format!("/api/admin/{plural}");
        for name in ["a:one", "b.two", "c-three"] {
            let body = json!({ "name": name, "description": format!("The {name}") });
            let (status, created) = call(&app, &token, "POST", &base, Some(body)).await;
            assert_eq!(status, StatusCode::CREATED, "{kind}");
            assert_eq!(
                (created["name"].as_str(), created["description"].as_str()),
                (Some(name), Some(&*format!("The {name}")))
            );
        }
        let (status, error) = call(&app, &token, "POST", &base, Some(json!({ "name": "a:one" }))).await;
        assert_eq!((status, error["error"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{kind}");
        for bad in ["", "a b", "ä"] {
            let (status, error) = call(&app, &token, "POST", &base, Some(json!({ "name": bad }))).await;
            assert_eq!(
                (status, error["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_request")),
                "{bad:?}"
            );
        }

        // Three pages of one, by id (creation order: ids are UUIDv7).
        let mut names = Vec::new();
        let mut path = format!("{base}?limit=1");
        loop {
            let (status, page) = call(&app, &token, "GET", &path, None).await;
            assert_eq!(status, StatusCode::OK);
            names.extend(page["items"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() {
                Some(cursor) => path = format!("{base}?limit=1&cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(names, ["a:one", "b.two", "c-three"], "{kind}");
        for query in ["limit=0", "limit=201", "cursor=x"] {
            assert_eq!(call(&app, &token, "GET", &format!("{base}?{query}"), None).await.0, StatusCode::BAD_REQUEST);
        }

        let (status, read) = call(&app, &token, "GET", &format!("{base}/b.two"), None).await;
        assert_eq!((status, read["description"].as_str()), (StatusCode::OK, Some("The b.two")));
        for missing in ["nope", "not%20valid"] {
            let (status, error) = call(&app, &token, "GET", &format!("{base}/{missing}"), None).await;
            assert_eq!((status, error["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{missing}");
        }

        let rename = json!({ "name": "b.renamed", "description": null });
        let (status, renamed) = call(&app, &token, "PATCH", &format!("{base}/b.two"), Some(rename)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!((renamed["name"].as_str(), &renamed["description"]), (Some("b.renamed"), &Value::Null));
        assert_eq!(call(&app, &token, "GET", &format!("{base}/b.two"), None).await.0, StatusCode::NOT_FOUND);
        for (path, body, expected) in [
            (format!("{base}/b.renamed"), json!({ "name": "a:one" }), StatusCode::CONFLICT),
            (format!("{base}/b.renamed"), json!({ "name": "no way" }), StatusCode::BAD_REQUEST),
            (format!("{base}/nope"), json!({ "description": "x" }), StatusCode::NOT_FOUND),
            (format!("{base}/nope"), json!({}), StatusCode::NOT_FOUND),
            (format!("{base}/a:one"), json!({}), StatusCode::OK),
        ] {
            assert_eq!(call(&app, &token, "PATCH", &path, Some(body.clone())).await.0, expected, "{path} {body}");
        }

        assert_eq!(call(&app, &token, "DELETE", &format!("{base}/c-three"), None).await.0, StatusCode::NO_CONTENT);
        assert_eq!(call(&app, &token, "DELETE", &format!("{base}/c-three"), None).await.0, StatusCode::NOT_FOUND);

        for (action, count) in [("create", 3), ("update", 1), ("delete", 1)] {
            let records = audited(&app, &token, &format!("admin.{kind}.{action}"), None).await;
            assert_eq!(records.len(), count, "{kind} {action}");
        }
        let updated = audited(&app, &token, &format!("admin.{kind}.update"), None).await;
        assert_eq!(updated[0]["target"], format!("{kind}:b.two"));
        assert_eq!(updated[0]["details"], json!({ "fields": ["name", "description"], "name": "b.renamed" }));
    }
    app.stop().await;
}

async fn assignments_make_up_a_users_authorization_and_go_with_deletions(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "ann@example.com").await;
    let ann = user_id(&app, "ann@example.com").await;
    let ann_id = UserId(uuid::Uuid::parse_str(&ann).unwrap());
    let token = service_token(&app).await;
    for (plural, name) in [("roles", "auditor"), ("groups", "billing"), ("permissions", "invoices:read")] {
        let (status, _) =
            call(&app, &token, "POST", &format!("/api/admin/{plural}"), Some(json!({ "name": name }))).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let links = [
        format!("/api/admin/users/{ann}/roles/auditor"),
        format!("/api/admin/users/{ann}/groups/billing"),
        "/api/admin/groups/billing/permissions/invoices:read".to_owned(),
    ];
    // PUT is idempotent.
    for _ in 0..2 {
        for link in &links {
            assert_eq!(call(&app, &token, "PUT", link, None).await.0, StatusCode::NO_CONTENT, "{link}");
        }
    }
    let (_, read) = call(&app, &token, "GET", &format!("/api/admin/users/{ann}"), None).await;
    assert_eq!(
        (&read["roles"], &read["groups"], &read["permissions"]),
        (&json!(["auditor"]), &json!(["billing"]), &json!(["invoices:read"]))
    );
    let authorization = app.state.access_control.authorization_of(ann_id).await.unwrap();
    assert_eq!(authorization.permissions, ["invoices:read"]);
    // The next sign-in's `roles` scope claims carry them.
    let client = register(&app, vec![GrantType::AuthorizationCode], &["openid", "roles"]).await;
    let (_, tokens) = sign_in(&app, &client, "ann@example.com", "openid roles").await;
    let access_token = tokens["access_token"].as_str().unwrap();
    let response = app.http.get(app.url("/userinfo")).bearer_auth(access_token).send().await.unwrap();
    let claims: Value = response.json().await.unwrap();
    assert_eq!((&claims["roles"], &claims["groups"]), (&json!(["auditor"]), &json!(["billing"])));
    assert_eq!(claims["permissions"], json!(["invoices:read"]));
    let (status, members) = call(&app, &token, "GET", "/api/admin/groups/billing/members", None).await;
    assert_eq!((status, members), (StatusCode::OK, json!({ "items": [{ "user_id": ann }] })));
    assert_eq!(call(&app, &token, "GET", "/api/admin/groups/nope/members", None).await.0, StatusCode::NOT_FOUND);

    let unknown = uuid::Uuid::now_v7();
    for (method, path) in [
        ("PUT", format!("/api/admin/users/{unknown}/roles/auditor")),
        ("PUT", "/api/admin/users/not-a-uuid/roles/auditor".to_owned()),
        ("PUT", format!("/api/admin/users/{ann}/roles/nope")),
        ("PUT", format!("/api/admin/users/{ann}/groups/nope")),
        ("DELETE", format!("/api/admin/users/{unknown}/groups/billing")),
        ("PUT", "/api/admin/groups/nope/permissions/invoices:read".to_owned()),
        ("PUT", "/api/admin/groups/billing/permissions/nope".to_owned()),
        ("DELETE", "/api/admin/groups/billing/permissions/nope".to_owned()),
    ] {
        let (status, error) = call(&app, &token, method, &path, None).await;
        assert_eq!((status, error["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{method} {path}");
    }

    let assigned = audited(&app, &token, "admin.role.assign", Some(&ann)).await;
    assert_eq!((assigned.len(), assigned[0]["target"].as_str()), (2, Some("role:auditor")));
    assert_eq!(audited(&app, &token, "admin.group.add_member", Some(&ann)).await.len(), 2);
    let granted = audited(&app, &token, "admin.permission.grant", None).await;
    assert_eq!(granted[0]["details"], json!({ "group": "billing" }));

    // Deleting a group takes its memberships and grants with it.
    assert_eq!(call(&app, &token, "DELETE", "/api/admin/groups/billing", None).await.0, StatusCode::NO_CONTENT);
    let authorization = app.state.access_control.authorization_of(ann_id).await.unwrap();
    assert!(authorization.groups.is_empty() && authorization.permissions.is_empty());

    // Taking links away is idempotent too.
    for _ in 0..2 {
        let (status, _) = call(&app, &token, "DELETE", &format!("/api/admin/users/{ann}/roles/auditor"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    assert!(app.state.access_control.authorization_of(ann_id).await.unwrap().roles.is_empty());
    assert_eq!(audited(&app, &token, "admin.role.unassign", Some(&ann)).await.len(), 2);
    app.stop().await;
}

//! Roles, groups and permissions on every backend, the `roles` scope claims they feed
//! (OIDC Core §5.4), and their CLI.

use std::process::{Command, Output, Stdio};

use ferrid::{
    accounts::{
        AccessControlError, Email, GroupName, NewUser, PermissionName, RoleName, User, UserAuthorization, UserId,
    },
    app::AppState,
    oauth::{Scope, user_claims},
};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestResources, spawn_app};

on_every_backend!(
    authorization_is_sorted_and_deduplicated_across_groups,
    links_are_idempotent_and_removable,
    names_are_unique_per_kind,
    linking_unknown_names_or_users_is_not_found,
    claims_of_a_stored_user_oidc_core_5_4,
    role_cli_creates_and_assigns,
);

fn role(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}

fn group(name: &str) -> GroupName {
    GroupName::parse(name).unwrap()
}

fn permission(name: &str) -> PermissionName {
    PermissionName::parse(name).unwrap()
}

async fn create_user(state: &AppState, email: &str, name: Option<&str>) -> User {
    let new = NewUser { email: Email::parse(email).unwrap(), name: name.map(str::to_owned) };
    state.accounts.create_user(new, None).await.unwrap()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

async fn authorization_is_sorted_and_deduplicated_across_groups(backend: Backend) {
    let app = spawn_app(backend).await;
    let access = &app.state.access_control;
    let ann = create_user(&app.state, "ann@example.com", None).await;
    let bob = create_user(&app.state, "bob@example.com", None).await;

    for name in ["viewer", "Admin", "auditor"] {
        access.create_role(&role(name), None).await.unwrap();
    }
    for name in ["ops", "billing", "empty"] {
        access.create_group(&group(name), Some("a group")).await.unwrap();
    }
    for name in ["invoices:read", "invoices:write", "servers:reboot"] {
        access.create_permission(&permission(name), None).await.unwrap();
    }
    // Both of Ann's groups grant invoices:read; it is listed once.
    access.grant_permission(&group("billing"), &permission("invoices:write")).await.unwrap();
    access.grant_permission(&group("billing"), &permission("invoices:read")).await.unwrap();
    access.grant_permission(&group("ops"), &permission("invoices:read")).await.unwrap();
    access.grant_permission(&group("ops"), &permission("servers:reboot")).await.unwrap();

    access.assign_role(ann.id, &role("viewer")).await.unwrap();
    access.assign_role(ann.id, &role("Admin")).await.unwrap();
    access.add_to_group(ann.id, &group("ops")).await.unwrap();
    access.add_to_group(ann.id, &group("billing")).await.unwrap();
    access.add_to_group(ann.id, &group("empty")).await.unwrap();
    access.assign_role(bob.id, &role("auditor")).await.unwrap();

    assert_eq!(
        access.authorization_of(ann.id).await.unwrap(),
        UserAuthorization {
            // Byte order on every backend: upper case first.
            roles: strings(&["Admin", "viewer"]),
            groups: strings(&["billing", "empty", "ops"]),
            permissions: strings(&["invoices:read", "invoices:write", "servers:reboot"]),
            // Per group, for the user's own profile; a group without permissions is not listed.
            group_permissions: [
                ("billing".to_owned(), strings(&["invoices:read", "invoices:write"])),
                ("ops".to_owned(), strings(&["invoices:read", "servers:reboot"])),
            ]
            .into(),
        }
    );
    assert_eq!(
        access.authorization_of(bob.id).await.unwrap(),
        UserAuthorization { roles: strings(&["auditor"]), ..UserAuthorization::default() }
    );
    assert_eq!(access.authorization_of(UserId::generate()).await.unwrap(), UserAuthorization::default());
}

async fn links_are_idempotent_and_removable(backend: Backend) {
    let app = spawn_app(backend).await;
    let access = &app.state.access_control;
    let ann = create_user(&app.state, "ann@example.com", None).await;
    access.create_role(&role("admin"), None).await.unwrap();
    access.create_group(&group("ops"), None).await.unwrap();
    access.create_permission(&permission("deploy"), None).await.unwrap();

    for _ in 0..2 {
        access.assign_role(ann.id, &role("admin")).await.unwrap();
        access.add_to_group(ann.id, &group("ops")).await.unwrap();
        access.grant_permission(&group("ops"), &permission("deploy")).await.unwrap();
    }
    let granted = access.authorization_of(ann.id).await.unwrap();
    assert_eq!(
        granted,
        UserAuthorization {
            roles: strings(&["admin"]),
            groups: strings(&["ops"]),
            permissions: strings(&["deploy"]),
            group_permissions: [("ops".to_owned(), strings(&["deploy"]))].into(),
        }
    );

    assert!(access.revoke_permission(&group("ops"), &permission("deploy")).await.unwrap());
    assert!(!access.revoke_permission(&group("ops"), &permission("deploy")).await.unwrap());
    assert_eq!(access.authorization_of(ann.id).await.unwrap().permissions, Vec::<String>::new());

    assert!(access.remove_from_group(ann.id, &group("ops")).await.unwrap());
    assert!(!access.remove_from_group(ann.id, &group("ops")).await.unwrap());
    assert!(access.remove_role(ann.id, &role("admin")).await.unwrap());
    assert!(!access.remove_role(ann.id, &role("admin")).await.unwrap());
    assert_eq!(access.authorization_of(ann.id).await.unwrap(), UserAuthorization::default());
}

async fn names_are_unique_per_kind(backend: Backend) {
    let app = spawn_app(backend).await;
    let access = &app.state.access_control;
    access.create_role(&role("admin"), None).await.unwrap();
    let again = access.create_role(&role("admin"), Some("another")).await.unwrap_err();
    assert!(matches!(again, AccessControlError::NameTaken(_)), "{again:?}");
    access.create_group(&group("ops"), None).await.unwrap();
    assert!(matches!(access.create_group(&group("ops"), None).await, Err(AccessControlError::NameTaken(_))));
    access.create_permission(&permission("deploy"), None).await.unwrap();
    assert!(matches!(
        access.create_permission(&permission("deploy"), None).await,
        Err(AccessControlError::NameTaken(_))
    ));
    // Each kind has its own namespace.
    access.create_group(&group("admin"), None).await.unwrap();
    access.create_permission(&permission("admin"), None).await.unwrap();
}

async fn linking_unknown_names_or_users_is_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let access = &app.state.access_control;
    let ann = create_user(&app.state, "ann@example.com", None).await;
    access.create_role(&role("admin"), None).await.unwrap();
    access.create_group(&group("ops"), None).await.unwrap();

    let missing = |result: Result<(), AccessControlError>, what: &str| match result {
        Err(AccessControlError::NotFound(found)) => assert_eq!(found, what),
        other => panic!("expected no such {what}, got {other:?}"),
    };
    missing(access.assign_role(ann.id, &role("ghost")).await, "role");
    missing(access.add_to_group(ann.id, &group("ghost")).await, "group");
    missing(access.grant_permission(&group("ops"), &permission("ghost")).await, "permission");
    // A user id that was never stored is rejected by the foreign key, not silently linked.
    missing(access.assign_role(UserId::generate(), &role("admin")).await, "user");
    missing(access.add_to_group(UserId::generate(), &group("ops")).await, "user");
}

async fn claims_of_a_stored_user_oidc_core_5_4(backend: Backend) {
    let app = spawn_app(backend).await;
    let access = &app.state.access_control;
    let ann = create_user(&app.state, "Ann.Lee@Example.com", Some("Ann Lee")).await;
    access.create_role(&role("admin"), None).await.unwrap();
    access.create_group(&group("ops"), None).await.unwrap();
    access.create_permission(&permission("servers:reboot"), None).await.unwrap();
    access.assign_role(ann.id, &role("admin")).await.unwrap();
    access.add_to_group(ann.id, &group("ops")).await.unwrap();
    access.grant_permission(&group("ops"), &permission("servers:reboot")).await.unwrap();

    // Read back as a grant would: the stored user and their authorization.
    let stored = app.state.accounts.find_by_email(&Email::parse("ann.lee@example.com").unwrap()).await.unwrap();
    let authorization = access.authorization_of(stored.id).await.unwrap();
    let scope = Scope::parse("openid profile email roles").unwrap();
    let claims = Value::Object(user_claims(&stored, Some(&authorization), &scope));
    assert_eq!(
        claims,
        json!({
            "sub": ann.id.to_string(),
            "name": "Ann Lee",
            "updated_at": stored.updated_at.timestamp(),
            "email": "Ann.Lee@Example.com",
            "email_verified": true,
            "roles": ["admin"],
            "groups": ["ops"],
            "permissions": ["servers:reboot"],
        })
    );
}

fn ferrid(resources: &TestResources, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferrid"));
    command.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (key, value) in resources.env() {
        command.env(key, value);
    }
    command.current_dir(&resources.data_dir).stdin(Stdio::null());
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "ferrid failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

async fn role_cli_creates_and_assigns(backend: Backend) {
    let resources = TestResources::create(backend).await;
    stdout(&ferrid(&resources, &["user", "create", "--email", "ann@example.com", "--no-password"]));

    let created = stdout(&ferrid(&resources, &["role", "create", "admin", "--description", "Full access"]));
    assert!(created.contains("name:    admin"), "{created}");
    let duplicate = ferrid(&resources, &["role", "create", "admin"]);
    assert!(!duplicate.status.success());
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("already taken"));
    let invalid = ferrid(&resources, &["role", "create", "not a name"]);
    assert!(!invalid.status.success(), "names are validated before anything is stored");

    let assigned = stdout(&ferrid(&resources, &["role", "assign", "--email", "ANN@example.com", "--role", "admin"]));
    assert_eq!(assigned.trim(), "assigned role admin to ann@example.com");
    // Idempotent from the CLI too.
    stdout(&ferrid(&resources, &["role", "assign", "--email", "ann@example.com", "--role", "admin"]));
    let unknown = ferrid(&resources, &["role", "assign", "--email", "ann@example.com", "--role", "ghost"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no such role"));

    stdout(&ferrid(&resources, &["group", "create", "ops"]));
    stdout(&ferrid(&resources, &["group", "add", "--email", "ann@example.com", "--group", "ops"]));
    stdout(&ferrid(&resources, &["permission", "create", "servers:reboot"]));
    let granted =
        stdout(&ferrid(&resources, &["permission", "grant", "--group", "ops", "--permission", "servers:reboot"]));
    assert_eq!(granted.trim(), "granted permission servers:reboot to group ops");

    let state = AppState::start(resources.config(&[])).await.unwrap();
    let ann = state.accounts.find_by_email(&Email::parse("ann@example.com").unwrap()).await.unwrap();
    assert_eq!(
        state.access_control.authorization_of(ann.id).await.unwrap(),
        UserAuthorization {
            roles: strings(&["admin"]),
            groups: strings(&["ops"]),
            permissions: strings(&["servers:reboot"]),
            group_permissions: [("ops".to_owned(), strings(&["servers:reboot"]))].into(),
        }
    );
    state.database.close().await;
}

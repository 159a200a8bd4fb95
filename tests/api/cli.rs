//! The `ferrid` binary: client and user administration, migrations, configuration errors,
//! `openapi`, and graceful shutdown on SIGTERM.

use std::{
    io::Write,
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use ferrid::{accounts::Email, config::Sensitive, store::Database};
use sea_orm::{ConnectionTrait, Statement};

use crate::helpers::{Backend, TestResources};

on_every_backend!(
    client_create_then_show_round_trips_and_the_secret_is_only_a_digest,
    client_create_takes_a_jwks_uri_validated_as_registration_does,
    user_administration,
    command_line_changes_are_audited
);

fn ferrid(resources: &TestResources, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferrid"));
    command.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (key, value) in resources.env() {
        command.env(key, value);
    }
    command.current_dir(&resources.data_dir).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "ferrid failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn field<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

async fn client_create_then_show_round_trips_and_the_secret_is_only_a_digest(backend: Backend) {
    let resources = TestResources::create(backend).await;
    let created = ferrid(
        &resources,
        &[
            "client",
            "create",
            "--name",
            "Billing",
            "--redirect-uri",
            "https://billing.example/cb",
            "--scope",
            "openid",
            "--backchannel-logout-uri",
            "https://billing.example/backchannel",
            "--backchannel-logout-session-required",
        ],
        None,
    );
    let created_text = stdout(&created);
    let client_id = field(&created_text, "client_id").to_owned();
    let secret = field(&created_text, "client_secret").to_owned();
    assert!(secret.len() >= 43, "at least 256 bits");
    assert!(!String::from_utf8_lossy(&created.stderr).contains(&secret), "the secret is never logged");

    let shown = ferrid(&resources, &["client", "show", &client_id], None);
    let shown_text = stdout(&shown);
    assert_eq!(field(&shown_text, "client_id"), client_id);
    assert_eq!(field(&shown_text, "client_name"), "Billing");
    assert_eq!(field(&shown_text, "client_type"), "confidential");
    assert_eq!(field(&shown_text, "redirect_uris"), "https://billing.example/cb");
    assert_eq!(field(&shown_text, "scope"), "openid");
    assert_eq!(field(&shown_text, "backchannel_logout_uri"), "https://billing.example/backchannel");
    assert_eq!(field(&shown_text, "backchannel_logout_session_required"), "true");
    assert!(!shown_text.contains(&secret) && !String::from_utf8_lossy(&shown.stderr).contains(&secret));
    assert_eq!(field(&shown_text, "access_token_format"), "jwt");
    assert_eq!(field(&shown_text, "access_token_lifetime"), "default");

    // Token settings: format and per-client lifetimes over the global defaults.
    let tuned = ferrid(
        &resources,
        &[
            "client",
            "create",
            "--name",
            "Reports",
            "--redirect-uri",
            "https://reports.example/cb",
            "--access-token-format",
            "opaque",
            "--access-token-lifetime",
            "300",
            "--code-lifetime",
            "30",
            "--refresh-token-reuse-grace",
            "10",
            "--refresh-origin-policy",
            "notify",
            "--dpop-bound-access-tokens",
            "--id-token-on-refresh",
            "false",
        ],
        None,
    );
    let tuned_text = stdout(&tuned);
    assert_eq!(field(&tuned_text, "access_token_format"), "opaque");
    assert_eq!(field(&tuned_text, "access_token_lifetime"), "300s");
    assert_eq!(field(&tuned_text, "code_lifetime"), "30s");
    assert_eq!(field(&tuned_text, "refresh_token_lifetime"), "default");
    assert_eq!(field(&tuned_text, "refresh_token_reuse_grace"), "10s");
    assert_eq!(field(&tuned_text, "refresh_origin_policy"), "notify");
    assert_eq!(field(&tuned_text, "dpop_bound_access_tokens"), "true");
    assert_eq!(field(&tuned_text, "id_token_on_refresh"), "false");
    let refused = ferrid(
        &resources,
        &["client", "create", "--name", "Bad", "--redirect-uri", "https://x.example/cb", "--code-lifetime", "3600"],
        None,
    );
    assert!(!refused.status.success(), "RFC 6749 §4.1.2: at most 10 minutes");

    // At rest: only a digest that matches the secret, never the secret itself.
    let database = Database::connect(&Sensitive::new(resources.database_url.clone()), 1).await.unwrap();
    let connection = database.connection();
    let backend_kind = connection.get_database_backend();
    let row = connection
        .query_one_raw(Statement::from_sql_and_values(
            backend_kind,
            match backend_kind {
                sea_orm::DbBackend::Sqlite => "SELECT secret_digest FROM clients WHERE id = ?",
                _ => "SELECT secret_digest FROM clients WHERE id = $1",
            },
            [client_id.clone().into()],
        ))
        .await
        .unwrap()
        .unwrap();
    let digest: String = row.try_get("", "secret_digest").unwrap();
    assert_ne!(digest, secret);
    assert!(keys::SecretDigest::from_stored(digest).matches(&keys::OpaqueSecret::from_presented(secret.clone())));
    database.close().await;
    if backend == Backend::Embedded {
        let file = std::fs::read(resources.data_dir.join("ferrid.db")).unwrap();
        let wal = std::fs::read(resources.data_dir.join("ferrid.db-wal")).unwrap_or_default();
        for bytes in [file, wal] {
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "secret found in the database file");
        }
    }

    let listed = stdout(&ferrid(&resources, &["client", "list"], None));
    assert!(listed.contains(&client_id) && listed.contains("Billing"));

    let public = stdout(&ferrid(
        &resources,
        &["client", "create", "--public", "--name", "SPA", "--redirect-uri", "http://127.0.0.1:5173/cb"],
        None,
    ));
    assert!(!public.contains("client_secret:"), "public clients get no secret");
    assert_eq!(field(&public, "token_endpoint_auth_method"), "none");

    stdout(&ferrid(&resources, &["client", "delete", &client_id], None));
    let missing = ferrid(&resources, &["client", "show", &client_id], None);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such client"));

    let invalid =
        ferrid(&resources, &["client", "create", "--name", "Bad", "--redirect-uri", "http://evil.example/cb"], None);
    assert!(!invalid.status.success());
    assert!(String::from_utf8_lossy(&invalid.stderr).contains("invalid_redirect_uri"));
}

// RFC 7591 §2: `jwks_uri` and `jwks` are mutually exclusive; the URI must be absolute.
async fn client_create_takes_a_jwks_uri_validated_as_registration_does(backend: Backend) {
    let resources = TestResources::create(backend).await;
    let create = |extra: &[&str]| {
        let mut args = vec!["client", "create", "--name", "Signer", "--redirect-uri", "https://signer.example/cb"];
        args.extend(["--auth-method", "private_key_jwt"]);
        args.extend(extra);
        ferrid(&resources, &args, None)
    };
    let created = stdout(&create(&["--jwks-uri", "https://signer.example/jwks.json"]));
    assert_eq!(field(&created, "jwks_uri"), "https://signer.example/jwks.json");
    assert!(!created.contains("client_secret:"), "private_key_jwt clients get no secret");
    let shown = stdout(&ferrid(&resources, &["client", "show", field(&created, "client_id")], None));
    assert_eq!(field(&shown, "jwks_uri"), "https://signer.example/jwks.json");

    let relative = create(&["--jwks-uri", "/jwks.json"]);
    assert!(!relative.status.success());
    assert!(String::from_utf8_lossy(&relative.stderr).contains("jwks_uri"));
    let jwks_file = resources.data_dir.join("jwks.json");
    std::fs::write(&jwks_file, r#"{"keys": []}"#).unwrap();
    let both = create(&["--jwks-uri", "https://signer.example/jwks.json", "--jwks-file", jwks_file.to_str().unwrap()]);
    assert!(!both.status.success());
    assert!(String::from_utf8_lossy(&both.stderr).contains("cannot be used with"));

    let listed = stdout(&ferrid(&resources, &["client", "list", "--limit", "1"], None));
    assert_eq!(listed.lines().count(), 1);
    let first = listed.split_whitespace().next().unwrap();
    let rest = stdout(&ferrid(&resources, &["client", "list", "--after", first], None));
    assert!(!rest.contains(first));
}

async fn user_administration(backend: Backend) {
    let resources = TestResources::create(backend).await;
    let created = stdout(&ferrid(
        &resources,
        &["user", "create", "--email", "Ann.Lee@Example.com", "--name", "Ann Lee"],
        Some("correct horse battery staple\n"),
    ));
    assert!(uuid::Uuid::parse_str(field(&created, "user_id")).is_ok());

    let duplicate =
        ferrid(&resources, &["user", "create", "--email", "ann.lee@example.COM"], Some("another password\n"));
    assert!(!duplicate.status.success(), "emails are unique case-insensitively");
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("already exists"));

    let listed = stdout(&ferrid(&resources, &["user", "list"], None));
    assert!(listed.contains("Ann.Lee@Example.com") && listed.contains("active"));

    // `--admin`: the user gets the admin role (created on first use), so their tokens may carry
    // ferrid:admin.
    let admin = stdout(&ferrid(
        &resources,
        &["user", "create", "--email", "ops@example.com", "--admin"],
        Some("operations password\n"),
    ));
    assert_eq!(field(&admin, "role"), "admin");

    stdout(&ferrid(&resources, &["user", "disable", "--email", "ann.lee@example.com"], None));
    assert!(stdout(&ferrid(&resources, &["user", "list"], None)).contains("disabled"));
    stdout(&ferrid(&resources, &["user", "enable", "--email", "ann.lee@example.com"], None));

    stdout(&ferrid(
        &resources,
        &["user", "set-password", "--email", "ann.lee@example.com"],
        Some("a new long password\n"),
    ));
    let empty = ferrid(&resources, &["user", "set-password", "--email", "ann.lee@example.com"], Some("\n"));
    assert!(!empty.status.success());

    // The stored hash is argon2id and verifies the new password, not the old one.
    let config = ferrid::config::RawConfig::from_pairs(
        resources.env().iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(),
    )
    .validate()
    .unwrap();
    let state = ferrid::app::AppState::start(config).await.unwrap();
    let user = state.accounts.find_by_email(&Email::parse("ANN.LEE@example.com").unwrap()).await.unwrap();
    assert!(!user.disabled && user.has_password && user.email_verified);
    state.database.close().await;
}

/// The README's recipe for an admin API service client (client_credentials, `ferrid:admin`).
#[tokio::test]
async fn an_admin_service_client_is_created_from_the_cli() {
    let resources = TestResources::create(Backend::Embedded).await;
    let args =
        ["client", "create", "--name", "Ops console", "--grant-type", "client_credentials", "--scope", "ferrid:admin"];
    let created = stdout(&ferrid(&resources, &args, None));
    assert_eq!(field(&created, "grant_types"), "client_credentials");
    assert_eq!(field(&created, "scope"), "ferrid:admin");
    assert_eq!(field(&created, "client_type"), "confidential");
    assert!(field(&created, "client_secret").len() >= 43);
}

#[tokio::test]
async fn keys_list_rotate_and_revoke_from_the_cli() {
    let resources = TestResources::create(Backend::Embedded).await;
    let env = [("FERRID_KEY_ALGS", "RS256,ES256")];
    let run = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ferrid"));
        command.args(args).current_dir(&resources.data_dir);
        for (key, value) in resources.env().into_iter().chain(env.map(|(k, v)| (k, v.to_owned()))) {
            command.env(key, value);
        }
        stdout(&command.output().unwrap())
    };
    let active = |listing: &str, alg: &str| -> String {
        listing
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(alg) && l.split_whitespace().nth(3) == Some("active"))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("no active {alg} key in:\n{listing}"))
            .to_owned()
    };

    let listing = run(&["keys", "list"]);
    assert!(listing.starts_with("kid "), "{listing}");
    let first = active(&listing, "RS256");
    let es256 = active(&listing, "ES256");
    // DESIGN §7.3: the CLI never prints private key material.
    for private in ["\"d\"", "PRIVATE KEY", "\"p\""] {
        assert!(!listing.contains(private));
    }

    let listing = run(&["keys", "rotate", "--alg", "RS256"]);
    let second = active(&listing, "RS256");
    assert_ne!(second, first);
    assert_eq!(active(&listing, "ES256"), es256, "only the named algorithm rotates");
    assert!(listing.lines().any(|l| l.starts_with(&first) && l.contains(" retired ")), "{listing}");

    let listing = run(&["keys", "revoke", &first]);
    assert!(listing.lines().any(|l| l.starts_with(&first) && l.contains(" revoked ")), "{listing}");
    assert_eq!(active(&listing, "RS256"), second);
}

#[tokio::test]
async fn migrate_status_down_and_up_from_the_cli() {
    let resources = TestResources::create(Backend::Embedded).await;
    let pending = stdout(&ferrid(&resources, &["migrate", "status"], None));
    assert!(pending.lines().all(|l| l.starts_with("pending")), "{pending}");
    let up = stdout(&ferrid(&resources, &["migrate", "up"], None));
    assert!(up.lines().all(|l| l.starts_with("applied")), "{up}");
    let down = stdout(&ferrid(&resources, &["migrate", "down"], None));
    assert_eq!(down.lines().filter(|l| l.starts_with("pending")).count(), 1, "{down}");
    let up = stdout(&ferrid(&resources, &["migrate", "up"], None));
    assert!(up.lines().all(|l| l.starts_with("applied")), "{up}");
}

#[tokio::test]
async fn an_invalid_setting_stops_start_up_with_one_line_naming_it() {
    let resources = TestResources::create(Backend::Embedded).await;
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferrid"));
    let output = command
        .arg("serve")
        .env("FERRID_ISSUER", "http://auth.example.com")
        .env("FERRID_DATA_DIR", &resources.data_dir)
        .current_dir(&resources.data_dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("FERRID_ISSUER: must use https unless the host is loopback"), "{stderr}");
}

#[tokio::test]
async fn settings_come_from_a_config_file_and_a_dotenv_file_with_the_environment_winning() {
    let resources = TestResources::create(Backend::Embedded).await;
    let dir = &resources.data_dir;
    let run = |extra: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ferrid"));
        command.args(["migrate", "status"]).env_clear().current_dir(dir);
        for (key, value) in extra {
            command.env(key, value);
        }
        command.output().unwrap()
    };

    // A TOML file named by FERRID_CONFIG; numbers may be written as numbers.
    std::fs::write(dir.join("ferrid.toml"), "issuer = \"http://auth.example.com\"\nargon2_iterations = 3\n").unwrap();
    let output = run(&[("FERRID_CONFIG", "ferrid.toml")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("FERRID_ISSUER:"));
    // The environment overrides the file.
    let output = run(&[("FERRID_CONFIG", "ferrid.toml"), ("FERRID_ISSUER", "https://auth.example.com")]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    // A .env file in the working directory is read too.
    std::fs::write(dir.join(".env"), "FERRID_LOG_FORMAT=xml\n").unwrap();
    let output = run(&[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("FERRID_LOG_FORMAT:"));

    let output = run(&[("FERRID_CONFIG", "missing.toml")]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("FERRID_CONFIG: no such file"));
}

#[tokio::test]
async fn openapi_command_prints_the_committed_document() {
    let output = Command::new(env!("CARGO_BIN_EXE_ferrid")).arg("openapi").output().unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8(output.stdout).unwrap().trim_end(), ferrid::http::openapi_document().trim_end());
}

#[tokio::test]
async fn serve_stops_gracefully_on_sigterm() {
    let resources = TestResources::create(Backend::Embedded).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferrid"));
    for (key, value) in resources.env() {
        command.env(key, value);
    }
    let mut child = command
        .arg("serve")
        .env("FERRID_BIND", format!("127.0.0.1:{port}"))
        .current_dir(&resources.data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = http.get(format!("http://127.0.0.1:{port}/ready")).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "ferrid did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "ferrid ignored SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("ferrid stopped"), "{log}");
}

/// Changes made from the command line reach the audit log (issue 8 item 5), with ferrid itself
/// as the actor and `details.via = "cli"`.
async fn command_line_changes_are_audited(backend: Backend) {
    let resources = TestResources::create(backend).await;
    let created = ferrid(
        &resources,
        &["client", "create", "--name", "Billing", "--redirect-uri", "https://billing.example/cb"],
        None,
    );
    let client_id = field(&stdout(&created), "client_id").to_owned();
    stdout(&ferrid(&resources, &["client", "delete", &client_id], None));
    stdout(&ferrid(&resources, &["keys", "rotate", "--alg", "ES256"], None));
    let app = crate::helpers::start_app(resources, &[], std::sync::Arc::new(ferrid::clock::SystemClock)).await.unwrap();
    let token = crate::admin_sessions::service_token(&app).await;
    for (kind, client) in [
        (ferrid::audit::kinds::ADMIN_CLIENT_CREATE, Some(client_id.as_str())),
        (ferrid::audit::kinds::ADMIN_CLIENT_DELETE, Some(client_id.as_str())),
        (ferrid::audit::kinds::ADMIN_KEY_ROTATE, None),
    ] {
        let records = crate::admin_users::audited(&app, &token, kind, None).await;
        let record =
            records.iter().find(|r| r["details"]["via"] == "cli").unwrap_or_else(|| panic!("{kind}: {records:?}"));
        assert_eq!(record["client_id"].as_str(), client, "{record}");
        assert!(record["actor_user_id"].is_null() && record["actor_client_id"].is_null(), "{record}");
    }
}
